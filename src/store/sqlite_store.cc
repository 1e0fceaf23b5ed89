// SqliteStateStore: the embedded state store, a SQLite database in WAL mode under data_dir.
//
// One connection per process, serialised by a mutex: writes are rare (grants, session start
// and end) and short. Other processes (the CLI) write through their own connection; their
// commits are noticed through PRAGMA data_version. Schema versions are PRAGMA user_version;
// each migration runs in one transaction.
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "crypto/primitives.h"
#include "store/state_store.h"

namespace sluice::store {
namespace {

// Each entry moves the schema from version i to i+1. Never edit a shipped entry: add one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE grants(
  id              TEXT PRIMARY KEY,
  identity        TEXT NOT NULL,
  connection      TEXT NOT NULL,
  access          TEXT NOT NULL CHECK (access IN ('read', 'write')),
  tables          TEXT NOT NULL DEFAULT '',
  columns         TEXT NOT NULL DEFAULT '',
  role            TEXT NOT NULL DEFAULT '',
  reason          TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked')),
  requested_by    TEXT NOT NULL DEFAULT '',
  decided_by      TEXT NOT NULL DEFAULT '',
  decision_reason TEXT NOT NULL DEFAULT '',
  ttl_ms          INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  decided_at      INTEGER NOT NULL DEFAULT 0,
  starts_at       INTEGER NOT NULL DEFAULT 0,
  expires_at      INTEGER NOT NULL DEFAULT 0,
  revoked_at      INTEGER NOT NULL DEFAULT 0,
  revoked_by      TEXT NOT NULL DEFAULT '',
  max_sessions    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_by_identity ON grants(identity, status, expires_at);
CREATE TABLE tokens(
  id               TEXT PRIMARY KEY,
  grant_id         TEXT NOT NULL UNIQUE REFERENCES grants(id),
  lookup_hash      TEXT NOT NULL UNIQUE,
  scram_iterations INTEGER NOT NULL,
  scram_salt       BLOB NOT NULL,
  scram_stored_key BLOB NOT NULL,
  scram_server_key BLOB NOT NULL,
  created_at       INTEGER NOT NULL
);
CREATE TABLE sessions(
  id             TEXT PRIMARY KEY,
  node           TEXT NOT NULL,
  grant_id       TEXT NOT NULL,
  identity       TEXT NOT NULL,
  connection     TEXT NOT NULL,
  protocol       TEXT NOT NULL,
  client_address TEXT NOT NULL,
  application    TEXT NOT NULL,
  tls            INTEGER NOT NULL,
  started_at     INTEGER NOT NULL,
  ended_at       INTEGER NOT NULL DEFAULT 0,
  end_reason     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_by_grant ON sessions(grant_id, ended_at);
CREATE INDEX sessions_by_start ON sessions(started_at);
CREATE TABLE changes(
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  kind    TEXT NOT NULL,
  subject TEXT NOT NULL,
  at      INTEGER NOT NULL
);
)sql",
    // 2: API keys; the requester's groups and the token hand-out on grants.
    R"sql(
ALTER TABLE grants ADD COLUMN groups TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN token_issued_at INTEGER NOT NULL DEFAULT 0;
UPDATE grants SET token_issued_at = created_at WHERE id IN (SELECT grant_id FROM tokens);
CREATE INDEX grants_by_status ON grants(status, created_at);
CREATE TABLE api_keys(
  id          TEXT PRIMARY KEY,
  identity    TEXT NOT NULL,
  roles       TEXT NOT NULL,
  lookup_hash TEXT NOT NULL UNIQUE,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL DEFAULT 0,
  revoked_at  INTEGER NOT NULL DEFAULT 0,
  revoked_by  TEXT NOT NULL DEFAULT ''
);
)sql",
    R"sql(
CREATE TABLE session_objects(
  session_id TEXT NOT NULL,
  name       TEXT NOT NULL,
  PRIMARY KEY (session_id, name)
);
CREATE INDEX session_objects_by_name ON session_objects(name);
CREATE INDEX sessions_by_identity ON sessions(identity, started_at);
CREATE TABLE audit_heads(
  node    TEXT PRIMARY KEY,
  seq     INTEGER NOT NULL,
  hash    TEXT NOT NULL,
  segment INTEGER NOT NULL,
  at      INTEGER NOT NULL
);
)sql",
};

std::string join_list(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "\n") + x;
  return s;
}
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> v;
  while (!s.empty()) {
    auto nl = s.find('\n');
    v.emplace_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return v;
}

// A prepared statement with bind-by-position helpers; finalised on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& text(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& blob(int i, std::string_view v) {
    sqlite3_bind_blob(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& i64(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ = sqlite3_step(st_); }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }

  std::string col_text(int i) const {
    auto* p = sqlite3_column_text(st_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st_, i)))
             : std::string();
  }
  std::string col_blob(int i) const {
    auto* p = sqlite3_column_blob(st_, i);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st_, i)))
             : std::string();
  }
  std::int64_t col_i64(int i) const { return sqlite3_column_int64(st_, i); }

  Status error_status(std::string_view what) const {
    return error(Code::io_error, std::string(what) + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

constexpr const char* kGrantColumns =
    "id, identity, connection, access, tables, columns, role, reason, status, requested_by, "
    "decided_by, decision_reason, ttl_ms, created_at, decided_at, starts_at, expires_at, "
    "revoked_at, revoked_by, max_sessions, groups, token_issued_at";

GrantRecord read_grant(const Stmt& s, int base = 0) {
  GrantRecord g;
  g.id = s.col_text(base + 0);
  g.identity = s.col_text(base + 1);
  g.connection = s.col_text(base + 2);
  g.access = s.col_text(base + 3);
  g.tables = split_list(s.col_text(base + 4));
  g.columns = split_list(s.col_text(base + 5));
  g.role = s.col_text(base + 6);
  g.reason = s.col_text(base + 7);
  g.status = parse_grant_status(s.col_text(base + 8)).value_or(GrantStatus::denied);
  g.requested_by = s.col_text(base + 9);
  g.decided_by = s.col_text(base + 10);
  g.decision_reason = s.col_text(base + 11);
  g.ttl_ms = s.col_i64(base + 12);
  g.created_at = s.col_i64(base + 13);
  g.decided_at = s.col_i64(base + 14);
  g.starts_at = s.col_i64(base + 15);
  g.expires_at = s.col_i64(base + 16);
  g.revoked_at = s.col_i64(base + 17);
  g.revoked_by = s.col_text(base + 18);
  g.max_sessions = static_cast<int>(s.col_i64(base + 19));
  g.groups = split_list(s.col_text(base + 20));
  g.token_issued_at = s.col_i64(base + 21);
  return g;
}

constexpr const char* kTokenColumns =
    "t.id, t.grant_id, t.lookup_hash, t.scram_iterations, t.scram_salt, t.scram_stored_key, "
    "t.scram_server_key, t.created_at";

TokenRecord read_token(const Stmt& s) {
  TokenRecord t;
  t.id = s.col_text(0);
  t.grant_id = s.col_text(1);
  t.lookup_hash = s.col_text(2);
  t.scram_iterations = static_cast<int>(s.col_i64(3));
  t.scram_salt = s.col_blob(4);
  t.scram_stored_key = s.col_blob(5);
  t.scram_server_key = s.col_blob(6);
  t.created_at = s.col_i64(7);
  return t;
}

constexpr const char* kApiKeyColumns =
    "id, identity, roles, lookup_hash, created_by, created_at, expires_at, revoked_at, revoked_by";

ApiKeyRecord read_api_key(const Stmt& s) {
  ApiKeyRecord k;
  k.id = s.col_text(0);
  k.identity = s.col_text(1);
  k.roles = split_list(s.col_text(2));
  k.lookup_hash = s.col_text(3);
  k.created_by = s.col_text(4);
  k.created_at = s.col_i64(5);
  k.expires_at = s.col_i64(6);
  k.revoked_at = s.col_i64(7);
  k.revoked_by = s.col_text(8);
  return k;
}

Status bind_api_key_and_step(Stmt& s, const ApiKeyRecord& k, std::string_view what) {
  s.text(1, k.id).text(2, k.identity).text(3, join_list(k.roles)).text(4, k.lookup_hash);
  s.text(5, k.created_by).i64(6, k.created_at).i64(7, k.expires_at).i64(8, k.revoked_at);
  s.text(9, k.revoked_by);
  if (s.step() != SQLITE_DONE) return s.error_status(what);
  return Status::ok();
}

Status bind_grant_and_step(Stmt& s, const GrantRecord& g, std::string_view what) {
  s.text(1, g.id).text(2, g.identity).text(3, g.connection).text(4, g.access);
  s.text(5, join_list(g.tables)).text(6, join_list(g.columns)).text(7, g.role).text(8, g.reason);
  s.text(9, to_string(g.status)).text(10, g.requested_by).text(11, g.decided_by);
  s.text(12, g.decision_reason).i64(13, g.ttl_ms).i64(14, g.created_at).i64(15, g.decided_at);
  s.i64(16, g.starts_at).i64(17, g.expires_at).i64(18, g.revoked_at).text(19, g.revoked_by);
  s.i64(20, g.max_sessions).text(21, join_list(g.groups)).i64(22, g.token_issued_at);
  if (s.step() != SQLITE_DONE) return s.error_status(what);
  return Status::ok();
}

TimeMs system_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class SqliteStateStore;

class SqliteTx final : public StateTx {
 public:
  SqliteTx(sqlite3* db, SqliteStateStore& store) : db_(db), store_(store) {}
  Status insert_grant(const GrantRecord& g) override;
  Status update_grant(const GrantRecord& g) override;
  Result<std::optional<GrantRecord>> get_grant(std::string_view id) override;
  Status insert_token(const TokenRecord& t) override;
  Status insert_api_key(const ApiKeyRecord& k) override;
  Status update_api_key(const ApiKeyRecord& k) override;
  Result<std::optional<ApiKeyRecord>> get_api_key(std::string_view id) override;
  Status append_change(std::string_view kind, std::string_view subject) override;
  bool wrote_change = false;

 private:
  sqlite3* db_;
  SqliteStateStore& store_;
};

class SqliteStateStore final : public StateStore {
 public:
  explicit SqliteStateStore(sqlite3* db) : db_(db) {}
  ~SqliteStateStore() override { sqlite3_close_v2(db_); }

  Status init() {
    std::lock_guard lock(mu_);
    sqlite3_busy_timeout(db_, 10'000);
    SLUICE_TRY(exec("PRAGMA journal_mode=WAL"));
    // FULL: a grant, a revocation or a session record survives power loss once committed.
    SLUICE_TRY(exec("PRAGMA synchronous=FULL"));
    SLUICE_TRY(exec("PRAGMA foreign_keys=ON"));
    return migrate();
  }

  TimeMs now() override { return system_now(); }

  Status transact(const std::function<Status(StateTx&)>& fn) override {
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      SLUICE_TRY(exec("BEGIN IMMEDIATE"));
      SqliteTx tx(db_, *this);
      Status st = fn(tx);
      if (!st.is_ok()) {
        (void)exec("ROLLBACK");
        return st;
      }
      Status c = exec("COMMIT");
      if (!c.is_ok()) {
        (void)exec("ROLLBACK");
        return c;
      }
      changed = tx.wrote_change;
    }
    if (changed) {
      std::lock_guard lock(wait_mu_);
      ++local_changes_;
      wait_cv_.notify_all();
    }
    return Status::ok();
  }

  Result<std::string> install_secret() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT value FROM meta WHERE key = 'install_secret'");
    if (!s.ok() || s.step() != SQLITE_ROW) return s.error_status("reading the install secret");
    return s.col_blob(0);
  }

  Result<std::optional<GrantRecord>> get_grant(std::string_view id) override {
    std::lock_guard lock(mu_);
    return get_grant_locked(id);
  }

  Result<std::optional<GrantRecord>> get_grant_locked(std::string_view id) {
    Stmt s(db_, std::string("SELECT ") + kGrantColumns + " FROM grants WHERE id = ?1");
    s.text(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<GrantRecord>();
    if (rc != SQLITE_ROW) return s.error_status("reading a grant");
    return std::optional<GrantRecord>(read_grant(s));
  }

  Result<std::vector<GrantRecord>> list_grants(const GrantFilter& f) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kGrantColumns + " FROM grants WHERE 1=1";
    if (f.identity) sql += " AND identity = ?1";
    if (f.status) sql += " AND status = ?2";
    if (f.live_only) sql += " AND status = 'approved' AND expires_at > ?3";
    sql += " ORDER BY created_at DESC LIMIT ?4";
    Stmt s(db_, sql);
    if (f.identity) s.text(1, *f.identity);
    if (f.status) s.text(2, to_string(*f.status));
    s.i64(3, system_now()).i64(4, f.limit);
    std::vector<GrantRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_grant(s));
    if (rc != SQLITE_DONE) return s.error_status("listing grants");
    return out;
  }

  Result<std::vector<LiveToken>> tokens_for_identity(std::string_view identity,
                                                     TimeMs ended_after) override {
    std::lock_guard lock(mu_);
    // Qualify the grant columns.
    std::string cols;
    for (std::string_view rest = kGrantColumns; !rest.empty();) {
      auto comma = rest.find(", ");
      cols += (cols.empty() ? "g." : ", g.") + std::string(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 2);
    }
    std::string sql =
        std::string("SELECT ") + kTokenColumns + ", " + cols +
        " FROM tokens t JOIN grants g ON g.id = t.grant_id"
        " WHERE g.identity = ?1 AND g.status IN ('approved', 'revoked') AND g.expires_at > ?2"
        " ORDER BY t.created_at DESC LIMIT 64";
    Stmt s(db_, sql);
    s.text(1, identity).i64(2, ended_after);
    std::vector<LiveToken> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back({read_token(s), read_grant(s, 8)});
    if (rc != SQLITE_DONE) return s.error_status("reading live tokens");
    return out;
  }

  Result<std::optional<LiveToken>> token_by_lookup_hash(std::string_view hash) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, std::string("SELECT ") + kTokenColumns + " FROM tokens t WHERE t.lookup_hash = ?1");
    s.text(1, hash);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<LiveToken>();
    if (rc != SQLITE_ROW) return s.error_status("reading a token");
    LiveToken lt;
    lt.token = read_token(s);
    auto g = get_grant_locked(lt.token.grant_id);
    if (!g) return std::move(g).take_status();
    if (!g->has_value()) return std::optional<LiveToken>();
    lt.grant = std::move(**g);
    return std::optional<LiveToken>(std::move(lt));
  }

  Result<std::optional<ApiKeyRecord>> api_key_where(std::string_view column, std::string_view v) {
    Stmt s(db_, std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE " +
                    std::string(column) + " = ?1");
    s.text(1, v);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<ApiKeyRecord>();
    if (rc != SQLITE_ROW) return s.error_status("reading an API key");
    return std::optional<ApiKeyRecord>(read_api_key(s));
  }

  Result<std::optional<ApiKeyRecord>> api_key_by_lookup_hash(std::string_view hash) override {
    std::lock_guard lock(mu_);
    return api_key_where("lookup_hash", hash);
  }

  Result<std::vector<ApiKeyRecord>> list_api_keys(int limit) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, std::string("SELECT ") + kApiKeyColumns +
                    " FROM api_keys ORDER BY created_at DESC LIMIT ?1");
    s.i64(1, limit);
    std::vector<ApiKeyRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_api_key(s));
    if (rc != SQLITE_DONE) return s.error_status("listing API keys");
    return out;
  }

  Status insert_session(const SessionRecord& r, int max_live) override {
    std::lock_guard lock(mu_);
    // One statement, so the count and the insert cannot interleave with another gateway's.
    Stmt s(db_,
           "INSERT INTO sessions(id, node, grant_id, identity, connection, protocol, "
           "client_address, application, tls, started_at) "
           "SELECT ?1,?2,?3,?4,?5,?6,?7,?8,?9,?10 WHERE ?11 <= 0 OR "
           "(SELECT count(*) FROM sessions WHERE grant_id = ?3 AND ended_at = 0) < ?11");
    s.text(1, r.id).text(2, r.node).text(3, r.grant_id).text(4, r.identity).text(5, r.connection);
    s.text(6, r.protocol).text(7, r.client_address).text(8, r.application);
    s.i64(9, r.tls ? 1 : 0).i64(10, r.started_at).i64(11, max_live);
    if (s.step() != SQLITE_DONE) return s.error_status("recording a session");
    if (sqlite3_changes(db_) == 0)
      return error(Code::resource_exhausted, "grant " + r.grant_id + " allows at most " +
                                                 std::to_string(max_live) +
                                                 " concurrent session(s)");
    return Status::ok();
  }

  Result<int> end_node_sessions(std::string_view node, TimeMs at,
                                std::string_view reason) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE sessions SET ended_at = ?2, end_reason = ?3 WHERE node = ?1 AND ended_at = 0");
    s.text(1, node).i64(2, at).text(3, reason);
    if (s.step() != SQLITE_DONE) return s.error_status("ending a node's sessions");
    return sqlite3_changes(db_);
  }

  Status end_session(std::string_view id, TimeMs at, std::string_view reason) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE sessions SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at = 0");
    s.text(1, id).i64(2, at).text(3, reason);
    if (s.step() != SQLITE_DONE) return s.error_status("recording a session's end");
    return Status::ok();
  }

  Result<std::vector<SessionRecord>> list_sessions(const SessionFilter& f) override {
    std::lock_guard lock(mu_);
    std::string sql =
        "SELECT id, node, grant_id, identity, connection, protocol, client_address, application, "
        "tls, started_at, ended_at, end_reason FROM sessions WHERE 1=1";
    if (f.live_only) sql += " AND ended_at = 0";
    if (f.id) sql += " AND id = ?7";
    if (f.identity) sql += " AND identity = ?2";
    if (f.connection) sql += " AND connection = ?3";
    if (f.since) sql += " AND (ended_at = 0 OR ended_at >= ?4)";
    if (f.until) sql += " AND started_at <= ?5";
    // Tables match schema.table or the bare name; columns match schema.table.column or
    // table.column suffixes.
    if (f.object)
      sql +=
          " AND id IN (SELECT session_id FROM session_objects WHERE name = ?6 OR name LIKE "
          "'%.' || ?6)";
    sql += " ORDER BY started_at DESC LIMIT ?1";
    Stmt s(db_, sql);
    s.i64(1, f.limit);
    if (f.identity) s.text(2, *f.identity);
    if (f.connection) s.text(3, *f.connection);
    if (f.since) s.i64(4, *f.since);
    if (f.until) s.i64(5, *f.until);
    if (f.object) s.text(6, *f.object);
    if (f.id) s.text(7, *f.id);
    std::vector<SessionRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      SessionRecord r;
      r.id = s.col_text(0);
      r.node = s.col_text(1);
      r.grant_id = s.col_text(2);
      r.identity = s.col_text(3);
      r.connection = s.col_text(4);
      r.protocol = s.col_text(5);
      r.client_address = s.col_text(6);
      r.application = s.col_text(7);
      r.tls = s.col_i64(8) != 0;
      r.started_at = s.col_i64(9);
      r.ended_at = s.col_i64(10);
      r.end_reason = s.col_text(11);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return s.error_status("listing sessions");
    return out;
  }

  Status add_session_objects(std::string_view session_id,
                             const std::vector<std::string>& names) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT OR IGNORE INTO session_objects(session_id, name) VALUES(?1, ?2)");
    for (const auto& n : names) {
      s.reset();
      s.text(1, session_id).text(2, n);
      if (s.step() != SQLITE_DONE) return s.error_status("indexing a session");
    }
    return Status::ok();
  }

  Status set_audit_head(const AuditHead& h) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT INTO audit_heads(node, seq, hash, segment, at) VALUES(?1,?2,?3,?4,?5) "
           "ON CONFLICT(node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
           "segment = excluded.segment, at = excluded.at");
    s.text(1, h.node).i64(2, static_cast<std::int64_t>(h.seq)).text(3, h.hash);
    s.i64(4, static_cast<std::int64_t>(h.segment)).i64(5, h.at);
    if (s.step() != SQLITE_DONE) return s.error_status("recording the audit head");
    return Status::ok();
  }

  Result<std::optional<AuditHead>> get_audit_head(std::string_view node) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT node, seq, hash, segment, at FROM audit_heads WHERE node = ?1");
    s.text(1, node);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<AuditHead>();
    if (rc != SQLITE_ROW) return s.error_status("reading the audit head");
    AuditHead h;
    h.node = s.col_text(0);
    h.seq = static_cast<std::uint64_t>(s.col_i64(1));
    h.hash = s.col_text(2);
    h.segment = static_cast<std::uint64_t>(s.col_i64(3));
    h.at = s.col_i64(4);
    return std::optional<AuditHead>(std::move(h));
  }

  Result<int> count_live_sessions(std::string_view grant_id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT count(*) FROM sessions WHERE grant_id = ?1 AND ended_at = 0");
    s.text(1, grant_id);
    if (s.step() != SQLITE_ROW) return s.error_status("counting sessions");
    return static_cast<int>(s.col_i64(0));
  }

  Result<std::vector<Change>> changes_since(std::int64_t seq, int limit) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT seq, kind, subject, at FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    s.i64(1, seq).i64(2, limit);
    std::vector<Change> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      out.push_back({s.col_i64(0), s.col_text(1), s.col_text(2), s.col_i64(3)});
    if (rc != SQLITE_DONE) return s.error_status("reading the change feed");
    return out;
  }

  Result<std::int64_t> last_change_seq() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT coalesce(max(seq), 0) FROM changes");
    if (s.step() != SQLITE_ROW) return s.error_status("reading the change feed");
    return s.col_i64(0);
  }

  void wait_for_change(std::chrono::milliseconds max_wait) override {
    // Other processes' commits show up in data_version; this process's own in local_changes_.
    auto deadline = std::chrono::steady_clock::now() + max_wait;
    std::int64_t start_version = data_version();
    std::unique_lock lock(wait_mu_);
    std::uint64_t start_local = local_changes_;
    while (std::chrono::steady_clock::now() < deadline) {
      auto slice = std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), deadline - std::chrono::steady_clock::now());
      if (wait_cv_.wait_for(lock, slice, [&] { return local_changes_ != start_local; })) return;
      lock.unlock();
      bool other = data_version() != start_version;
      lock.lock();
      if (other) return;
    }
  }

  Status exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return error(Code::io_error, std::string("state store: ") + msg);
    }
    return Status::ok();
  }

 private:
  std::int64_t data_version() {
    std::lock_guard lock(mu_);
    Stmt s(db_, "PRAGMA data_version");
    if (s.step() != SQLITE_ROW) return -1;
    return s.col_i64(0);
  }

  Status migrate() {
    Stmt v(db_, "PRAGMA user_version");
    if (v.step() != SQLITE_ROW) return v.error_status("reading the schema version");
    auto version = static_cast<std::size_t>(v.col_i64(0));
    constexpr std::size_t latest = std::size(kMigrations);
    if (version > latest)
      return error(Code::failed_precondition, "the state store has schema version " +
                                                  std::to_string(version) +
                                                  ", newer than this Sluice understands (" +
                                                  std::to_string(latest) + "); run a newer Sluice");
    for (; version < latest; ++version) {
      SLUICE_TRY(exec("BEGIN IMMEDIATE"));
      Status st = exec(kMigrations[version]);
      if (st.is_ok() && version == 0) {
        Stmt s(db_, "INSERT INTO meta(key, value) VALUES('install_secret', ?1)");
        s.blob(1, crypto::random_string(32));
        if (s.step() != SQLITE_DONE) st = s.error_status("creating the install secret");
      }
      if (st.is_ok()) st = exec(("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
      if (st.is_ok()) st = exec("COMMIT");
      if (!st.is_ok()) {
        (void)exec("ROLLBACK");
        return error(Code::io_error, "migrating the state store to version " +
                                         std::to_string(version + 1) + ": " + st.message());
      }
    }
    return Status::ok();
  }

  friend class SqliteTx;
  sqlite3* db_;
  std::mutex mu_;
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::uint64_t local_changes_ = 0;
};

Status SqliteTx::insert_grant(const GrantRecord& g) {
  Stmt s(
      db_,
      std::string("INSERT INTO grants(") + kGrantColumns +
          ") "
          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)");
  return bind_grant_and_step(s, g, "creating a grant");
}

Status SqliteTx::update_grant(const GrantRecord& g) {
  Stmt s(db_,
         "UPDATE grants SET identity=?2, connection=?3, access=?4, tables=?5, columns=?6, role=?7, "
         "reason=?8, status=?9, requested_by=?10, decided_by=?11, decision_reason=?12, ttl_ms=?13, "
         "created_at=?14, decided_at=?15, starts_at=?16, expires_at=?17, revoked_at=?18, "
         "revoked_by=?19, max_sessions=?20, groups=?21, token_issued_at=?22 WHERE id=?1");
  return bind_grant_and_step(s, g, "updating a grant");
}

Result<std::optional<GrantRecord>> SqliteTx::get_grant(std::string_view id) {
  return store_.get_grant_locked(id);
}

Status SqliteTx::insert_token(const TokenRecord& t) {
  Stmt s(db_,
         "INSERT INTO tokens(id, grant_id, lookup_hash, scram_iterations, scram_salt, "
         "scram_stored_key, scram_server_key, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
  s.text(1, t.id).text(2, t.grant_id).text(3, t.lookup_hash).i64(4, t.scram_iterations);
  s.blob(5, t.scram_salt).blob(6, t.scram_stored_key).blob(7, t.scram_server_key);
  s.i64(8, t.created_at);
  if (s.step() != SQLITE_DONE) return s.error_status("storing a token");
  return Status::ok();
}

Status SqliteTx::insert_api_key(const ApiKeyRecord& k) {
  Stmt s(db_, std::string("INSERT INTO api_keys(") + kApiKeyColumns +
                  ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  return bind_api_key_and_step(s, k, "creating an API key");
}

Status SqliteTx::update_api_key(const ApiKeyRecord& k) {
  Stmt s(db_,
         "UPDATE api_keys SET identity=?2, roles=?3, lookup_hash=?4, created_by=?5, "
         "created_at=?6, expires_at=?7, revoked_at=?8, revoked_by=?9 WHERE id=?1");
  return bind_api_key_and_step(s, k, "updating an API key");
}

Result<std::optional<ApiKeyRecord>> SqliteTx::get_api_key(std::string_view id) {
  return store_.api_key_where("id", id);
}

Status SqliteTx::append_change(std::string_view kind, std::string_view subject) {
  Stmt s(db_, "INSERT INTO changes(kind, subject, at) VALUES(?1, ?2, ?3)");
  s.text(1, kind).text(2, subject).i64(3, system_now());
  if (s.step() != SQLITE_DONE) return s.error_status("appending to the change feed");
  wrote_change = true;
  return Status::ok();
}

}  // namespace

std::string_view to_string(GrantStatus s) {
  switch (s) {
    case GrantStatus::pending:
      return "pending";
    case GrantStatus::approved:
      return "approved";
    case GrantStatus::denied:
      return "denied";
    case GrantStatus::revoked:
      return "revoked";
  }
  return "?";
}

std::optional<GrantStatus> parse_grant_status(std::string_view s) {
  if (s == "pending") return GrantStatus::pending;
  if (s == "approved") return GrantStatus::approved;
  if (s == "denied") return GrantStatus::denied;
  if (s == "revoked") return GrantStatus::revoked;
  return std::nullopt;
}

std::string new_id(std::string_view prefix) {
  return std::string(prefix) + crypto::hex_encode(crypto::random_string(8));
}

Result<std::unique_ptr<StateStore>> open_sqlite_store(const std::string& path) {
  // Owner-only: the store holds token verifiers and the install secret (SECURITY.md §7).
  mode_t old = umask(077);
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  umask(old);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return error(Code::io_error, "cannot open the state store " + path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStateStore>(db);
  Status st = store->init();
  if (!st.is_ok()) return error(st.code(), "state store " + path + ": " + st.message());
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace sluice::store
