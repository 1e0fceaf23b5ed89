// The PostgreSQL codec: round trips through builders and parsers, and framing limits.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/json_writer.h"
#include "pg_test_util.h"
#include "proto/pg/message.h"

namespace sluice::pg {
namespace {

using namespace sluice::testing;

TEST(Framing, CompleteNeedMoreAndInvalid) {
  std::string q = query("select 1");
  FrameLimits limits;
  for (std::size_t n = 0; n < q.size(); ++n) {
    auto d = decode_frontend(as_bytes(std::string_view(q).substr(0, n)), limits);
    EXPECT_EQ(d.status, DecodeStatus::need_more) << n;
    EXPECT_EQ(d.header_known, n >= 5);
  }
  auto d = decode_frontend(as_bytes(q), limits);
  ASSERT_EQ(d.status, DecodeStatus::complete);
  EXPECT_EQ(d.frame.type, 'Q');
  EXPECT_EQ(d.frame.wire_size(), q.size());
  EXPECT_EQ(as_chars(d.frame.body), std::string_view("select 1\0", 9));
}

TEST(Framing, RejectsUnknownTypesAndLengthsOutsideTheTable) {
  FrameLimits limits{4096};
  auto bad = [&](const std::string& s) { return decode_frontend(as_bytes(s), limits).status; };
  EXPECT_EQ(bad(std::string("\x01\0\0\0\x04", 5)), DecodeStatus::invalid);     // unknown type
  EXPECT_EQ(bad(std::string("Q\0\0\0\x03", 5)), DecodeStatus::invalid);        // below 4
  EXPECT_EQ(bad(std::string("Q\0\0\0\x04", 5)), DecodeStatus::invalid);        // Query needs a NUL
  EXPECT_EQ(bad(std::string("S\0\0\0\x05x", 6)), DecodeStatus::invalid);       // Sync is exactly 4
  EXPECT_EQ(bad(std::string("Q\0\0\x10\x01", 5)), DecodeStatus::invalid);      // over the limit
  EXPECT_EQ(bad(std::string("Q\x7f\xff\xff\xff", 5)), DecodeStatus::invalid);  // huge
  EXPECT_EQ(bad(std::string("D\0\0\x20\0", 5)), DecodeStatus::invalid);        // Describe > 4 KiB
  EXPECT_EQ(bad(std::string("Q\0\0\x10\0", 5)), DecodeStatus::need_more);      // exactly the limit
}

TEST(Framing, BackendLengthSanity) {
  EXPECT_EQ(decode_backend(as_bytes(std::string("D\0\0\0\x02", 5))).status, DecodeStatus::invalid);
  EXPECT_EQ(decode_backend(as_bytes(std::string("D\x7f\0\0\0", 5))).status, DecodeStatus::invalid);
  EXPECT_EQ(decode_backend(as_bytes(std::string("D\0\0\0\x10", 5))).status,
            DecodeStatus::need_more);
}

TEST(Framing, StartupPacketLimits) {
  std::string ssl("\0\0\0\x08\x04\xd2\x16\x2f", 8);
  auto d = decode_startup(as_bytes(ssl), 10000);
  ASSERT_EQ(d.status, DecodeStatus::complete);
  EXPECT_EQ(d.frame.code, kSslRequestCode);
  EXPECT_EQ(decode_startup(as_bytes(std::string("\0\0\0\x07\0\0\0\0", 8)), 10000).status,
            DecodeStatus::invalid);
  EXPECT_EQ(decode_startup(as_bytes(std::string("\0\0\x27\x11", 4)), 10000).status,
            DecodeStatus::invalid);  // 10001 > 10000
  EXPECT_EQ(decode_startup(as_bytes(std::string("\0\0\x27\x10", 4)), 10000).status,
            DecodeStatus::need_more);
}

TEST(Startup, ParametersRoundTrip) {
  std::string s;
  append_startup(s, {{"user", "alice"}, {"database", "shop"}, {"application_name", "x"}});
  auto d = decode_startup(as_bytes(s), 10000);
  ASSERT_EQ(d.status, DecodeStatus::complete);
  EXPECT_EQ(d.frame.code, kProtocolV3);
  auto p = parse_startup_params(d.frame.code, d.frame.body);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->get("user").value(), "alice");
  EXPECT_EQ(p->get("database").value(), "shop");
  EXPECT_FALSE(p->get("options").has_value());
}

TEST(Startup, RejectsMalformedParameterLists) {
  auto parse = [](const std::string& body) {
    return parse_startup_params(kProtocolV3, as_bytes(body)).is_ok();
  };
  EXPECT_TRUE(parse(std::string("user\0a\0\0", 8)));
  EXPECT_FALSE(parse(std::string("user\0a\0", 7)));              // no terminator
  EXPECT_FALSE(parse(std::string("user\0", 5)));                 // no value
  EXPECT_FALSE(parse(std::string("user\0a\0user\0b\0\0", 15)));  // repeated
  EXPECT_FALSE(parse(std::string("user\0a\0\0x", 9)));           // trailing bytes
}

TEST(Frontend, ParseBindExecuteRoundTrip) {
  std::string p = parse("s1", "select $1, $2");
  auto pm = parse_parse(decode_frontend(as_bytes(p), {}).frame.body);
  ASSERT_TRUE(pm);
  EXPECT_EQ(pm->name, "s1");
  EXPECT_EQ(pm->sql, "select $1, $2");

  std::string b = bind("portal", "s1", {"42", ""});
  auto bm = parse_bind(decode_frontend(as_bytes(b), {}).frame.body);
  ASSERT_TRUE(bm);
  EXPECT_EQ(bm->portal, "portal");
  EXPECT_EQ(bm->statement, "s1");
  std::vector<std::optional<std::string_view>> params;
  bm->decode_params(params);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(*params[0], "42");
  EXPECT_EQ(*params[1], "");

  std::string e = execute("portal", 10);
  auto em = parse_execute(decode_frontend(as_bytes(e), {}).frame.body);
  ASSERT_TRUE(em);
  EXPECT_EQ(em->portal, "portal");
  EXPECT_EQ(em->max_rows, 10);
}

TEST(Frontend, BindFormatCodes) {
  // Portal "", statement "s"; one parameter format (binary, for all); two parameters; three
  // result formats (text, binary, text).
  std::string body(
      "\0s\0\0\x01\0\x01\0\x02\0\0\0\x01"
      "a\0\0\0\x01"
      "b\0\x03\0\0\0\x01\0\0",
      27);
  auto bm = parse_bind(as_bytes(body));
  ASSERT_TRUE(bm);
  EXPECT_EQ(bm->param_format(0), 1);
  EXPECT_EQ(bm->param_format(1), 1);  // the one code applies to every parameter
  EXPECT_EQ(bm->result_format(0), 0);
  EXPECT_EQ(bm->result_format(1), 1);
  EXPECT_EQ(bm->result_format(2), 0);
  EXPECT_EQ(bm->result_format(3), 0);  // past the codes given: text
  auto none = parse_bind(as_bytes(std::string("\0s\0\0\0\0\0\0\0", 9)));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->param_format(0), 0);
  EXPECT_EQ(none->result_format(0), 0);
}

TEST(Frontend, BindWithNullAndTruncatedParameters) {
  std::string body("\0s\0\0\0\0\x01\xff\xff\xff\xff\0\0", 13);  // one NULL parameter
  auto bm = parse_bind(as_bytes(body));
  ASSERT_TRUE(bm);
  std::vector<std::optional<std::string_view>> params;
  bm->decode_params(params);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_FALSE(params[0].has_value());
  std::string truncated(
      "\0s\0\0\0\0\x01\0\0\0\x09"
      "abc",
      14);  // says 9 bytes, has 3
  EXPECT_FALSE(parse_bind(as_bytes(truncated)));
  std::string negative("\0s\0\0\0\0\x01\xff\xff\xff\xfe\0\0", 13);  // length -2
  EXPECT_FALSE(parse_bind(as_bytes(negative)));
}

TEST(Backend, ErrorRowDescriptionAndDataRowRoundTrip) {
  ErrorReport r;
  r.severity = "FATAL";
  r.sqlstate = "28P01";
  r.message = "sluice: nope";
  r.hint = "try again";
  std::string e;
  append_error(e, r);
  auto msgs = split(e);
  ASSERT_EQ(msgs.size(), 1u);
  auto f = error_of(msgs[0]);
  EXPECT_EQ(f.severity, "FATAL");
  EXPECT_EQ(f.sqlstate, "28P01");
  EXPECT_EQ(f.message, "sluice: nope");
  EXPECT_EQ(f.hint, "try again");

  std::vector<Cell> cells{std::string_view("a"), std::nullopt, std::string_view("")};
  std::string d;
  append_data_row(d, cells);
  std::vector<Cell> back;
  auto rows = split(d);
  ASSERT_TRUE(parse_data_row(as_bytes(rows[0].body), back));
  EXPECT_EQ(back, cells);
  // A cell longer than the message is rejected.
  std::string bad("\0\x01\0\0\0\x10xyz", 9);
  EXPECT_FALSE(parse_data_row(as_bytes(bad), back));
}

TEST(Backend, AuthenticationAndSaslMechanisms) {
  std::string s;
  append_auth_sasl(s, {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"});
  auto m = split(s);
  auto a = parse_authentication(as_bytes(m[0].body));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->code, AuthCode::sasl);
  auto mechs = parse_sasl_mechanisms(a->data);
  ASSERT_TRUE(mechs);
  EXPECT_EQ(mechs->size(), 2u);
  EXPECT_EQ((*mechs)[1], "SCRAM-SHA-256-PLUS");
}

TEST(Backend, NegotiateProtocolVersionLayout) {
  std::string s;
  append_negotiate_protocol_version(s, 0, {"_pq_.fancy"});
  auto m = split(s);
  ASSERT_EQ(m[0].type, 'v');
  EXPECT_EQ(m[0].body, std::string("\0\0\0\0\0\0\0\x01", 8) + "_pq_.fancy" + std::string(1, '\0'));
}

TEST(JsonWriter, NestsSeparatesAndEmbedsRawValues) {
  std::string out;
  sluice::JsonWriter w(out);
  w.begin_object().field("a", std::uint64_t{1}).key("b").begin_array();
  w.begin_object().end_object().begin_array().null().boolean(true).end_array().string("x\"y");
  w.end_array().key("c").raw("[1,{\"d\":2}]").field("e", std::string_view("\xff"));
  w.end_object();
  EXPECT_EQ(out, R"({"a":1,"b":[{},[null,true],"x\"y"],"c":[1,{"d":2}],"e":{"base64":"/w=="}})");
  std::string deep;
  sluice::JsonWriter d(deep);
  for (int i = 0; i < 63; ++i) d.begin_array();
  EXPECT_THROW(d.begin_array(), std::length_error);
}

// The eight-bytes-at-a-time escape against a byte-at-a-time reference, over strings that put
// every byte value at every offset, at every length up to 19: under one word (checked byte
// by byte), whole words, and a tail read as an overlapping last word.
TEST(JsonWriter, EscapesEveryByteAsTheReferenceDoes) {
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"') {
        out += "\\\"";
      } else if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    return out + "\"";
  };
  for (std::size_t length = 1; length <= 19; ++length) {
    for (int c = 0; c < 256; ++c) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string s(length, 'a');
        s[at] = static_cast<char>(c);
        if (at + 1 < s.size()) s[at + 1] = static_cast<char>(255 - c);
        std::string out;
        sluice::JsonWriter(out).string(s);
        ASSERT_EQ(out, reference(s)) << "byte " << c << " at " << at << " of " << length;
      }
    }
  }
  std::string empty;
  sluice::JsonWriter(empty).string("");
  EXPECT_EQ(empty, "\"\"");
}

TEST(Utf8, ValidatesStrictly) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(
      is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
                    "!"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xff"));
  // Past the eight-bytes-at-a-time ASCII scan, in and after a whole block.
  EXPECT_FALSE(is_valid_utf8("0123456789abcdef\xed\xa0\x80"));
  EXPECT_FALSE(is_valid_utf8("01234567\xc0\xaf"));
  EXPECT_TRUE(
      is_valid_utf8("0123456\xc3\xa9"
                    "0123456789"));
  EXPECT_FALSE(is_valid_utf8("0123456\xc3"));
}

}  // namespace
}  // namespace sluice::pg
