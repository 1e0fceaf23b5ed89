// agent-baseline: the built-in deny-by-default rules for agents (SECURITY.md §2-4).
//
// Each class is its own rule, so a refusal names what it caught:
//   baseline-parse          (handled before rules: unparseable text is refused)
//   baseline-ddl            CREATE / ALTER / DROP / TRUNCATE, SELECT ... INTO
//   baseline-dcl            GRANT / REVOKE
//   baseline-server-files   COPY to or from a file or a program
//   baseline-code           DO, CALL (CREATE FUNCTION/PROCEDURE is DDL)
//   baseline-functions      any function outside the allowlist of safe functions
//   baseline-settings       changes to settings outside an allowlist (pinned lexing
//                           settings, search_path, roles, RESET ALL, DISCARD ALL)
//   baseline-catalog        reads of pg_catalog and information_schema
//   baseline-explain-analyze
//   baseline-listen-notify
//   baseline-utility        VACUUM, ANALYZE, CHECKPOINT, LOAD and other utility statements
//   baseline-read-only      for read grants: writes in CTEs, row locks (FOR UPDATE, LOCK,
//                           advisory locks), sequence changes, READ WRITE transactions
// The FunctionCall protocol message is refused by the relay itself.
#pragma once

#include <string_view>
#include <vector>

#include "policy/rules.h"

namespace sluice::policy {

std::vector<Rule> agent_baseline(const BaselineOptions& options);

// The allowlists, exposed for tests and documentation.
bool is_safe_function(std::string_view qualified);  // "pg_catalog.lower"
bool is_agent_setting(std::string_view setting);    // may an agent SET it

}  // namespace sluice::policy
