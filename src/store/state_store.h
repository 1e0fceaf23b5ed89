// StateStore: the shared state of one or many gateways — grants, tokens, sessions — with
// transactions, a clock and a change feed.
//
// Callers see only this interface; SqliteStateStore (the embedded default, one host) and a
// PostgreSQL store (several gateways, later) implement it. Methods block on I/O, so the data
// path calls them from a blocking thread pool, never from a session's thread. All methods are
// thread-safe.
//
// Change feed: every write that live sessions must act on (a revocation, an approval) appends
// a Change in the same transaction. Readers poll changes_since() after wait_for_change()
// returns, so a change written by the CLI or another node reaches every gateway within about
// a second (DESIGN.md, "The state store").
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/records.h"

namespace sluice::store {

// Operations available inside one transaction.
class StateTx {
 public:
  virtual ~StateTx() = default;
  virtual Status insert_grant(const GrantRecord& g) = 0;
  virtual Status update_grant(const GrantRecord& g) = 0;
  virtual Result<std::optional<GrantRecord>> get_grant(std::string_view id) = 0;
  virtual Status insert_token(const TokenRecord& t) = 0;
  virtual Status insert_api_key(const ApiKeyRecord& k) = 0;
  virtual Status update_api_key(const ApiKeyRecord& k) = 0;
  virtual Result<std::optional<ApiKeyRecord>> get_api_key(std::string_view id) = 0;
  virtual Status append_change(std::string_view kind, std::string_view subject) = 0;
};

struct GrantFilter {
  std::optional<std::string> identity;
  std::optional<GrantStatus> status;
  bool live_only = false;
  int limit = 1000;
};

struct SessionFilter {
  std::optional<std::string> id;
  bool live_only = false;
  std::optional<std::string> identity;
  std::optional<std::string> connection;
  std::optional<std::string> object;  // a table or column it touched
  std::optional<TimeMs> since;        // still open at or after
  std::optional<TimeMs> until;        // started at or before
  int limit = 1000;
};

struct AuditHead {
  std::string node;
  std::uint64_t seq = 0;
  std::string hash;  // hex
  std::uint64_t segment = 0;
  TimeMs at = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The store's clock: one time source for every gateway sharing the store.
  virtual TimeMs now() = 0;

  // Runs `fn` in one serializable transaction; commits when it returns ok, else rolls back.
  virtual Status transact(const std::function<Status(StateTx&)>& fn) = 0;

  // A random secret created with the store, shared by all gateways using it (derives SCRAM
  // salts, so every node answers an identity's login the same way).
  virtual Result<std::string> install_secret() = 0;

  virtual Result<std::optional<GrantRecord>> get_grant(std::string_view id) = 0;
  virtual Result<std::vector<GrantRecord>> list_grants(const GrantFilter& filter) = 0;

  // Tokens of this identity's approved or revoked grants that ended after `ended_after`
  // (live ones included), any connection: login checks the proof against all of them so it
  // can tell a holder of an expired or revoked token why it no longer works.
  virtual Result<std::vector<LiveToken>> tokens_for_identity(std::string_view identity,
                                                             TimeMs ended_after) = 0;
  virtual Result<std::optional<LiveToken>> token_by_lookup_hash(std::string_view hash) = 0;

  virtual Result<std::optional<ApiKeyRecord>> api_key_by_lookup_hash(std::string_view hash) = 0;
  virtual Result<std::vector<ApiKeyRecord>> list_api_keys(int limit) = 0;

  // Records a new live session. With `max_live` > 0 the insert is refused (resource_exhausted)
  // when the grant already has that many live sessions, atomically across gateways.
  virtual Status insert_session(const SessionRecord& s, int max_live) = 0;
  // Ends every session recorded live by `node` (a gateway restarting after a crash: its
  // sessions died with it).
  virtual Result<int> end_node_sessions(std::string_view node, TimeMs at,
                                        std::string_view reason) = 0;
  virtual Status end_session(std::string_view id, TimeMs at, std::string_view reason) = 0;
  virtual Result<std::vector<SessionRecord>> list_sessions(const SessionFilter& filter) = 0;
  // The tables and columns a session touched (the session index for `sessions list`).
  virtual Status add_session_objects(std::string_view session_id,
                                     const std::vector<std::string>& names) = 0;
  // The last audit checkpoint each node recorded: a witness, outside the log, against
  // records removed from its end.
  virtual Status set_audit_head(const AuditHead& head) = 0;
  virtual Result<std::optional<AuditHead>> get_audit_head(std::string_view node) = 0;
  virtual Result<int> count_live_sessions(std::string_view grant_id) = 0;

  virtual Result<std::vector<Change>> changes_since(std::int64_t seq, int limit) = 0;
  virtual Result<std::int64_t> last_change_seq() = 0;
  // Returns when a change may have been written, or after `max_wait`.
  virtual void wait_for_change(std::chrono::milliseconds max_wait) = 0;
};

// Opens (creating and migrating if needed) the SQLite store at `path`.
Result<std::unique_ptr<StateStore>> open_sqlite_store(const std::string& path);

// A random identifier with a readable prefix, e.g. "g_3f9a0c1e5b7d2468".
std::string new_id(std::string_view prefix);

}  // namespace sluice::store
