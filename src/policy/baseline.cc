#include "policy/baseline.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <string>

namespace sluice::policy {
namespace {

// pg_catalog functions that read their arguments and nothing else: no files, no other
// servers, no SQL in strings, no settings, no locks, no catalog. Sequence functions are here
// for write grants; read grants refuse them separately.
constexpr std::string_view kSafeFunctions[] = {
    // aggregates
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "bit_and",
    "bit_or",
    "bit_xor",
    "range_agg",
    "range_intersect_agg",
    // window functions
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // strings
    "lower",
    "upper",
    "initcap",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "substr",
    "substring",
    "left",
    "right",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "lpad",
    "rpad",
    "replace",
    "translate",
    "concat",
    "concat_ws",
    "position",
    "strpos",
    "split_part",
    "starts_with",
    "reverse",
    "repeat",
    "format",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "to_char",
    "to_number",
    "to_date",
    "to_timestamp",
    "regexp_match",
    "regexp_matches",
    "regexp_replace",
    "regexp_split_to_array",
    "regexp_split_to_table",
    "regexp_like",
    "regexp_count",
    "regexp_instr",
    "regexp_substr",
    "ascii",
    "chr",
    "encode",
    "decode",
    "string_to_array",
    "array_to_string",
    "string_to_table",
    "md5",
    "sha256",
    "sha224",
    "sha384",
    "sha512",
    "overlay",
    "normalize",
    "unistr",
    "to_hex",
    "textcat",
    // numbers
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "trunc",
    "sign",
    "sqrt",
    "cbrt",
    "power",
    "pow",
    "exp",
    "ln",
    "log",
    "log10",
    "mod",
    "div",
    "pi",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "random",
    "width_bucket",
    "gcd",
    "lcm",
    "scale",
    "min_scale",
    "trim_scale",
    "numeric",
    "int4",
    "int8",
    "float8",
    "text",
    // dates and times
    "now",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "date_bin",
    "isfinite",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "timezone",
    "timeofday",
    // JSON
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "to_json",
    "to_jsonb",
    "row_to_json",
    "array_to_json",
    "json_extract_path",
    "jsonb_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path_text",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_each",
    "jsonb_each",
    "json_each_text",
    "jsonb_each_text",
    "json_object_keys",
    "jsonb_object_keys",
    "json_array_length",
    "jsonb_array_length",
    "json_typeof",
    "jsonb_typeof",
    "jsonb_pretty",
    "jsonb_strip_nulls",
    "json_strip_nulls",
    "jsonb_set",
    "jsonb_insert",
    "jsonb_path_query",
    "jsonb_path_query_array",
    "jsonb_path_query_first",
    "jsonb_path_exists",
    "jsonb_path_match",
    "json_populate_record",
    "jsonb_populate_record",
    "json_to_record",
    "jsonb_to_record",
    "json_to_recordset",
    "jsonb_to_recordset",
    "json_object",
    "jsonb_object",
    // arrays and sets
    "array_length",
    "array_lower",
    "array_upper",
    "array_ndims",
    "array_dims",
    "cardinality",
    "unnest",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_position",
    "array_positions",
    "array_remove",
    "array_replace",
    "array_fill",
    "generate_series",
    "generate_subscripts",
    "trim_array",
    // conditionals and misc
    "num_nulls",
    "num_nonnulls",
    "version",
    "current_database",
    "gen_random_uuid",
    "pg_typeof",
    "isempty",
    "lower_inf",
    "upper_inf",
    "range_merge",
    // full text search
    "to_tsvector",
    "to_tsquery",
    "plainto_tsquery",
    "phraseto_tsquery",
    "websearch_to_tsquery",
    "ts_rank",
    "ts_rank_cd",
    "ts_headline",
    "setweight",
    "strip",
    // sequences (refused separately for read grants)
    "nextval",
    "currval",
    "lastval",
};

// Settings an agent may change: they affect formatting and its own waits, never how SQL is
// lexed, which objects names resolve to, or who the session is.
constexpr std::string_view kAgentSettings[] = {
    "timezone",
    "time zone",
    "datestyle",
    "intervalstyle",
    "extra_float_digits",
    "lock_timeout",
    "statement_timeout",
    "transaction_isolation",
    "transaction_deferrable",
    "default_transaction_isolation",
    "transaction_read_only",
    "idle_in_transaction_session_timeout",
};

constexpr std::array<std::string_view, 4> kSequenceFunctions{
    {"nextval", "setval", "currval", "lastval"}};
constexpr std::array<std::string_view, 3> kLockFunctionPrefixes{
    {"pg_advisory", "pg_try_advisory", "pg_lock"}};

std::string bare_name(std::string_view qualified) {
  auto dot = qualified.rfind('.');
  return std::string(dot == std::string_view::npos ? qualified : qualified.substr(dot + 1));
}

bool read_grant(const EvalContext& c) {
  return c.session.scope.access == hook::GrantScope::Access::read;
}

Rule rule(std::string name, Predicate check, std::string reason) {
  Rule r;
  r.name = std::move(name);
  r.check = std::move(check);
  r.action = Action::deny;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

bool is_safe_function(std::string_view qualified) {
  if (qualified.substr(0, 11) != "pg_catalog.") return false;
  std::string_view bare = qualified.substr(11);
  return std::find(std::begin(kSafeFunctions), std::end(kSafeFunctions), bare) !=
         std::end(kSafeFunctions);
}

bool is_agent_setting(std::string_view s) {
  return std::find(std::begin(kAgentSettings), std::end(kAgentSettings), s) !=
         std::end(kAgentSettings);
}

std::vector<Rule> agent_baseline(const BaselineOptions& opt) {
  using sql::Facts;
  using sql::Kind;
  std::vector<Rule> rules;

  rules.push_back(rule(
      "baseline-ddl",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        for (Kind k : {Kind::create, Kind::alter, Kind::drop, Kind::truncate})
          if (f.has_effect(k))
            return std::string(sql::to_string(k)) +
                   (f.object_type.empty() ? "" : " " + f.object_type) +
                   " changes the schema; agents may not run DDL";
        if (f.select_into)
          return std::string("SELECT ... INTO creates a table; agents may not run DDL");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-dcl",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        if (f.has_effect(Kind::grant) || f.has_effect(Kind::revoke))
          return std::string("privileges are not changed through the gateway");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-server-files",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        if (f.copy_program)
          return std::string("COPY to or from a program runs a command on the database server");
        if (f.copy_file)
          return std::string("COPY to or from a file reads or writes the database server's files");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-code",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        if (f.has_effect(Kind::do_))
          return std::string("DO runs procedural code the gateway cannot check");
        if (f.has_effect(Kind::call))
          return std::string("CALL runs a procedure the gateway cannot check");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-functions",
      [allowed = opt.allow_functions](const Facts& f,
                                      const EvalContext&) -> std::optional<std::string> {
        for (const auto& fn : f.functions) {
          if (is_safe_function(fn)) continue;
          bool extra = std::any_of(allowed.begin(), allowed.end(),
                                   [&](const std::string& g) { return glob_match(g, fn); });
          if (!extra) return "function " + fn + " is not on the list of functions agents may call";
        }
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-settings",
      [allowed = opt.allow_settings](const Facts& f,
                                     const EvalContext& c) -> std::optional<std::string> {
        for (const auto& s : f.settings) {
          if (s == "*")
            return std::string(
                "resetting every setting (RESET ALL, DISCARD ALL) would undo the gateway's pinned "
                "settings");
          bool ok =
              is_agent_setting(s) || std::find(allowed.begin(), allowed.end(), s) != allowed.end();
          if (ok && read_grant(c) &&
              (s == "transaction_read_only" || s == "default_transaction_read_only"))
            ok = false;
          if (!ok) return "setting " + s + " may not be changed by agents (the gateway pins it)";
        }
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-catalog",
      [allowed = opt.allow_relations](const Facts& f,
                                      const EvalContext&) -> std::optional<std::string> {
        auto catalog = [](const std::string& r) {
          return r.rfind("pg_catalog.", 0) == 0 || r.rfind("information_schema.", 0) == 0;
        };
        for (const auto& w : f.writes)
          if (catalog(w)) return "writing " + w + " changes the server's catalog or settings";
        for (const auto& r : f.reads) {
          if (!catalog(r)) continue;
          bool ok = std::any_of(allowed.begin(), allowed.end(),
                                [&](const NamePattern& p) { return p.matches_relation(r); });
          if (!ok) return "reading " + r + " exposes the catalog or statistics";
        }
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-explain-analyze",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        if (f.explain_analyze) return std::string("EXPLAIN ANALYZE runs the statement it explains");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-listen-notify",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        for (Kind k : {Kind::listen, Kind::notify, Kind::unlisten})
          if (f.has_effect(k))
            return std::string("LISTEN and NOTIFY are channels outside the gateway's checks");
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-utility",
      [](const Facts& f, const EvalContext&) -> std::optional<std::string> {
        for (Kind k : {Kind::vacuum, Kind::analyze, Kind::utility})
          if (f.has_effect(k))
            return std::string(sql::to_string(k)) +
                   (f.object_type.empty() ? "" : " (" + f.object_type + ")") +
                   " is a maintenance or server command";
        return std::nullopt;
      },
      ""));
  rules.push_back(rule(
      "baseline-read-only",
      [](const Facts& f, const EvalContext& c) -> std::optional<std::string> {
        if (!read_grant(c)) return std::nullopt;
        if (f.data_modifying_cte)
          return std::string("this grant is read-only and the statement writes in a WITH clause");
        if (f.row_locks || f.has_effect(Kind::lock))
          return std::string("this grant is read-only and the statement takes row or table locks");
        for (const auto& fn : f.functions) {
          std::string bare = bare_name(fn);
          if (std::find(kSequenceFunctions.begin(), kSequenceFunctions.end(), bare) !=
                  kSequenceFunctions.end() &&
              bare != "currval" && bare != "lastval")
            return "this grant is read-only and " + fn + " advances a sequence";
          for (auto prefix : kLockFunctionPrefixes)
            if (bare.rfind(prefix, 0) == 0)
              return "this grant is read-only and " + fn + " takes a lock";
        }
        if (f.read_write_transaction)
          return std::string("this grant is read-only; READ WRITE transactions are not allowed");
        return std::nullopt;
      },
      ""));
  return rules;
}

}  // namespace sluice::policy
