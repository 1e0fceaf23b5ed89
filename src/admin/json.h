// JSON shapes shared by the admin API and the CLI's --json output, so that scripts see the
// same objects from both (DESIGN.md: lists print objects whose "id" the other commands take).
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "store/records.h"

namespace sluice::admin {

boost::json::array to_json(const std::vector<std::string>& v);
boost::json::object grant_to_json(const store::GrantRecord& g, store::TimeMs now);
boost::json::object session_to_json(const store::SessionRecord& s);
boost::json::object api_key_to_json(const store::ApiKeyRecord& k);

}  // namespace sluice::admin
