// A secret value from configuration (a password, a key). It cannot be streamed or formatted,
// so it does not end up in logs or error messages by accident; reveal() is the one way out,
// at the point of use.
#pragma once

#include <string>
#include <string_view>

namespace sluice::config {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  ~Secret();

  bool empty() const { return value_.empty(); }
  std::string_view reveal() const { return value_; }

 private:
  std::string value_;
};

}  // namespace sluice::config
