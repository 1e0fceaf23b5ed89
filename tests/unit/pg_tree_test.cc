// PgNode reads PostgreSQL's raw parse tree through a table generated from the server's
// headers. These tests hold it to libpg_query's own JSON output of the same tree, node by
// node and field by field, over every statement of the test corpora and a list that reaches
// the node types the corpora do not: any field the view reads differently (a wrong offset, a
// missed field, an enum misnamed, a list misread) fails here.
#include "sql/pg_tree.h"

#include <gtest/gtest.h>
#include <pg_query.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sql/pg_analyzer.h"
#include "sql/pg_node_types.h"

namespace sluice::sql {
namespace {

using simdjson::dom::element;

bool is_wrapped(element e, std::string_view& type, element& body) {
  if (!e.is_object()) return false;
  auto obj = e.get_object().value_unsafe();
  if (obj.size() != 1) return false;
  auto kv = *obj.begin();
  std::string_view k = kv.key;
  if (k.empty() || !std::isupper(static_cast<unsigned char>(k[0]))) return false;
  type = k;
  body = kv.value;
  return true;
}

// Compares one JSON value with the view's reading of the same place in the tree.
void compare(element j, PgNode p, const std::string& path, std::vector<std::string>& diffs) {
  if (diffs.size() > 20) return;
  auto fail = [&](const std::string& what) { diffs.push_back(path + ": " + what); };
  std::string_view type;
  element body;
  if (is_wrapped(j, type, body)) {
    if (p.type() != type)
      return fail("node " + std::string(type) + " read as '" + std::string(p.type()) + "'");
    compare(body, p.body(), path + "." + std::string(type), diffs);
    return;
  }
  switch (j.type()) {
    case simdjson::dom::element_type::OBJECT: {
      if (!p.is_object() || !p.type().empty()) return fail("object read as something else");
      std::vector<std::string> keys;
      simdjson::dom::object obj = j.get_object().value_unsafe();  // not a temporary's member
      for (auto kv : obj) {
        std::string key(kv.key);
        keys.push_back(key);
        PgNode v = p[FieldKey::runtime(key)];
        if (!v.ok()) {
          // libpg_query writes a Boolean node's value even when false (`STRICT` is
          // {"boolval": true}, `CALLED ON NULL INPUT` {"boolval": false}); the view reads a
          // false field as absent, which reads as false.
          bool false_value = kv.value.is_bool() && !kv.value.get_bool().value_unsafe();
          if (!false_value) fail("field " + key + " absent");
          continue;
        }
        compare(kv.value, v, path + "." + key, diffs);
      }
      p.declared_fields([&](std::string_view name) {
        PgNode v = p[FieldKey::runtime(name)];
        if (!v.ok() || std::find(keys.begin(), keys.end(), name) != keys.end()) return;
        // libpg_query's JSON writes an Integer node's value only when it is positive (`-5`
        // and the -1 of an unsized array bound come out as {}); the view reads the value.
        if (name == "ival" && (path.ends_with(".Integer") || path.ends_with("A_Const.ival")) &&
            v.integer() < 0)
          return;
        fail("field " + std::string(name) + " present, absent from the JSON");
      });
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array arr = j.get_array().value_unsafe();
      if (!p.is_array()) return fail("array read as something else");
      if (arr.size() != p.size())
        return fail("array of " + std::to_string(arr.size()) + " read as " +
                    std::to_string(p.size()));
      std::size_t i = 0;
      for (element x : arr) {
        compare(x, p.at(i), path + "[" + std::to_string(i) + "]", diffs);
        ++i;
      }
      return;
    }
    case simdjson::dom::element_type::STRING:
      if (p.str() != j.get_string().value_unsafe())
        fail("string '" + std::string(j.get_string().value_unsafe()) + "' read as '" +
             std::string(p.str()) + "'");
      return;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      if (p.integer() != j.get_int64().value_unsafe())
        fail("integer " + std::to_string(j.get_int64().value_unsafe()) + " read as " +
             std::to_string(p.integer()));
      return;
    case simdjson::dom::element_type::BOOL:
      if (p.boolean() != j.get_bool().value_unsafe()) fail("boolean read differently");
      return;
    default:
      fail("unexpected JSON value");
  }
}

// The differences between the view and the JSON for one text; empty when they agree.
std::vector<std::string> differences(const std::string& sql) {
  std::vector<std::string> diffs;
  PgQueryParseResult json = pg_query_parse(sql.c_str());
  sl_parse raw = sl_parse_begin(sql.c_str());
  if (json.error) {
    if (!raw.error) diffs.push_back("libpg_query's JSON parse failed, the raw parse did not");
  } else {
    simdjson::dom::parser parser;
    element root;
    if (parser.parse(json.parse_tree, std::strlen(json.parse_tree)).get(root)) {
      diffs.push_back("JSON unreadable");
    } else {
      PgNode::unknown_node_seen() = false;
      element stmts;
      if (root["stmts"].get(stmts)) {
        if (PgNode::root(raw.tree)["stmts"].size() != 0) diffs.push_back("stmts differ");
      } else {
        compare(stmts, PgNode::root(raw.tree)["stmts"], "stmts", diffs);
      }
      if (PgNode::unknown_node_seen()) diffs.push_back("an unknown node was seen");
    }
  }
  sl_parse_end(&raw);
  pg_query_free_parse_result(json);
  return diffs;
}

std::vector<std::string> corpus_statements() {
  std::vector<std::string> out;
  YAML::Node corpus = YAML::LoadFile(SLUICE_SOURCE_DIR "/tests/corpus/postgres.yaml");
  for (const auto& entry : corpus) out.push_back(entry["sql"].as<std::string>());
  std::ifstream setup(SLUICE_SOURCE_DIR "/tests/corpus/setup.sql");
  std::stringstream ss;
  ss << setup.rdbuf();
  out.push_back(ss.str());
  return out;
}

// Node types and field kinds the corpus does not reach.
const char* const kMoreStatements[] = {
    "select 1, 1.5, 'x', true, false, null, b'101', x'ff', -2147483649, 0, -5",
    "select a from t order by -1",
    "select a[1:2], (r).f, row(1, 2), array[1, 2], array(select 1) from t",
    "select coalesce(a, b), greatest(a, b), least(a, b), nullif(a, b) from t",
    "select a is null, a is not null, a is true, a is unknown, a is distinct from b from t",
    "select case when a then 1 else 2 end, case a when 1 then 'x' end from t",
    "select current_date, current_user, localtimestamp(3), session_user from t",
    "select xmlelement(name x, xmlattributes(a as b), 'c'), xmlforest(a, b) from t",
    "select a collate \"C\", a::int, cast(a as text), a at time zone 'utc' from t",
    "select count(*) filter (where a > 1) over w from t window w as (partition by b order by c "
    "rows between 1 preceding and current row)",
    "select * from t tablesample system (10) repeatable (1)",
    "select * from generate_series(1, 3) with ordinality as g(x, n), lateral (select x) s",
    "select * from rows from (generate_series(1, 2), unnest(array[1])) as r",
    "select * from xmltable('/r' passing '<r/>' columns a int path 'a')",
    "select a from t group by grouping sets ((a), cube(b, c), rollup(d), ())",
    "select distinct on (a) a from t order by a using <, b desc nulls last",
    "select a from t for update of t skip locked",
    "select a from t for share nowait",
    "with recursive r(n) as (select 1 union all select n + 1 from r) search depth first by n "
    "set s cycle n set c using p select * from r",
    "with m as materialized (select 1) select * from m",
    "values (1, 'a'), (2, default)",
    "insert into t (a) values (1) on conflict (a) where a > 0 do update set b = excluded.b "
    "where t.c = 1 returning *",
    "insert into t overriding system value select * from u",
    "insert into t default values",
    "update t set (a, b) = (select 1, 2), c = default where current of cur",
    "delete from t using u where t.a = u.a returning t.*",
    "merge into t using s on t.a = s.a when matched and s.b > 0 then update set b = s.b "
    "when matched then delete when not matched then insert (a, b) values (s.a, s.b)",
    "create table p (a int primary key, b text not null default 'x' check (b <> ''), "
    "c int references q (a) on delete cascade, unique (b) deferrable) partition by range (a)",
    "create table p1 partition of p for values from (1) to (10)",
    "create table h1 partition of h for values with (modulus 4, remainder 1)",
    "create foreign table f (a int) server s options (table_name 't')",
    "create temp table x on commit drop as select 1 with no data",
    "create unlogged table l (like t including all)",
    "create index concurrently if not exists i on t using gin (a jsonb_path_ops) include (b) "
    "where a is not null",
    "create view v with (security_barrier) as select a from t with cascaded check option",
    "create materialized view mv as select 1",
    "create sequence s increment by 2 start 10 owned by t.a",
    "create function f(a int default 1, out b text) returns setof record language sql "
    "immutable as $$ select 1 $$",
    "create procedure p() language plpgsql as $$ begin end $$",
    "create trigger tr before insert or update of a on t for each row when (new.a > 0) "
    "execute function f()",
    "create policy pol on t for select to public using (a = current_user)",
    "create role r with login password 'x' valid until 'infinity' in role s",
    "create type e as enum ('a', 'b')",
    "create type c as (a int, b text)",
    "create domain d as int check (value > 0)",
    "create extension if not exists hstore with schema public",
    "create schema s authorization r",
    "create server s foreign data wrapper w options (host 'h')",
    "create publication p for table t",
    "create rule r as on insert to t do instead nothing",
    "create aggregate a (int) (sfunc = f, stype = int)",
    "create operator === (leftarg = int, rightarg = int, procedure = f)",
    "create cast (int as text) with function f(int)",
    "create statistics s (dependencies) on a, b from t",
    "create event trigger e on ddl_command_start execute function f()",
    "alter table t add column z int, drop column y cascade, alter column a type bigint using "
    "a::bigint, alter column b set default 1, rename to u",
    "alter table t attach partition p for values in (1, 2)",
    "alter table only t enable row level security",
    "alter role r set search_path = a, b",
    "alter database d set work_mem = '1MB'",
    "alter system set work_mem = '1MB'",
    "alter default privileges in schema s grant select on tables to r",
    "alter sequence s restart with 5",
    "alter function f(int) security definer",
    "alter type e add value 'c' before 'b'",
    "alter index i rename to j",
    "alter table t owner to r",
    "drop table if exists t, u cascade",
    "drop function f(int, text)",
    "drop owned by r",
    "drop database d with (force)",
    "truncate t, u restart identity cascade",
    "grant select (a, b), update on t to r with grant option",
    "grant r to s with admin option",
    "revoke all on schema s from public",
    "comment on column t.a is 'x'",
    "security label for p on table t is 'x'",
    "copy t (a, b) from stdin with (format csv, header true, delimiter ',')",
    "copy (select 1) to program 'cat' with (format binary)",
    "copy t to '/tmp/x' where a > 1",
    "explain (analyze, buffers off, format json) select 1",
    "explain verbose select 1",
    "prepare p (int, text) as select $1, $2",
    "execute p (1, 'a')",
    "deallocate all",
    "declare c scroll cursor with hold for select 1",
    "fetch backward 5 from c",
    "move last in c",
    "close all",
    "begin isolation level serializable read only deferrable",
    "start transaction read write",
    "savepoint s",
    "rollback to savepoint s",
    "release s",
    "commit and chain",
    "prepare transaction 'x'",
    "commit prepared 'x'",
    "set local work_mem = 1024",
    "set time zone 'utc'",
    "set session characteristics as transaction isolation level read committed",
    "set role none",
    "reset all",
    "show all",
    "discard all",
    "listen ch",
    "notify ch, 'payload'",
    "unlisten *",
    "lock table t in access exclusive mode nowait",
    "vacuum (full, analyze) t (a)",
    "analyze verbose t",
    "cluster t using i",
    "reindex table concurrently t",
    "checkpoint",
    "load 'x'",
    "do $$ begin end $$",
    "call p(1)",
    "refresh materialized view concurrently mv with data",
    "reassign owned by r to s",
    "import foreign schema s from server f into t",
    "select $1::int, $2",
    "select 'a' || 'b', 'a' like 'b' escape '!', 'a' similar to 'b', a between 1 and 2 from t",
    "select a in (1, 2), a not in (select b from u), a = any (array[1]), a > all (select 1) "
    "from t",
    "select exists (select 1), (select 1), a = (select 1) from t",
    "select a from t where a = 1 and (b = 2 or not c)",
    "select * from t natural full join u left join v using (a) cross join w",
    "select * from t join u on true, lateral f(t.a)",
    "select * from only t*",
    "select grouping(a, b), a from t group by a, b",
    "select a from t union select b from u intersect select c from v except all select d from w",
    "select a from t order by 1 limit all offset 2",
    "select a from t fetch first 3 rows with ties",
    "select a into temp b from t",
    "select U&\"d!0061t\" UESCAPE '!' from t",
    "select u&'\\0061'",
    "select e'\\x41', $tag$x$tag$",
    "select float8 '1.5', interval '1 day' hour to second, timestamp(3) with time zone 'now'",
    "select bit(3) '101', varchar(10) 'x', numeric(10, 2) '1.5', char 'x'",
    "select array[[1, 2], [3, 4]]::int[][], '{1}'::int[3]",
    "select a->'b', a->>'c', a #> '{d}', a @> b from t",
    "select f(a => 1, b := 2), f(variadic array[1]), g(all a order by b) from t",
    "select percentile_cont(0.5) within group (order by a) from t",
    "select a from t where a ilike any (array['x'])",
    "select 1; select 2; ; select 3",
    "create function g() returns int language sql called on null input as 'select 1'",
    "",
    "  ",
};

TEST(PgTree, ReadsTheTreeAsLibpgQueryJsonDoesOverTheCorpora) {
  std::size_t checked = 0;
  for (const std::string& sql : corpus_statements()) {
    auto diffs = differences(sql);
    EXPECT_TRUE(diffs.empty()) << sql << "\n  " << (diffs.empty() ? "" : diffs[0]);
    ++checked;
  }
  EXPECT_GT(checked, 200u);
}

TEST(PgTree, ReadsTheTreeAsLibpgQueryJsonDoesForEveryStatementClass) {
  for (const char* sql : kMoreStatements) {
    auto diffs = differences(sql);
    std::string all;
    for (const auto& d : diffs) all += "\n  " + d;
    EXPECT_TRUE(diffs.empty()) << sql << all;
  }
}

// PostgreSQL's own SQL: information_schema.sql, system_views.sql, system_functions.sql and
// the extension scripts reach most DDL node types. Each file is read as one text, psql
// meta-commands dropped. The folders come with the postgresql-15 package the tests install;
// SLUICE_PG_TREE_SQL_DIR names another folder instead.
TEST(PgTree, ReadsTheTreeAsLibpgQueryJsonDoesOverPostgresqlsOwnSql) {
  std::vector<std::string> dirs = {"/usr/share/postgresql/15",
                                   "/usr/share/postgresql/15/extension"};
  if (const char* dir = std::getenv("SLUICE_PG_TREE_SQL_DIR")) dirs = {dir};
  std::size_t files = 0;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".sql") continue;
      std::ifstream in(entry.path());
      std::string text, line;
      while (std::getline(in, line))
        if (line.empty() || line[0] != '\\') text += line + "\n";
      auto diffs = differences(text);
      std::string all;
      for (const auto& d : diffs) all += "\n  " + d;
      EXPECT_TRUE(diffs.empty()) << entry.path() << all;
      ++files;
    }
  }
  if (files == 0) GTEST_SKIP() << "no .sql files in the folders named";
}

TEST(PgTree, ASyntaxErrorHasAMessageAndAPosition) {
  sl_parse p = sl_parse_begin("select * frm t");
  EXPECT_EQ(p.tree, nullptr);
  ASSERT_NE(p.error, nullptr);
  EXPECT_NE(std::string(p.error).find("syntax error"), std::string::npos);
  EXPECT_EQ(p.cursor, 10);
  sl_parse_end(&p);
}

// A node whose tag the table does not describe (as a tree from another parser version could
// hold) is flagged, and the analyzer turns the flag into an error instead of a partial
// reading.
TEST(PgTree, ANodeOfAnUnknownTypeIsFlagged) {
  sl_parse p = sl_parse_begin("select a from t");
  ASSERT_NE(p.tree, nullptr);
  PgNode::unknown_node_seen() = false;
  PgNode from = PgNode::root(p.tree)["stmts"].at(0)["stmt"].body()["fromClause"];
  ASSERT_EQ(from.at(0).type(), "RangeVar");
  EXPECT_FALSE(PgNode::unknown_node_seen());
  // Give the RangeVar a tag no node type has (T_Invalid, 0).
  const int invalid = 0;
  std::memcpy(const_cast<void*>(from.at(0).address()), &invalid, sizeof invalid);
  PgNode again = from.at(0);
  EXPECT_TRUE(again.type().empty());
  EXPECT_FALSE(again.body()["relname"].ok());
  EXPECT_TRUE(PgNode::unknown_node_seen());
  sl_parse_end(&p);
}

}  // namespace
}  // namespace sluice::sql
