// PgAnalyzer: facts from real parse trees, resolved against a small catalog.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

#include "sql/analysis_cache.h"
#include "sql/connection_analyzer.h"
#include "sql/literal_shape.h"
#include "sql/pg_analyzer.h"

namespace sluice::sql {
namespace {

std::shared_ptr<SnapshotCatalog> shop_catalog() {
  auto cat = std::make_shared<SnapshotCatalog>(7, std::vector<std::string>{"public"});
  auto table = [&](std::string schema, std::string name, std::vector<std::string> cols,
                   char kind = 'r') {
    RelationInfo r;
    r.schema = std::move(schema);
    r.name = std::move(name);
    r.kind = kind;
    r.columns = std::move(cols);
    r.columns_known = true;
    cat->add_relation(std::move(r));
  };
  table("public", "customers", {"id", "name", "email", "ssn", "card"});
  table("public", "orders", {"id", "customer_id", "amount", "status"});
  table("public", "events", {"id", "payload"}, 'p');
  table("public", "events_2026", {"id", "payload"});
  cat->mutable_relation("public.events_2026")->policy_relation = "public.events";
  table("pg_catalog", "pg_class", {"oid", "relname"});
  table("pg_catalog", "pg_settings", {"name", "setting"}, 'v');
  table("Sales", "Q1", {"Total"});
  // A view: contacts(name, email, ssn) over customers.
  RelationInfo v;
  v.schema = "public";
  v.name = "contacts";
  v.kind = 'v';
  v.columns = {"name", "email", "tax_id"};
  v.columns_known = true;
  v.view_reads = {"public.customers"};
  v.view_outputs = {{"name", {"public.customers.name"}, {}, true},
                    {"email", {"public.customers.email"}, {}, true},
                    {"tax_id", {"public.customers.ssn"}, {}, true}};
  cat->add_relation(v);
  for (auto f : {"lower", "count", "sum", "row_to_json", "set_config", "nextval", "pg_read_file",
                 "now", "jsonb_agg", "pg_advisory_lock", "query_to_xml"})
    cat->add_function("pg_catalog", f);
  cat->add_function("public", "touch");
  return cat;
}

class AnalyzerTest : public ::testing::Test {
 protected:
  Facts one(const std::string& sql) {
    auto a = PgAnalyzer(cat).analyze(sql);
    EXPECT_TRUE(a.ok()) << a.error;
    EXPECT_EQ(a.statements.size(), 1u) << sql;
    return a.statements.empty() ? Facts{} : a.statements[0];
  }
  static bool has_col(const Facts& f, const std::string& rel_col, Clause c) {
    auto dot = rel_col.rfind('.');
    ColumnUse u{rel_col.substr(0, dot), rel_col.substr(dot + 1), c};
    return std::find(f.columns.begin(), f.columns.end(), u) != f.columns.end();
  }
  static bool reads_col(const Facts& f, const std::string& rel_col) {
    auto dot = rel_col.rfind('.');
    return std::any_of(f.columns.begin(), f.columns.end(), [&](const ColumnUse& u) {
      return u.relation == rel_col.substr(0, dot) && u.column == rel_col.substr(dot + 1);
    });
  }
  static bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }
  std::shared_ptr<SnapshotCatalog> cat = shop_catalog();
};

TEST_F(AnalyzerTest, StarAndWholeRowReadEveryColumn) {
  for (const char* sql :
       {"select * from customers", "select c.* from customers c", "select c from customers c",
        "select row_to_json(c) from customers c", "select c::text from customers c",
        "select jsonb_agg(x) from (select * from customers) x"}) {
    Facts f = one(sql);
    EXPECT_TRUE(reads_col(f, "public.customers.ssn")) << sql;
    EXPECT_TRUE(reads_col(f, "public.customers.card")) << sql;
  }
}

TEST_F(AnalyzerTest, ColumnsByClause) {
  Facts f = one(
      "select c.name, count(*) over (partition by c.email order by c.card) from customers c "
      "join orders o on o.customer_id = c.id where c.ssn = '1' group by c.name, c.email, c.card "
      "having max(o.amount) > 1 order by c.name");
  EXPECT_TRUE(has_col(f, "public.customers.name", Clause::output));
  EXPECT_TRUE(has_col(f, "public.customers.email", Clause::window));
  EXPECT_TRUE(has_col(f, "public.customers.card", Clause::window));
  EXPECT_TRUE(has_col(f, "public.orders.customer_id", Clause::join));
  EXPECT_TRUE(has_col(f, "public.customers.ssn", Clause::where));
  EXPECT_TRUE(has_col(f, "public.customers.name", Clause::group));
  EXPECT_TRUE(has_col(f, "public.orders.amount", Clause::having));
  EXPECT_TRUE(has_col(f, "public.orders.amount", Clause::function_arg));
  EXPECT_TRUE(has_col(f, "public.customers.name", Clause::order));
  EXPECT_TRUE(f.has_where);
}

TEST_F(AnalyzerTest, OrderAndGroupByPositionAndAlias) {
  Facts f = one("select ssn as x, email from customers order by x, 2");
  EXPECT_TRUE(has_col(f, "public.customers.ssn", Clause::order));
  EXPECT_TRUE(has_col(f, "public.customers.email", Clause::order));
  Facts g = one("select ssn from customers group by 1");
  EXPECT_TRUE(has_col(g, "public.customers.ssn", Clause::group));
}

// Found in review: positions inside a parenthesised GROUP BY list, in grouping sets, and in
// DISTINCT ON name output columns too.
TEST_F(AnalyzerTest, GroupingPositionsInListsAndDistinctOn) {
  for (const char* q : {"select id, card from customers group by (1, 2)",
                        "select id, card from customers group by rollup((1, 2))",
                        "select id, card from customers group by grouping sets ((1, 2))",
                        "select id, card from customers group by (id, card)",
                        "select distinct on (2) id, card from customers",
                        "select distinct on (card) id from customers",
                        "select distinct on (x) id, card as x from customers"})
    EXPECT_TRUE(has_col(one(q), "public.customers.card", Clause::group)) << q;
  EXPECT_FALSE(has_col(one("select distinct id, card from customers"), "public.customers.card",
                       Clause::group));
}

TEST_F(AnalyzerTest, NamesResolveAsTheServerDoes) {
  EXPECT_TRUE(reads_col(one("select U&\"\\0073sn\" from customers"), "public.customers.ssn"));
  EXPECT_TRUE(reads_col(one("select SSN from PUBLIC.CUSTOMERS"), "public.customers.ssn"));
  Facts quoted = one("select \"SSN\" from customers");  // a different (missing) column
  EXPECT_FALSE(reads_col(quoted, "public.customers.ssn"));
  EXPECT_TRUE(has(quoted.unresolved, "SSN"));
  EXPECT_TRUE(has(one("select \"Total\" from \"Sales\".\"Q1\"").reads, "Sales.Q1"));
  EXPECT_TRUE(has(one("select * from pg_class").reads, "pg_catalog.pg_class"));
  // A CTE named like a table hides the table.
  Facts cte = one("with customers as (select 1 as ssn) select ssn from customers");
  EXPECT_FALSE(has(cte.reads, "public.customers"));
  // Aliases and column aliases.
  Facts al = one("select z.a from (select ssn from customers) as z(a)");
  EXPECT_TRUE(reads_col(al, "public.customers.ssn"));
  ASSERT_EQ(al.outputs.size(), 1u);
  EXPECT_EQ(al.outputs[0].sources, std::vector<std::string>{"public.customers.ssn"});
}

TEST_F(AnalyzerTest, ViewsAndPartitionsMapToTheirBase) {
  Facts v = one("select tax_id from contacts");
  EXPECT_TRUE(has(v.reads, "public.contacts"));
  EXPECT_TRUE(has(v.reads, "public.customers"));
  EXPECT_TRUE(has(v.named, "public.contacts"));
  EXPECT_FALSE(has(v.named, "public.customers"));
  EXPECT_TRUE(reads_col(v, "public.customers.ssn"));
  Facts p = one("select payload from events_2026");
  EXPECT_TRUE(has(p.reads, "public.events"));
  EXPECT_TRUE(reads_col(p, "public.events.payload"));
}

TEST_F(AnalyzerTest, HiddenEffectsAreFound) {
  Facts cte = one("with d as (delete from orders where id = 1 returning *) select * from d");
  EXPECT_EQ(cte.kind, Kind::select);
  EXPECT_TRUE(cte.has_effect(Kind::delete_));
  EXPECT_TRUE(cte.data_modifying_cte);
  EXPECT_TRUE(has(cte.writes, "public.orders"));

  Facts into = one("select email into stash from customers");
  EXPECT_TRUE(into.select_into);
  EXPECT_TRUE(has(into.writes, "public.stash"));

  Facts ea = one("explain analyze delete from orders");
  EXPECT_TRUE(ea.explain_analyze);
  EXPECT_TRUE(ea.has_effect(Kind::delete_));
  Facts e = one("explain delete from orders");
  EXPECT_FALSE(e.has_effect(Kind::delete_));

  Facts merge =
      one("merge into orders o using customers c on o.customer_id = c.id when matched "
          "then delete when not matched then insert (customer_id) values (c.id)");
  EXPECT_TRUE(merge.has_effect(Kind::delete_));
  EXPECT_TRUE(merge.has_effect(Kind::insert));

  Facts ctas = one("create table leak as select ssn from customers");
  EXPECT_EQ(ctas.kind, Kind::create);
  EXPECT_TRUE(has_col(ctas, "public.customers.ssn", Clause::insert_source));

  Facts ins = one("insert into orders (status) select ssn from customers returning *");
  EXPECT_TRUE(has_col(ins, "public.customers.ssn", Clause::insert_source));
  EXPECT_TRUE(has_col(ins, "public.orders.status", Clause::returning));

  Facts upd = one("update orders set status = (select ssn from customers limit 1) where id = 1");
  EXPECT_TRUE(reads_col(upd, "public.customers.ssn"));

  Facts prep = one("prepare p as delete from orders");
  EXPECT_TRUE(prep.has_effect(Kind::delete_));
  ASSERT_TRUE(prep.inner);
  EXPECT_EQ(prep.inner->kind, Kind::delete_);
}

TEST_F(AnalyzerTest, FunctionsResolveToSchemasAndSettingsAreSeen) {
  Facts f = one("select lower(name), touch(), pg_catalog.now() from customers");
  EXPECT_TRUE(has(f.functions, "pg_catalog.lower"));
  EXPECT_TRUE(has(f.functions, "public.touch"));
  EXPECT_TRUE(has(f.functions, "pg_catalog.now"));
  EXPECT_TRUE(has(one("select set_config('Search_Path', 'x', false)").settings, "search_path"));
  EXPECT_TRUE(has(one("select set_config(current_user, 'x', false)").settings, "*"));
  EXPECT_TRUE(
      has(one("set standard_conforming_strings = off").settings, "standard_conforming_strings"));
  EXPECT_TRUE(has(one("set local search_path to evil").settings, "search_path"));
  EXPECT_TRUE(has(one("reset all").settings, "*"));
  EXPECT_TRUE(has(one("discard all").settings, "*"));
  EXPECT_TRUE(has(one("alter role x set backslash_quote = on").settings, "backslash_quote"));
  Facts sub = one("select 1 from customers where exists (select set_config('role', 'x', true))");
  EXPECT_TRUE(has(sub.settings, "role"));
  EXPECT_TRUE(one("begin read write").read_write_transaction);
  EXPECT_TRUE(one("set transaction read write").read_write_transaction);
  EXPECT_FALSE(one("begin read only").read_write_transaction);
  EXPECT_TRUE(one("select * from orders for share").row_locks);
  EXPECT_TRUE(one("lock table orders").row_locks);
}

TEST_F(AnalyzerTest, KindsAndObjectTypes) {
  struct Case {
    const char* sql;
    Kind kind;
    const char* object;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"drop table orders", Kind::drop, "table"},
           {"drop database shop", Kind::drop, "database"},
           {"drop role bob", Kind::drop, "role"},
           {"create role bob", Kind::create, "role"},
           {"alter table orders add column x int", Kind::alter, "table"},
           {"truncate orders", Kind::truncate, "table"},
           {"grant select on orders to bob", Kind::grant, "table"},
           {"revoke select on orders from bob", Kind::revoke, "table"},
           {"create function f() returns int as 'select 1' language sql", Kind::create, "function"},
           {"create procedure p() as 'select 1' language sql", Kind::create, "procedure"},
           {"create extension dblink", Kind::create, "extension"},
           {"copy orders to stdout", Kind::copy_to, ""},
           {"copy orders from stdin", Kind::copy_from, ""},
           {"show search_path", Kind::show, ""},
           {"begin", Kind::transaction, ""},
           {"declare c cursor for select * from orders", Kind::declare, ""},
           {"fetch 10 from c", Kind::fetch, ""},
           {"close c", Kind::close, ""},
           {"deallocate all", Kind::deallocate, ""},
           {"do $$ begin perform 1; end $$", Kind::do_, ""},
           {"call p()", Kind::call, ""},
           {"listen ch", Kind::listen, ""},
           {"notify ch, 'x'", Kind::notify, ""},
           {"unlisten *", Kind::unlisten, ""},
           {"vacuum orders", Kind::vacuum, ""},
           {"analyze orders", Kind::analyze, ""},
           {"checkpoint", Kind::utility, "check_point"},
           {"load 'libfoo'", Kind::utility, "load"},
       }) {
    Facts f = one(c.sql);
    EXPECT_EQ(f.kind, c.kind) << c.sql;
    EXPECT_EQ(f.object_type, c.object) << c.sql;
  }
  Facts copy = one("copy orders to program 'sh'");
  EXPECT_TRUE(copy.copy_program);
  EXPECT_TRUE(one("copy orders from '/etc/passwd'").copy_file);
  EXPECT_TRUE(one("copy orders to stdout").copy_stdio);
}

TEST_F(AnalyzerTest, EveryStatementOfAMessage) {
  auto a = PgAnalyzer(cat).analyze("select 1; drop table orders; select * from customers");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.statements.size(), 3u);
  EXPECT_EQ(a.statements[0].kind, Kind::select);
  EXPECT_EQ(a.statements[1].kind, Kind::drop);
  EXPECT_TRUE(has(a.statements[2].reads, "public.customers"));
}

TEST_F(AnalyzerTest, FailsClosedOnWhatItCannotRead) {
  EXPECT_FALSE(PgAnalyzer(cat).analyze("selec 1").ok());
  EXPECT_FALSE(PgAnalyzer(cat).analyze("select '\xff'").ok());  // not UTF-8
  auto a = PgAnalyzer(cat).analyze("select 1 from");
  EXPECT_FALSE(a.ok());
  EXPECT_GT(a.error_position, 0);
}

TEST_F(AnalyzerTest, RecursiveCteLineage) {
  Facts f =
      one("with recursive r as (select id, ssn from customers union all "
          "select r.id, r.ssn from r where false) select ssn from r");
  ASSERT_EQ(f.outputs.size(), 1u);
  EXPECT_EQ(f.outputs[0].sources, std::vector<std::string>{"public.customers.ssn"});
}

TEST_F(AnalyzerTest, OfflineCatalogStillResolvesByRules) {
  auto off = std::make_shared<OfflineCatalog>(std::vector<std::string>{"app"});
  auto a = PgAnalyzer(off).analyze("select * from orders o join pg_stats s on true");
  ASSERT_TRUE(a.ok());
  const Facts& f = a.statements[0];
  EXPECT_TRUE(has(f.reads, "app.orders"));
  EXPECT_TRUE(has(f.reads, "pg_catalog.pg_stats"));
  EXPECT_TRUE(std::any_of(f.columns.begin(), f.columns.end(),
                          [](const ColumnUse& u) { return u.column == "*"; }));
}

TEST(AnalysisCacheTest, AdmitsOnSecondSightingAndHonoursGeneration) {
  AnalysisCache cache(64);
  auto make = [](std::uint64_t gen) {
    auto a = std::make_shared<Analysis>();
    a->catalog_generation = gen;
    return std::shared_ptr<const Analysis>(a);
  };
  const auto k = AnalysisCache::key("select 1");
  cache.put(k, make(1));
  EXPECT_EQ(cache.get(k, 1), nullptr) << "first sighting must not be cached";
  cache.put(k, make(1));
  ASSERT_NE(cache.get(k, 1), nullptr);
  EXPECT_EQ(cache.get(k, 2), nullptr) << "older catalog generation is a miss";
  cache.put(k, make(2));  // present, its sighting slot unchanged: replaced at once
  EXPECT_NE(cache.get(k, 2), nullptr);
  EXPECT_EQ(cache.get(AnalysisCache::key("select  1"), 2), nullptr) << "key is the exact text";
}

// A text whose analysis the shape cache holds is admitted only if it repeats soon: after
// 30,000 other texts in the narrow window its second sighting no longer counts (its slot, one
// of 4,096, is taken with near certainty), while after 30,000 in the wide one it still does
// (one of 65,536: kept about two times in three; for these texts it is, and std::hash is
// deterministic, so the test is too).
TEST(AnalysisCacheTest, TheNarrowWindowAdmitsOnlyTextsThatRepeatSoon) {
  AnalysisCache cache(1 << 16);
  auto a = std::make_shared<const Analysis>();
  using W = AnalysisCache::Window;
  const auto soon = AnalysisCache::key("select 1 from t where id = 1");
  cache.put(soon, a, W::narrow);
  cache.put(soon, a, W::narrow);
  EXPECT_NE(cache.get(soon, 0), nullptr) << "an immediate repeat is admitted";

  const auto late = AnalysisCache::key("select 1 from t where id = 2");
  const auto wide = AnalysisCache::key("select 1 from t where id = 3");
  cache.put(late, a, W::narrow);
  cache.put(wide, a, W::wide);
  for (int i = 0; i < 60000; ++i)
    cache.put(AnalysisCache::key("select " + std::to_string(i)), a, i % 2 ? W::narrow : W::wide);
  cache.put(late, a, W::narrow);
  EXPECT_EQ(cache.get(late, 0), nullptr) << "a repeat 60,000 texts later is a first sighting again";
  cache.put(wide, a, W::wide);
  EXPECT_NE(cache.get(wide, 0), nullptr) << "the wide window remembers it";
}

TEST(AnalysisCacheTest, EvictsOldestWhenFull) {
  AnalysisCache cache(16);  // one entry per shard plus one
  auto a = std::make_shared<const Analysis>();
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) texts.push_back("select " + std::to_string(i));
  for (auto& t : texts) {
    cache.put(AnalysisCache::key(t), a);
    cache.put(AnalysisCache::key(t), a);
  }
  int present = 0;
  for (auto& t : texts) present += cache.get(AnalysisCache::key(t), 0) != nullptr;
  EXPECT_GT(present, 0);
  EXPECT_LE(present, 16 * 2);
  EXPECT_NE(cache.get(AnalysisCache::key(texts.back()), 0), nullptr) << "the newest entry survives";
}

// The parser builds trees of any depth without recursing; the walk recurses per level. A
// statement nested deeper than the walk's limit is an error (refused by policy), not a stack
// overflow that would end every session of the gateway.
TEST_F(AnalyzerTest, StatementsNestedTooDeeplyAreRefusedNotACrash) {
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  for (const std::string& sql :
       {"select 1" + repeat(" + ssn", 50000) + " from customers",
        "select " + repeat("not ", 3000) + "true",
        "select ssn" + repeat("::text", 50000) + " from customers",
        "select 1 from customers group by " + repeat("row(", 1500) + "ssn" + repeat(")", 1500),
        "select " + repeat("(select ", 1200) + "ssn from customers" + repeat(")", 1200)}) {
    auto a = PgAnalyzer(cat).analyze(sql);
    EXPECT_FALSE(a.ok()) << sql.substr(0, 60);
    EXPECT_NE(a.error.find("nested too deeply"), std::string::npos) << a.error;
    EXPECT_TRUE(a.statements.empty());
  }
  // Well inside the limit, a deep expression is still analysed, and its column still seen.
  Facts f = one("select 1" + repeat(" + ssn", 300) + " from customers");
  EXPECT_TRUE(has_col(f, "public.customers.ssn", Clause::output));
}

// A view whose definition the loader could not analyse has no lineage: reading it is refused,
// not attributed to the view alone (which would walk around rules on the tables under it).
TEST_F(AnalyzerTest, AViewWithoutLineageIsRefused) {
  RelationInfo v;
  v.schema = "public";
  v.name = "opaque";
  v.kind = 'v';
  v.columns = {"ssn"};
  v.columns_known = true;
  v.lineage_error = "the statement is nested too deeply for the gateway to analyse";
  cat->add_relation(v);
  auto a = PgAnalyzer(cat).analyze("select ssn from opaque");
  EXPECT_FALSE(a.ok());
  EXPECT_NE(a.error.find("public.opaque"), std::string::npos) << a.error;
  EXPECT_TRUE(a.statements.empty());
  EXPECT_TRUE(PgAnalyzer(cat).analyze("select tax_id from contacts").ok());  // lineage known
}

// ---- literal shapes and the shape cache ------------------------------------------------------

TEST(LiteralShape, ReplacesEveryLiteralAsTheServerScansIt) {
  auto shape = [](std::string_view t) { return literal_shape(t).value_or("<none>"); };
  EXPECT_EQ(shape("select * from t where a = 1 and b = 'x' and c = 1.5"),
            "select * from t where a = \xff"
            "I and b = \xff"
            "S and c = \xff"
            "F");
  EXPECT_EQ(shape("select * from t where a = $1"), "<none>");  // parameters stay
  EXPECT_EQ(shape("select 1"), shape("select 99"));
  EXPECT_NE(shape("select 1"), shape("select '1'"));         // another token class
  EXPECT_NE(shape("select 1"), shape("select 1.0"));         // numeric, not integer
  EXPECT_NE(shape("select 1"), shape("select 3000000000"));  // too big for an integer token
  EXPECT_EQ(shape("select 'it''s'"),
            "select \xff"
            "S");
  // In an E'' string a backslash escapes the quote, and the string ends at the next one.
  EXPECT_EQ(shape("select E'a\\'' ; drop table t; --'"),
            "select \xff"
            "S ; drop table t; --'");
  EXPECT_EQ(shape("select E'a\\\\' || 'b'"),
            "select \xff"
            "S || \xff"
            "S");
  EXPECT_EQ(shape("select $q$ ' ; drop table t; $q$"),
            "select \xff"
            "S");
  // A literal that decides more than a constant's value: UESCAPE's character decodes the
  // identifier (a different column), float(p) picks float4 or float8. No shape.
  EXPECT_EQ(shape("select U&\"!0073sn\" UESCAPE '#' from customers"), "<none>");
  EXPECT_EQ(shape("select 1::float(10) from customers"), "<none>");
  // The scanner reports no end for U&'' strings: no shape rather than a guess.
  EXPECT_EQ(shape("select U&'d\\0061t' UESCAPE '!'"), "<none>");
  EXPECT_EQ(shape("select B'101', X'ff'"),
            "select \xff"
            "B, \xff"
            "X");
  EXPECT_EQ(shape("select 'a'\n'b'"),
            "select \xff"
            "S");  // one string, continued
  // With standard_conforming_strings on (pinned upstream), a backslash does not escape a
  // quote: the string ends there and the rest is SQL, which the shape keeps.
  EXPECT_EQ(shape("select 'x\\' ; drop table t; --'"),
            "select \xff"
            "S ; drop table t; --'");
  // Comments and names are kept byte for byte.
  EXPECT_EQ(shape("select /* 'no' */ \"a'b\" -- 'c'\n from t where x = 2"),
            "select /* 'no' */ \"a'b\" -- 'c'\n from t where x = \xff"
            "I");
  EXPECT_EQ(shape("select 'unterminated"), "<none>");
}

class ShapeCacheTest : public AnalyzerTest {
 protected:
  ConnectionAnalyzer conn{cat};
  // The analysis is shared once its shape was seen twice (the cache admits on the second
  // sighting).
  bool shared(const std::string& a, const std::string& b) {
    conn.analyze(a);
    auto first = conn.analyze(a);
    return conn.analyze(b) == first;
  }
};

TEST_F(ShapeCacheTest, StatementsThatDifferOnlyInLiteralsShareTheirAnalysis) {
  EXPECT_TRUE(
      shared("select name from customers where id = 1", "select name from customers where id = 2"));
  EXPECT_TRUE(shared("update orders set amount = 5 where id = 7 and status = 'new'",
                     "update orders set amount = 6 where id = 9 and status = 'paid'"));
  EXPECT_TRUE(shared("insert into orders (id, amount) values (1, 2.5)",
                     "insert into orders (id, amount) values (3, 4.75)"));
}

TEST_F(ShapeCacheTest, AnalysesThatReadALiteralAreNotShared) {
  // ORDER BY 2 names an output column: the literal is a column.
  EXPECT_FALSE(shared("select id, ssn from customers order by 1",
                      "select id, ssn from customers order by 2"));
  auto by2 = conn.analyze("select id, ssn from customers order by 2");
  EXPECT_TRUE(has_col(by2->statements[0], "public.customers.ssn", Clause::order));
  auto by1 = conn.analyze("select id, ssn from customers order by 1");
  EXPECT_FALSE(has_col(by1->statements[0], "public.customers.ssn", Clause::order));
  EXPECT_FALSE(shared("select set_config('application_name', 'x', false)",
                      "select set_config('search_path', 'x', false)"));
  auto sp = conn.analyze("select set_config('search_path', 'x', false)");
  EXPECT_TRUE(has(sp->statements[0].settings, "search_path"));
  // Utility statements keep literals in options and settings: never shared.
  EXPECT_FALSE(shared("set statement_timeout = 5", "set statement_timeout = 6"));
  EXPECT_FALSE(shared("explain (analyze 0) select 1", "explain (analyze 1) select 1"));
  EXPECT_TRUE(conn.analyze("explain (analyze 1) select 1")->statements[0].explain_analyze);
  EXPECT_FALSE(conn.analyze("explain (analyze 0) select 1")->statements[0].explain_analyze);
}

// Found in review: two texts that scan alike but parse to other names or types.
TEST_F(ShapeCacheTest, LiteralsThatShapeTheTreeAreNotShared) {
  EXPECT_FALSE(shared("select U&\"!0073sn\" UESCAPE '#' from customers",
                      "select U&\"!0073sn\" UESCAPE '!' from customers"));
  auto ssn = conn.analyze("select U&\"!0073sn\" UESCAPE '!' from customers");
  EXPECT_TRUE(reads_col(ssn->statements[0], "public.customers.ssn"));
  EXPECT_FALSE(shared("select * from U&\"!0063ustomers\" UESCAPE '#'",
                      "select * from U&\"!0063ustomers\" UESCAPE '!'"));
  EXPECT_TRUE(
      has(conn.analyze("select * from U&\"!0063ustomers\" UESCAPE '!'")->statements[0].reads,
          "public.customers"));
  EXPECT_FALSE(shared("select 1::float(10) from customers", "select 1::float(30) from customers"));
  EXPECT_FALSE(conn.analyze("select 1::float(0) from customers")->ok());
}

TEST_F(ShapeCacheTest, AStringThatEndsEarlyIsAnotherShape) {
  conn.analyze("select 'a' from customers");
  conn.analyze("select 'a' from customers");
  auto a = conn.analyze("select 'x\\' ; drop table customers; --' from customers");
  ASSERT_TRUE(a->ok()) << a->error;
  ASSERT_EQ(a->statements.size(), 2u);
  EXPECT_EQ(a->statements[1].kind, Kind::drop);
}

// Every facts field, for comparing two analyses.
std::string describe(const Facts& f) {
  std::ostringstream o;
  o << to_string(f.kind) << '|' << f.object_type << '|';
  for (auto k : f.effects) o << to_string(k) << ',';
  for (const auto* v : {&f.reads, &f.named, &f.writes, &f.functions, &f.settings, &f.unresolved}) {
    o << '|';
    for (const auto& x : *v) o << x << ',';
  }
  for (const auto& c : f.columns) o << c.relation << '.' << c.column << ':' << to_string(c.clause);
  for (const auto& c : f.outputs) {
    o << '|' << c.name;
    for (const auto& x : c.sources) o << ',' << x;
    for (const auto& x : c.functions) o << ';' << x;
  }
  o << '|' << f.name << '|' << f.has_where << f.has_limit << f.data_modifying_cte << f.select_into
    << f.explain_analyze << f.row_locks << f.copy_stdio << f.copy_file << f.copy_program
    << f.read_write_transaction;
  if (f.inner) o << "|inner:" << describe(*f.inner);
  return o.str();
}

// The property the shape cache rests on, over the whole policy corpus: when the analyzer says
// an analysis is independent of literals, every other choice of literal values (of the same
// token classes) gives the same facts.
TEST_F(AnalyzerTest, IndependentOfLiteralsHoldsOverTheCorpus) {
  YAML::Node corpus = YAML::LoadFile(SLUICE_SOURCE_DIR "/tests/corpus/postgres.yaml");
  int independent = 0, checked = 0;
  for (const auto& entry : corpus) {
    std::string sql = entry["sql"].as<std::string>();
    auto shape = literal_shape(sql);
    if (!shape) continue;
    // Other literals of the same classes, built from the shape.
    std::string other;
    for (std::size_t i = 0; i < shape->size(); ++i) {
      if ((*shape)[i] != '\xff') {
        other.push_back((*shape)[i]);
        continue;
      }
      char cls = (*shape)[++i];
      other += cls == 'S'   ? "'other value'"
               : cls == 'I' ? "4242"
               : cls == 'F' ? "42.5"
               : cls == 'B' ? "B'0'"
                            : "X'0'";
    }
    ASSERT_EQ(literal_shape(other), shape) << other;
    auto a = PgAnalyzer(cat).analyze(sql);
    if (!a.ok()) continue;
    ++checked;
    if (!a.independent_of_literals) continue;
    ++independent;
    auto b = PgAnalyzer(cat).analyze(other);
    ASSERT_TRUE(b.ok()) << other << ": " << b.error;
    ASSERT_EQ(a.statements.size(), b.statements.size()) << sql;
    for (std::size_t i = 0; i < a.statements.size(); ++i)
      EXPECT_EQ(describe(a.statements[i]), describe(b.statements[i])) << sql << "\n" << other;
  }
  EXPECT_GT(checked, 40);
  EXPECT_GT(independent, 20);
}

}  // namespace
}  // namespace sluice::sql
