// PgRelay against the exact byte sequences a PostgreSQL 15 server sends.
#include "session/pg/relay.h"

#include <gtest/gtest.h>

#include "pg_test_util.h"

namespace sluice::session::pg {
namespace {

using namespace sluice::testing;

// A stage whose decision is chosen by the statement text.
class ScriptedStage : public hook::StatementStage {
 public:
  std::string_view name() const override { return "scripted"; }
  void on_statement(hook::StatementEvent& ev, hook::Decision& d) override {
    seen.emplace_back(ev.text);
    origins.push_back(ev.origin);
    if (ev.text.find("forbidden") != std::string_view::npos) {
      hook::Refusal r;
      r.rule = "test-rule";
      r.message = "sluice: denied by rule test-rule: forbidden";
      d = hook::Decision::refuse(r);
    } else if (ev.text.find("capped") != std::string_view::npos) {
      d.caps.max_rows = 2;
      d.caps.rule = "cap-rule";
    } else if (ev.text.find("held") != std::string_view::npos) {
      d.verdict = hook::Verdict::hold;
      d.hold = hold;
    }
    if (observer) d.observers.push_back(observer);
  }
  std::vector<std::string> seen;
  std::vector<hook::Origin> origins;
  std::shared_ptr<hook::ResultObserver> observer;
  std::shared_ptr<hook::Hold> hold;
};

class UpperCaser : public hook::ResultObserver {
 public:
  void on_row(hook::Row& row) override {
    ++rows;
    for (std::size_t i = 0; i < row.cells.size(); ++i) {
      if (!row.cells[i]) continue;
      std::string v(*row.cells[i]);
      for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      row.replace(i, v);
    }
  }
  void on_complete(std::string_view tag, std::uint64_t n) override {
    tags.emplace_back(tag);
    counts.push_back(n);
  }
  int rows = 0;
  std::vector<std::string> tags;
  std::vector<std::uint64_t> counts;
};

class FakeHold : public hook::Hold {
 public:
  void wait(std::function<void(hook::Decision)> done) override { waiter = std::move(done); }
  void cancel() override { cancelled = true; }
  std::string notice() const override { return "sluice: held for approval a_1"; }
  std::function<void(hook::Decision)> waiter;
  bool cancelled = false;
};

class RelayTest : public ::testing::Test {
 protected:
  RelayTest() {
    stage = std::make_shared<ScriptedStage>();
    pipeline.add(stage);
    relay = std::make_unique<PgRelay>(info, pipeline, RelayLimits{});
  }

  // Feeds client bytes; returns what went upstream.
  std::string client(const std::string& bytes,
                     PgRelay::ClientNext expect = PgRelay::ClientNext::need_more) {
    input = bytes;
    auto step = relay->on_client_bytes(as_bytes(input));
    EXPECT_EQ(step.next, expect) << relay->fatal_report().message;
    last_client = step;
    std::string out = concat(relay->upstream_output().segments());
    relay->upstream_output().clear();
    return out;
  }
  // Feeds server bytes; returns what went to the client.
  std::string server(const std::string& bytes) {
    server_input = bytes;
    last_server = relay->on_server_bytes(as_bytes(server_input));
    EXPECT_EQ(last_server.consumed, bytes.size());
    std::string out = concat(relay->client_output().segments());
    relay->client_output().clear();
    return out;
  }

  hook::SessionInfo info;
  hook::StatementPipeline pipeline;
  std::shared_ptr<ScriptedStage> stage;
  std::unique_ptr<PgRelay> relay;
  std::string input, server_input;
  PgRelay::ClientStep last_client;
  PgRelay::ServerStep last_server;
};

TEST_F(RelayTest, AllowedMessagesPassThroughWithoutCopying) {
  std::string in =
      query("select 1") + parse("", "select $1") + bind("", "", {"7"}) + execute("") + sync();
  input = in;
  auto step = relay->on_client_bytes(as_bytes(input));
  EXPECT_EQ(step.consumed, in.size());
  const auto& segs = relay->upstream_output().segments();
  ASSERT_EQ(segs.size(), 1u);  // one contiguous write, straight from the input buffer
  EXPECT_EQ(segs[0].data(), reinterpret_cast<const std::uint8_t*>(input.data()));
  EXPECT_EQ(segs[0].size(), in.size());
  relay->upstream_output().clear();

  std::string answer =
      msg('T', std::string("\0\1?column?\0\0\0\0\0\0\0\0\0\0\x17\0\4\xff\xff\xff\xff\0\0", 27)) +
      row({"1"}) + complete("SELECT 1") + rfq('I') + simple('1') + simple('2') + row({"7"}) +
      complete("SELECT 1") + rfq('I');
  EXPECT_EQ(server(answer), answer);
  EXPECT_TRUE(relay->idle());
  EXPECT_EQ(stage->seen, (std::vector<std::string>{"select 1", "select $1", "select $1"}));
}

TEST_F(RelayTest, RefusedSimpleQueryIsReplacedByAFailingStatement) {
  std::string up = client(query("drop table forbidden"));
  auto sent = split(up);
  ASSERT_EQ(types(sent), "Q");
  EXPECT_EQ(sent[0].body, std::string(kRefusedStatementText) + '\0');
  // The server rejects the placeholder inside the client's transaction, which aborts it.
  auto seen = split(server(server_error("42601", "syntax error at or near \"sluice\"") + rfq('E')));
  ASSERT_EQ(types(seen), "EZ");
  auto e = error_of(seen[0]);
  EXPECT_EQ(e.sqlstate, "42501");
  EXPECT_EQ(e.message, "sluice: denied by rule test-rule: forbidden");
  EXPECT_EQ(seen[1].body, "E");
  EXPECT_EQ(relay->transaction_status(), 'E');
}

TEST_F(RelayTest, RefusalInAPipelineAbortsItAndSkipsToSync) {
  std::string in = parse("", "insert into t values (1)") + bind("", "") + execute("") +
                   parse("", "delete from forbidden") + bind("", "") + execute("") +
                   parse("", "insert into t values (2)") + sync() + query("select 2");
  auto sent = split(client(in));
  // The refused Parse becomes a failing Parse; the messages after it up to Sync are not sent
  // (the server would skip them); Sync and what follows it are.
  ASSERT_EQ(types(sent), "PBEPSQ");
  EXPECT_NE(sent[3].body.find(std::string(kRefusedStatementText)), std::string::npos);
  EXPECT_EQ(sent[3].body.rfind(kRefusedStatementName, 0), 0u);
  auto seen = split(server(simple('1') + simple('2') + complete("INSERT 0 1") +
                           server_error("42601", "syntax error") + rfq('I') + row({"2"}) +
                           complete("SELECT 1") + rfq('I')));
  ASSERT_EQ(types(seen), "12CEZDCZ");
  EXPECT_EQ(error_of(seen[3]).sqlstate, "42501");
  EXPECT_TRUE(relay->idle());
}

TEST_F(RelayTest, ServerErrorInAPipelineSkipsTheRestUntilSync) {
  auto sent = split(client(parse("a", "select 1/0") + bind("", "a") + execute("") +
                           parse("b", "select 2") + sync()));
  ASSERT_EQ(types(sent), "PBEPS");
  // The server fails at Execute and skips the second Parse.
  auto seen = split(
      server(simple('1') + simple('2') + server_error("22012", "division by zero") + rfq('I')));
  ASSERT_EQ(types(seen), "12EZ");
  EXPECT_TRUE(relay->idle());
  // "b" was skipped by the server, so binding it must be refused: the gateway never saw it
  // confirmed.
  auto next = split(client(bind("", "b") + execute("") + sync()));
  ASSERT_EQ(types(next), "PS");  // a failing Parse in place of the Bind
}

TEST_F(RelayTest, ARenamedStatementIsCheckedAgain) {
  client(parse("s1", "select 1") + sync());
  server(simple('1') + rfq('I'));
  client(close_msg('S', "s1") + parse("s1", "select forbidden") + sync());
  EXPECT_EQ(stage->seen.back(), "select forbidden");
  auto seen = split(server(simple('3') + server_error("42601", "syntax") + rfq('I')));
  ASSERT_EQ(types(seen), "3EZ");
  EXPECT_EQ(error_of(seen[1]).sqlstate, "42501");
}

TEST_F(RelayTest, BindToAStatementNotPreparedHereIsRefused) {
  auto sent = split(client(bind("", "prepared_in_sql") + execute("") + sync()));
  ASSERT_EQ(types(sent), "PS");
  auto seen = split(server(server_error("42601", "syntax") + rfq('I')));
  ASSERT_EQ(types(seen), "EZ");
  EXPECT_EQ(error_of(seen[0]).sqlstate, "26000");
}

TEST_F(RelayTest, ExecuteOfAPortalNotBoundHereIsRefused) {
  auto sent = split(client(execute("sql_cursor") + sync()));
  ASSERT_EQ(types(sent), "PS");
  auto seen = split(server(server_error("42601", "syntax") + rfq('I')));
  EXPECT_EQ(error_of(seen[0]).sqlstate, "34000");
}

TEST_F(RelayTest, CappedExecuteCutsRowsCancelsAndAbortsTheServerTransaction) {
  auto sent = split(client(parse("", "select capped") + bind("", "") + execute("") + sync(),
                           PgRelay::ClientNext::barrier));
  ASSERT_EQ(types(sent), "PBE");  // the Sync waits behind the barrier
  auto seen = split(server(simple('1') + simple('2') + row({"a"}) + row({"b"}) + row({"c"})));
  EXPECT_TRUE(last_server.cancel_upstream);
  ASSERT_EQ(types(seen), "12DD");
  // The statement finished before the cancel landed: the client is told it failed...
  seen = split(server(complete("SELECT 3")));
  ASSERT_EQ(types(seen), "E");
  EXPECT_EQ(error_of(seen[0]).sqlstate, "54000");
  EXPECT_TRUE(last_server.barrier_released);
  // ... and the server is made to fail too before the Sync goes out.
  input = sync();
  auto step = relay->on_client_bytes(as_bytes(input));
  EXPECT_EQ(step.consumed, input.size());
  auto after = split(concat(relay->upstream_output().segments()));
  relay->upstream_output().clear();
  ASSERT_EQ(types(after), "PS");
  seen = split(server(server_error("42601", "syntax") + rfq('I')));
  ASSERT_EQ(types(seen), "Z");  // the placeholder's error is not shown a second time
  EXPECT_TRUE(relay->idle());
}

TEST_F(RelayTest, CappedSimpleQueryInATransactionLeavesItFailedOnBothSides) {
  client(query("select capped"), PgRelay::ClientNext::barrier);
  auto seen = split(server(row({"1"}) + row({"2"}) + row({"3"}) + complete("SELECT 3") + rfq('T')));
  ASSERT_EQ(types(seen), "DDEZ");
  EXPECT_EQ(error_of(seen[2]).sqlstate, "54000");
  EXPECT_EQ(seen[3].body, "E");  // the client is told its transaction failed
  // Before the client's next statement, the server's transaction is failed as well.
  auto sent = split(client(query("commit")));
  ASSERT_EQ(types(sent), "QQ");
  EXPECT_EQ(sent[0].body, std::string(kRefusedStatementText) + '\0');
  seen =
      split(server(server_error("42601", "syntax") + rfq('E') + complete("ROLLBACK") + rfq('I')));
  ASSERT_EQ(types(seen), "CZ");  // the silent abort is invisible; COMMIT reports ROLLBACK
}

TEST_F(RelayTest, CapThatTheCancelReachesReportsTheCapNotTheCancel) {
  client(query("select capped"), PgRelay::ClientNext::barrier);
  auto seen =
      split(server(row({"1"}) + row({"2"}) + row({"3"}) +
                   server_error("57014", "canceling statement due to user request") + rfq('I')));
  ASSERT_EQ(types(seen), "DDEZ");
  EXPECT_EQ(error_of(seen[2]).sqlstate, "54000");
  auto sent = split(client(query("select 1")));
  ASSERT_EQ(types(sent), "Q");  // the server failed on its own: no extra abort
}

TEST_F(RelayTest, ObserversRewriteRowsAndSeeCompletions) {
  auto upper = std::make_shared<UpperCaser>();
  stage->observer = upper;
  client(query("select name from t"));
  std::string r1 = row({"ada"});
  auto seen = split(server(r1 + row({"alan"}) + complete("SELECT 2") + rfq('I')));
  ASSERT_EQ(types(seen), "DDCZ");
  std::vector<sluice::pg::Cell> cells;
  ASSERT_TRUE(sluice::pg::parse_data_row(as_bytes(seen[0].body), cells));
  EXPECT_EQ(*cells[0], "ADA");
  EXPECT_EQ(upper->rows, 2);
  EXPECT_EQ(upper->tags, std::vector<std::string>{"SELECT 2"});
  EXPECT_EQ(upper->counts, std::vector<std::uint64_t>{2});
}

TEST_F(RelayTest, HeldStatementWaitsForItsDecision) {
  auto hold = std::make_shared<FakeHold>();
  stage->hold = hold;
  std::string in = query("update held") + query("select 1");
  input = in;
  auto step = relay->on_client_bytes(as_bytes(input));
  ASSERT_EQ(step.next, PgRelay::ClientNext::hold);
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_EQ(step.hold, hold);
  EXPECT_TRUE(relay->upstream_output().empty());
  hook::Decision approved;
  relay->resolve_hold(approved);
  step = relay->on_client_bytes(as_bytes(input));
  EXPECT_EQ(step.consumed, in.size());
  EXPECT_EQ(types(split(concat(relay->upstream_output().segments()))), "QQ");
}

TEST_F(RelayTest, HeldStatementThatIsDeniedIsRefused) {
  auto hold = std::make_shared<FakeHold>();
  stage->hold = hold;
  input = query("update held");
  ASSERT_EQ(relay->on_client_bytes(as_bytes(input)).next, PgRelay::ClientNext::hold);
  hook::Refusal r;
  r.message = "sluice: denied by reviewer bob";
  relay->resolve_hold(hook::Decision::refuse(r));
  relay->on_client_bytes(as_bytes(input));
  auto sent = split(concat(relay->upstream_output().segments()));
  ASSERT_EQ(types(sent), "Q");
  EXPECT_EQ(sent[0].body, std::string(kRefusedStatementText) + '\0');
}

TEST_F(RelayTest, FunctionCallMessageIsRefused) {
  std::string fc = msg('F', std::string("\0\0\0\1\0\0\0\0\0\0", 10));
  auto sent = split(client(fc));
  ASSERT_EQ(types(sent), "Q");
  auto seen = split(server(server_error("42601", "syntax") + rfq('I')));
  ASSERT_EQ(types(seen), "EZ");
  EXPECT_NE(error_of(seen[0]).message.find("FunctionCall"), std::string_view::npos);
}

TEST_F(RelayTest, PinnedSettingChangeEndsTheSession) {
  client(query("set standard_conforming_strings = off"));
  std::string ps;
  sluice::pg::append_parameter_status(ps, "standard_conforming_strings", "off");
  server_input = complete("SET") + ps + rfq('I');
  auto step = relay->on_server_bytes(as_bytes(server_input));
  EXPECT_TRUE(step.fatal);
  EXPECT_NE(relay->fatal_report().message.find("standard_conforming_strings=off"),
            std::string::npos);
}

TEST_F(RelayTest, ServerMessageWithNothingOwedIsFatal) {
  server_input = row({"x"});
  EXPECT_TRUE(relay->on_server_bytes(as_bytes(server_input)).fatal);
}

TEST_F(RelayTest, RefusalPlaceholderThatSucceedsIsFatal) {
  client(query("forbidden"));
  server_input = complete("SELECT 1") + rfq('I');
  EXPECT_TRUE(relay->on_server_bytes(as_bytes(server_input)).fatal);
}

TEST_F(RelayTest, LargeRowsWithoutObserversStreamThrough) {
  RelayLimits limits;
  limits.stream_threshold = 1024;
  relay = std::make_unique<PgRelay>(info, pipeline, limits);
  client(query("select big"));
  std::string big = row({std::string(5000, 'x')});
  std::string out;
  // Feed the row in 700-byte pieces, as reads would deliver it.
  for (std::size_t pos = 0; pos < big.size();) {
    std::string piece = big.substr(pos, 700);
    server_input = piece;
    auto step = relay->on_server_bytes(as_bytes(server_input));
    out += concat(relay->client_output().segments());
    relay->client_output().clear();
    pos += step.consumed;
    if (step.consumed == 0) {
      // Only the 5-byte header case can need more before streaming starts.
      ASSERT_LT(piece.size(), 5u);
    }
  }
  EXPECT_EQ(out, big);
  EXPECT_EQ(types(split(server(complete("SELECT 1") + rfq('I')))), "CZ");
}

TEST_F(RelayTest, ExtendedProtocolOriginsReachTheStages) {
  client(parse("s", "select 1") + bind("p", "s", {"x"}) + execute("p") + sync());
  EXPECT_EQ(stage->origins,
            (std::vector<hook::Origin>{hook::Origin::prepare, hook::Origin::execute}));
}

}  // namespace
}  // namespace sluice::session::pg
