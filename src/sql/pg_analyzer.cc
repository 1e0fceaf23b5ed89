#include "sql/pg_analyzer.h"

#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/bytes.h"
#include "sql/pg_tree.h"

// The walker reads PostgreSQL's raw parse tree through PgNode (pg_tree.h), which presents it
// as libpg_query's JSON output does: a `Node*` field is a wrapped node (`type()`, `body()`); a
// typed struct field (a RangeVar `relation`, an Alias) is the bare fields; false, zero and
// empty fields read as absent. Measured on this machine, serialising the tree to JSON cost
// 2-4x the parse itself (bench/RESULTS.md).

namespace sluice::sql {
namespace {

using J = PgNode;

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

std::string S(std::string_view s) {
  return std::string(s);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The text of a String node (names in lists).
std::string string_of(J n) {
  if (n.type() == "String") return S(n.body()["sval"].str());
  return {};
}

bool is_star(J n) {
  return n.type() == "A_Star";
}

// "OBJECT_TABLE" -> "table"
std::string enum_label(std::string_view value, std::string_view prefix) {
  std::string s(value);
  if (s.rfind(prefix, 0) == 0) s = s.substr(prefix.size());
  return lower(s);
}

// Set when the walk read a literal's value (ORDER BY 2, set_config('search_path', ...)): the
// analysis then holds for this text only, not for every text of its literal shape.
thread_local bool t_read_literal = false;

// How deep the walk is, and whether it gave up for depth. The parser builds trees of any
// depth without recursing (`select 1+1+1...` or `not not ... true` nest one level per few
// bytes of text) and the walk recurses once per level, so the walk stops at kMaxNesting
// levels, or earlier when less than kStackReserve of the thread's stack is left (frames are
// far larger in sanitizer builds), and the analysis is an error: fail closed, and no stack
// overflow that would end every session. 1000 levels is far beyond written or generated
// SQL; PostgreSQL's own analysis stops at max_stack_depth (2 MB by default).
constexpr int kMaxNesting = 1000;
constexpr std::size_t kStackReserve = 256 * 1024;
thread_local int t_nesting = 0;
thread_local bool t_too_deep = false;
// A view the statement reads whose own definition could not be analysed (its lineage is
// unknown): the statement is refused.
thread_local std::string t_unknown_view;

// Bytes of this thread's stack below the current frame; SIZE_MAX when unknown.
std::size_t stack_left() {
  thread_local const char* const low = [] {
    const char* base = nullptr;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      std::size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) base = static_cast<const char*>(addr);
      pthread_attr_destroy(&attr);
    }
    return base;
  }();
  const char* here = static_cast<const char*>(__builtin_frame_address(0));
  if (!low || here < low) return SIZE_MAX;
  return static_cast<std::size_t>(here - low);
}

class NestingGuard {
 public:
  NestingGuard() { ++t_nesting; }
  ~NestingGuard() { --t_nesting; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  // False, and the walk is marked as given up, when this level is too deep to walk.
  bool ok() const {
    if (t_nesting <= kMaxNesting && stack_left() > kStackReserve) return true;
    t_too_deep = true;
    return false;
  }
};

// An integer constant of an A_Const body; absent counts as zero.
bool int_const(J body, std::int64_t& out) {
  t_read_literal = true;
  J v = body["ival"];
  if (!v) return false;
  out = v["ival"].integer();
  return true;
}

// ---- lineage and scopes ----------------------------------------------------------------------

struct Lineage {
  std::vector<std::string> sources;    // schema.table.column
  std::vector<std::string> functions;  // functions (and casts, operators) on the way
  bool direct = false;
  void merge(const Lineage& o) {
    for (const auto& s : o.sources) add_unique(sources, s);
    for (const auto& f : o.functions) add_unique(functions, f);
    direct = false;
  }
};

struct Column {
  std::string name;
  Lineage lineage;
};

struct RangeItem {
  std::string alias;   // the name the query refers to it by
  std::string schema;  // relations: for schema.table.column references
  std::string table;
  std::string relation;  // relations: the relation whose policy applies; "" otherwise
  std::vector<Column> columns;
  bool columns_known = true;
};

struct Cte {
  std::string name;
  std::vector<Column> columns;
  bool columns_known = true;
};

struct Scope {
  const Scope* parent = nullptr;
  std::vector<RangeItem> items;
  std::vector<Cte> ctes;
  const std::vector<Column>* outputs = nullptr;  // for ORDER BY / GROUP BY by name or position
};

std::string split_last(const std::string& qualified_column, std::string* relation) {
  auto dot = qualified_column.rfind('.');
  if (relation) *relation = qualified_column.substr(0, dot);
  return qualified_column.substr(dot + 1);
}

std::string figure_name(J n) {
  NestingGuard nesting;
  if (!nesting.ok()) return "?column?";
  std::string_view t = n.type();
  J b = n.body();
  if (t == "ColumnRef") {
    std::size_t k = b["fields"].size();
    J last = b["fields"].at(k ? k - 1 : 0);
    return k && !is_star(last) ? string_of(last) : "?column?";
  }
  if (t == "FuncCall") {
    std::size_t k = b["funcname"].size();
    return k ? string_of(b["funcname"].at(k - 1)) : "?column?";
  }
  if (t == "TypeCast") {
    std::string inner = figure_name(b["arg"]);
    if (inner != "?column?") return inner;
    std::size_t k = b["typeName"]["names"].size();
    return k ? string_of(b["typeName"]["names"].at(k - 1)) : inner;
  }
  if (t == "A_Indirection") {
    J ind = b["indirection"];
    for (std::size_t i = ind.size(); i-- > 0;)
      if (ind.at(i).type() == "String") return string_of(ind.at(i));
    return figure_name(b["arg"]);
  }
  if (t == "CaseExpr") return "case";
  if (t == "CoalesceExpr") return "coalesce";
  if (t == "SubLink") {
    std::string_view k = b["subLinkType"].str();
    if (k == "EXISTS_SUBLINK") return "exists";
    if (k == "ARRAY_SUBLINK") return "array";
  }
  return "?column?";
}

// ---- the walker ------------------------------------------------------------------------------

class Walker {
 public:
  Walker(const Catalog& catalog, Facts& facts, int depth = 0)
      : cat_(catalog), f_(facts), depth_(depth) {}

  void statement(J n);

 private:
  void effect(Kind k) { add_unique(f_.effects, k); }
  void read(const std::string& rel) { add_unique(f_.reads, rel); }
  void write(const std::string& rel) { add_unique(f_.writes, rel); }
  void use(const Lineage& l, Clause clause);
  void unresolved(const std::string& name) { add_unique(f_.unresolved, name); }

  std::vector<Column> select(J s, const Scope* parent, Clause ctx);
  void with_clause(J w, Scope& scope);
  void from_item(J n, Scope& scope, const Scope* outer);
  RangeItem relation_item(J rv, const Scope* lookup, bool is_write, bool creating = false);
  const Cte* find_cte(const Scope* s, const std::string& name) const;
  std::vector<Column> target_list(J list, const Scope& scope, Clause clause);
  std::vector<Column> star(const Scope& scope, const std::string& qualifier);
  Lineage expr(J n, const Scope& scope, Clause clause);
  Lineage column_ref(J c, const Scope& scope, Clause clause);
  Lineage func_call(J fc, const Scope& scope, Clause clause);
  Lineage sublink(J s, const Scope& scope, Clause clause);
  void sort_clause(J list, const Scope& scope, Clause clause);
  void group_clause(J list, const Scope& scope);
  void window_def(J w, const Scope& scope);
  std::string function_name(J parts);
  void generic(J v, const Scope& scope, Clause clause);
  void merge_inner(const Facts& inner, bool effects_too);
  std::shared_ptr<const Facts> analyze_inner(J n);
  void dml_target(J rv, Scope& scope);
  void relation_list(J list, bool is_write);
  void returning(J list, const Scope& scope);
  void set_stmt(J s, bool from_alter);

  const Catalog& cat_;
  Facts& f_;
  int depth_;
  int in_function_ = 0;
};

void Walker::use(const Lineage& l, Clause clause) {
  for (const auto& s : l.sources) {
    std::string rel;
    std::string col = split_last(s, &rel);
    add_unique(f_.columns, ColumnUse{rel, col, clause});
    if (in_function_ > 0) add_unique(f_.columns, ColumnUse{rel, col, Clause::function_arg});
  }
}

const Cte* Walker::find_cte(const Scope* s, const std::string& name) const {
  for (; s; s = s->parent)
    for (auto it = s->ctes.rbegin(); it != s->ctes.rend(); ++it)
      if (it->name == name) return &*it;
  return nullptr;
}

std::string Walker::function_name(J parts) {
  std::size_t n = parts.size();
  std::string name = n ? string_of(parts.at(n - 1)) : std::string();
  std::string schema = n >= 2 ? string_of(parts.at(n - 2)) : std::string();
  std::string resolved = cat_.function_schema(schema, name);
  if (resolved.empty()) {
    unresolved((schema.empty() ? "" : schema + ".") + name + "()");
    resolved =
        schema.empty() ? (cat_.search_path().empty() ? "public" : cat_.search_path()[0]) : schema;
  }
  return resolved + "." + name;
}

RangeItem Walker::relation_item(J rv, const Scope* lookup, bool is_write, bool creating) {
  RangeItem item;
  std::string schema = S(rv["schemaname"].str());
  std::string name = S(rv["relname"].str());
  std::string alias = S(rv["alias"]["aliasname"].str());
  item.alias = alias.empty() ? name : alias;

  // An unqualified name may be a CTE of this query or an enclosing one.
  if (schema.empty() && !is_write) {
    if (const Cte* cte = find_cte(lookup, name)) {
      item.columns = cte->columns;
      item.columns_known = cte->columns_known;
      item.table = name;
      return item;
    }
  }
  auto rel = cat_.find_relation(schema, name);
  if (!rel) {
    // The server will reject it (unless this statement creates it); keep a name so rules
    // still see what was asked for.
    if (!creating) unresolved(schema.empty() ? name : schema + "." + name);
    auto guess = std::make_shared<RelationInfo>();
    guess->schema =
        schema.empty() ? (cat_.search_path().empty() ? "public" : cat_.search_path()[0]) : schema;
    guess->name = name;
    rel = guess;
  }
  item.schema = rel->schema;
  item.table = rel->name;
  const std::string own = rel->qualified();
  if (!rel->lineage_error.empty() && t_unknown_view.empty()) t_unknown_view = own;
  item.relation = rel->policy_relation.empty() ? own : rel->policy_relation;
  add_unique(f_.named, own);
  if (is_write) {
    write(own);
    if (item.relation != own) write(item.relation);
    for (const auto& base : rel->view_reads) write(base);  // writing through a view
  } else {
    read(own);
    if (item.relation != own) read(item.relation);
    for (const auto& base : rel->view_reads) read(base);
  }
  item.columns_known = rel->columns_known;
  for (std::size_t i = 0; i < rel->columns.size(); ++i) {
    Column c;
    c.name = rel->columns[i];
    if (rel->is_view() && i < rel->view_outputs.size()) {
      c.lineage.sources = rel->view_outputs[i].sources;
      c.lineage.functions = rel->view_outputs[i].functions;
      c.lineage.direct = rel->view_outputs[i].direct;
    } else {
      c.lineage.sources = {item.relation + "." + c.name};
      c.lineage.direct = true;
    }
    item.columns.push_back(std::move(c));
  }
  J colnames = rv["alias"]["colnames"];
  for (std::size_t i = 0; i < colnames.size() && i < item.columns.size(); ++i)
    item.columns[i].name = string_of(colnames.at(i));
  return item;
}

std::vector<Column> Walker::star(const Scope& scope, const std::string& qualifier) {
  std::vector<Column> out;
  bool found = false;
  for (const auto& item : scope.items) {
    if (!qualifier.empty() && item.alias != qualifier) continue;
    found = true;
    if (!item.columns_known) {
      Column c;
      c.name = "*";
      c.lineage.sources = {(item.relation.empty() ? item.alias : item.relation) + ".*"};
      out.push_back(std::move(c));
    }
    for (const auto& c : item.columns) out.push_back(c);
  }
  if (!found && !qualifier.empty()) unresolved(qualifier + ".*");
  return out;
}

// Resolves a column reference the way PostgreSQL's transformColumnRef does: a column of an
// item in this or an enclosing scope, else (one name) a whole-row reference to an item.
Lineage Walker::column_ref(J c, const Scope& scope, Clause clause) {
  std::vector<std::string> parts;
  bool star_ref = false;
  c["fields"].each([&](J f) {
    if (is_star(f)) {
      star_ref = true;
    } else {
      parts.push_back(string_of(f));
    }
  });
  Lineage out;
  auto whole_row = [&](const RangeItem& item) {
    Lineage l;
    if (!item.columns_known)
      l.sources.push_back((item.relation.empty() ? item.alias : item.relation) + ".*");
    for (const auto& col : item.columns) l.merge(col.lineage);
    l.direct = false;
    return l;
  };
  auto matches_item = [&](const RangeItem& item, const std::vector<std::string>& qual) {
    // qual: [alias] or [schema, table] or [catalog, schema, table]
    if (qual.size() == 1) return item.alias == qual[0];
    if (item.relation.empty() || item.alias != item.table) return false;  // aliased: no
    return item.table == qual.back() && item.schema == qual[qual.size() - 2];
  };

  if (star_ref) {  // t.* outside a target list: the whole row
    for (const Scope* s = &scope; s; s = s->parent) {
      for (const auto& item : s->items)
        if (parts.empty() || matches_item(item, parts)) out.merge(whole_row(item));
      if (!out.sources.empty()) break;
    }
    use(out, clause);
    return out;
  }
  if (parts.empty()) return out;
  const std::string& col = parts.back();
  std::vector<std::string> qual(parts.begin(), parts.end() - 1);

  for (const Scope* s = &scope; s; s = s->parent) {
    bool found = false;
    for (const auto& item : s->items) {
      if (!qual.empty() && !matches_item(item, qual)) continue;
      for (const auto& ic : item.columns) {
        if (ic.name == col) {
          out.merge(ic.lineage);
          out.direct = ic.lineage.direct;
          found = true;
          break;
        }
      }
    }
    if (found) {
      use(out, clause);
      return out;
    }
    // Not a known column: an item whose columns are unknown may hold it.
    std::vector<const RangeItem*> unknown;
    for (const auto& item : s->items)
      if (!item.columns_known && (qual.empty() || matches_item(item, qual)))
        unknown.push_back(&item);
    if (!unknown.empty()) {
      for (const RangeItem* item : unknown)
        add_unique(out.sources,
                   (item->relation.empty() ? item->alias : item->relation) + "." + col);
      out.direct = unknown.size() == 1;
      use(out, clause);
      return out;
    }
    // One name that is an item: a whole-row reference (SELECT t FROM t).
    if (qual.empty()) {
      for (const auto& item : s->items) {
        if (item.alias == col) {
          out = whole_row(item);
          use(out, clause);
          return out;
        }
      }
    }
    // Two names a.b where a is a column of composite type: a field of that column.
    if (qual.size() == 1) {
      for (const auto& item : s->items)
        for (const auto& ic : item.columns)
          if (ic.name == qual[0]) {
            out.merge(ic.lineage);
            use(out, clause);
            return out;
          }
    }
  }
  std::string full;
  for (const auto& p : parts) full += (full.empty() ? "" : ".") + p;
  unresolved(full);
  return out;
}

Lineage Walker::func_call(J fc, const Scope& scope, Clause clause) {
  std::string fn = function_name(fc["funcname"]);
  add_unique(f_.functions, fn);
  // Functions that change settings, with the setting's name when it is a constant.
  std::string bare = fn.substr(fn.rfind('.') + 1);
  if (bare == "set_config") {
    std::string setting = "*";
    J first = fc["args"].at(0);
    if (first.type() == "A_Const" && first.body()["sval"]) {
      t_read_literal = true;
      setting = S(first.body()["sval"]["sval"].str());
    }
    add_unique(f_.settings, lower(setting));
  }
  Lineage out;
  ++in_function_;
  fc["args"].each([&](J a) { out.merge(expr(a, scope, clause)); });
  fc["agg_order"].each([&](J o) {
    if (o.type() == "SortBy") out.merge(expr(o.body()["node"], scope, Clause::order));
  });
  --in_function_;
  if (fc["agg_filter"]) expr(fc["agg_filter"], scope, Clause::where);
  if (fc["over"]) window_def(fc["over"], scope);
  add_unique(out.functions, fn);
  out.direct = false;
  return out;
}

Lineage Walker::sublink(J s, const Scope& scope, Clause clause) {
  Lineage out;
  if (s["testexpr"]) out.merge(expr(s["testexpr"], scope, clause));
  J sub = s["subselect"];
  if (sub.type() == "SelectStmt") {
    auto cols = select(sub.body(), &scope, Clause::output);
    std::string_view kind = s["subLinkType"].str();
    if (kind == "EXPR_SUBLINK" || kind == "ARRAY_SUBLINK")
      for (const auto& c : cols) out.merge(c.lineage);
  }
  out.direct = false;
  return out;
}

void Walker::window_def(J w, const Scope& scope) {
  w["partitionClause"].each([&](J p) { expr(p, scope, Clause::window); });
  sort_clause(w["orderClause"], scope, Clause::window);
  if (w["startOffset"]) expr(w["startOffset"], scope, Clause::other);
  if (w["endOffset"]) expr(w["endOffset"], scope, Clause::other);
}

// Every expression node: what it reads (recorded with `clause`) and what its value derives from.
Lineage Walker::expr(J n, const Scope& scope, Clause clause) {
  NestingGuard nesting;
  if (!nesting.ok()) return {};
  Lineage out;
  if (!n) return out;
  std::string_view t = n.type();
  J b = n.body();
  if (t == "ColumnRef") return column_ref(b, scope, clause);
  if (t == "FuncCall") return func_call(b, scope, clause);
  if (t == "SubLink") return sublink(b, scope, clause);
  if (t == "A_Const" || t == "ParamRef" || t == "SQLValueFunction") return out;
  if (t == "TypeCast") {
    out = expr(b["arg"], scope, clause);
    J names = b["typeName"]["names"];
    std::string type = names.size() ? string_of(names.at(names.size() - 1)) : "";
    add_unique(out.functions, "::" + type);
    out.direct = false;
    return out;
  }
  if (t == "A_Expr") {
    std::size_t k = b["name"].size();
    std::string op = k ? string_of(b["name"].at(k - 1)) : "";
    out.merge(expr(b["lexpr"], scope, clause));
    out.merge(expr(b["rexpr"], scope, clause));
    if (!op.empty()) add_unique(out.functions, "op:" + op);
    return out;
  }
  if (t == "BoolExpr") {
    b["args"].each([&](J a) { out.merge(expr(a, scope, clause)); });
    return out;
  }
  if (t == "CollateClause") {
    out = expr(b["arg"], scope, clause);
    out.direct = false;
    return out;
  }
  if (t == "A_Indirection") {
    out = expr(b["arg"], scope, clause);
    b["indirection"].each([&](J ind) {
      if (ind.type() == "A_Indices") {
        expr(ind.body()["lidx"], scope, clause);
        expr(ind.body()["uidx"], scope, clause);
      }
    });
    out.direct = false;
    return out;
  }
  if (t == "CaseExpr") {
    out.merge(expr(b["arg"], scope, clause));
    b["args"].each([&](J w) {
      if (w.type() == "CaseWhen") {
        out.merge(expr(w.body()["expr"], scope, clause));
        out.merge(expr(w.body()["result"], scope, clause));
      }
    });
    out.merge(expr(b["defresult"], scope, clause));
    add_unique(out.functions, std::string("case"));
    return out;
  }
  if (t == "SortBy") return expr(b["node"], scope, clause);
  // Anything else (COALESCE, GREATEST, NULLIF, ROW, ARRAY, IS NULL, XML, ...): every child
  // expression contributes; nothing is skipped.
  auto child = [&](J v) {
    if (!v.type().empty()) {
      out.merge(expr(v, scope, clause));
    } else {
      generic(v, scope, clause);
    }
  };
  if (b.is_object()) {
    b.members([&](std::string_view, J v) {
      if (v.is_array()) {
        v.each(child);
      } else if (v.is_object()) {
        child(v);
      }
    });
  } else if (n.is_array()) {
    n.each(child);
  }
  out.direct = false;
  return out;
}

// A subtree with no specific rule: record every column, function, relation and sub-query in it.
void Walker::generic(J v, const Scope& scope, Clause clause) {
  NestingGuard nesting;
  if (!nesting.ok()) return;
  if (v.is_array()) {
    v.each([&](J x) { generic(x, scope, clause); });
    return;
  }
  if (!v.is_object()) return;
  std::string_view t = v.type();
  if (t == "ColumnRef" || t == "FuncCall" || t == "SubLink" || t == "A_Expr" || t == "TypeCast") {
    expr(v, scope, clause);
    return;
  }
  if (t == "SelectStmt") {
    select(v.body(), &scope, Clause::output);
    return;
  }
  if (t == "RangeVar") {
    relation_item(v.body(), &scope, false);
    return;
  }
  if (t.empty()) {
    // A typed struct field: a bare RangeVar or FuncCall is recognised by its fields.
    if (v["relname"]) {
      relation_item(v, &scope, false);
      return;
    }
    if (v["funcname"]) {
      func_call(v, scope, clause);
      return;
    }
  }
  v.members([&](std::string_view, J x) {
    if (x.is_array() || x.is_object()) generic(x, scope, clause);
  });
}

void Walker::sort_clause(J list, const Scope& scope, Clause clause) {
  list.each([&](J item) {
    J e = item.type() == "SortBy" ? item.body()["node"] : item;
    // ORDER BY 2 and ORDER BY output_name refer to the select list.
    std::int64_t pos = 0;
    if (scope.outputs && e.type() == "A_Const" && int_const(e.body(), pos)) {
      if (pos >= 1 && static_cast<std::size_t>(pos) <= scope.outputs->size())
        use((*scope.outputs)[pos - 1].lineage, clause);
      return;
    }
    if (scope.outputs && e.type() == "ColumnRef" && e.body()["fields"].size() == 1 &&
        (clause == Clause::order || clause == Clause::group)) {
      std::string name = string_of(e.body()["fields"].at(0));
      auto it = std::find_if(scope.outputs->begin(), scope.outputs->end(),
                             [&](const Column& c) { return c.name == name; });
      if (it != scope.outputs->end()) {
        use(it->lineage, clause);
        return;
      }
    }
    expr(e, scope, clause);
  });
}

void Walker::group_clause(J list, const Scope& scope) {
  NestingGuard nesting;
  if (!nesting.ok()) return;
  list.each([&](J e) {
    if (e.type() == "GroupingSet") {
      group_clause(e.body()["content"], scope);
      return;
    }
    // GROUP BY (1, 2) and ROLLUP((a, b)): the server flattens a parenthesised list into its
    // items, positions included. ROW(...) is flattened too: reporting its items is the
    // stricter reading.
    if (e.type() == "RowExpr") {
      group_clause(e.body()["args"], scope);
      return;
    }
    std::int64_t pos = 0;
    if (scope.outputs && e.type() == "A_Const" && int_const(e.body(), pos)) {
      if (pos >= 1 && static_cast<std::size_t>(pos) <= scope.outputs->size())
        use((*scope.outputs)[pos - 1].lineage, Clause::group);
      return;
    }
    Lineage l = expr(e, scope, Clause::group);
    // GROUP BY output_name, when no input column has that name.
    if (l.sources.empty() && scope.outputs && e.type() == "ColumnRef" &&
        e.body()["fields"].size() == 1) {
      std::string name = string_of(e.body()["fields"].at(0));
      for (const auto& c : *scope.outputs)
        if (c.name == name) use(c.lineage, Clause::group);
    }
  });
}

std::vector<Column> Walker::target_list(J list, const Scope& scope, Clause clause) {
  std::vector<Column> out;
  list.each([&](J item) {
    if (item.type() != "ResTarget") {
      expr(item, scope, clause);
      return;
    }
    J rt = item.body();
    J v = rt["val"];
    // SELECT * and SELECT t.* expand to columns.
    if (v.type() == "ColumnRef") {
      J fields = v.body()["fields"];
      std::size_t k = fields.size();
      if (k && is_star(fields.at(k - 1))) {
        std::string qualifier = k >= 2 ? string_of(fields.at(k - 2)) : std::string();
        for (auto& c : star(scope, qualifier)) {
          use(c.lineage, clause);
          out.push_back(std::move(c));
        }
        return;
      }
    }
    Column c;
    c.lineage = expr(v, scope, clause);
    std::string_view name = rt["name"].str();
    c.name = name.empty() ? figure_name(v) : S(name);
    out.push_back(std::move(c));
  });
  return out;
}

void Walker::with_clause(J w, Scope& scope) {
  if (!w) return;
  const bool recursive = w["recursive"].boolean();
  w["ctes"].each([&](J cn) {
    if (cn.type() != "CommonTableExpr") return;
    J cte = cn.body();
    Cte def;
    def.name = S(cte["ctename"].str());
    J q = cte["ctequery"];
    J aliases = cte["aliascolnames"];
    auto rename = [&](std::vector<Column>& c) {
      for (std::size_t k = 0; k < aliases.size() && k < c.size(); ++k)
        c[k].name = string_of(aliases.at(k));
    };
    std::vector<Column> cols;
    if (recursive) {
      // The CTE can refer to itself: register it with the columns of its non-recursive term
      // (the left side of its UNION) before walking the whole body.
      Cte pre = def;
      if (q.type() == "SelectStmt" && q.body()["larg"]) {
        pre.columns = select(q.body()["larg"], &scope, Clause::output);
      } else {
        pre.columns_known = aliases.size() > 0;
        for (std::size_t k = 0; k < aliases.size(); ++k) pre.columns.push_back({"", {}});
      }
      rename(pre.columns);
      scope.ctes.push_back(pre);
    }
    if (q.type() == "SelectStmt") {
      cols = select(q.body(), &scope, Clause::output);
      if (recursive) {
        // Second pass: the recursive reference now carries the body's lineage.
        rename(cols);
        scope.ctes.back().columns = cols;
        scope.ctes.back().columns_known = true;
        cols = select(q.body(), &scope, Clause::output);
      }
    } else if (q) {
      // INSERT/UPDATE/DELETE/MERGE in WITH: a data-modifying CTE.
      f_.data_modifying_cte = true;
      Facts inner;
      Walker sub(cat_, inner, depth_ + 1);
      sub.statement(q);
      merge_inner(inner, true);
      for (const auto& o : inner.outputs)
        cols.push_back({o.name, {o.sources, o.functions, o.direct}});
    }
    rename(cols);
    def.columns = std::move(cols);
    if (recursive) scope.ctes.pop_back();
    scope.ctes.push_back(std::move(def));
  });
}

void Walker::from_item(J n, Scope& scope, const Scope* outer) {
  NestingGuard nesting;
  if (!nesting.ok()) return;
  if (!n) return;
  std::string_view t = n.type();
  J b = n.body();
  if (t == "RangeVar") {
    scope.items.push_back(relation_item(b, &scope, false));
    return;
  }
  if (t == "RangeSubselect") {
    // A sub-select sees the enclosing queries; with LATERAL also the items before it.
    const bool lateral = b["lateral"].boolean();
    Scope ctes_only;
    ctes_only.parent = outer;
    ctes_only.ctes = scope.ctes;
    RangeItem item;
    item.alias = S(b["alias"]["aliasname"].str());
    if (b["subquery"].type() == "SelectStmt")
      for (auto& c : select(b["subquery"].body(), lateral ? &scope : &ctes_only, Clause::output))
        item.columns.push_back(std::move(c));
    J colnames = b["alias"]["colnames"];
    for (std::size_t i = 0; i < colnames.size() && i < item.columns.size(); ++i)
      item.columns[i].name = string_of(colnames.at(i));
    scope.items.push_back(std::move(item));
    return;
  }
  if (t == "RangeFunction") {
    RangeItem item;
    item.alias = S(b["alias"]["aliasname"].str());
    Lineage all;
    b["functions"].each([&](J pair) {
      if (pair.type() != "List") return;
      pair.body()["items"].each([&](J fnode) {
        if (fnode.type() == "FuncCall") {
          all.merge(func_call(fnode.body(), scope, Clause::other));  // functions are lateral
          if (item.alias.empty()) item.alias = figure_name(fnode);
        }
      });
    });
    std::vector<std::string> names;
    b["alias"]["colnames"].each([&](J c) { names.push_back(string_of(c)); });
    b["coldeflist"].each([&](J c) {
      if (c.type() == "ColumnDef") names.push_back(S(c.body()["colname"].str()));
    });
    if (names.empty()) {
      // A scalar function's single column carries the alias's name.
      item.columns.push_back({item.alias, all});
      item.columns_known = false;
    } else {
      for (const auto& nm : names) item.columns.push_back({nm, all});
    }
    scope.items.push_back(std::move(item));
    return;
  }
  if (t == "JoinExpr") {
    from_item(b["larg"], scope, outer);
    from_item(b["rarg"], scope, outer);
    if (b["quals"]) expr(b["quals"], scope, Clause::join);
    b["usingClause"].each([&](J u) {
      std::string col = string_of(u);
      for (const auto& item : scope.items)
        for (const auto& c : item.columns)
          if (c.name == col) use(c.lineage, Clause::join);
    });
    if (b["isNatural"].boolean() && scope.items.size() >= 2) {
      const auto& r = scope.items.back();
      for (const auto& rc : r.columns)
        for (std::size_t k = 0; k + 1 < scope.items.size(); ++k)
          for (const auto& lc : scope.items[k].columns)
            if (lc.name == rc.name) {
              use(lc.lineage, Clause::join);
              use(rc.lineage, Clause::join);
            }
    }
    if (b["alias"]) {
      RangeItem joined;
      joined.alias = S(b["alias"]["aliasname"].str());
      for (const auto& item : scope.items)
        for (const auto& c : item.columns) joined.columns.push_back(c);
      scope.items.push_back(std::move(joined));
    }
    return;
  }
  if (t == "RangeTableSample") {
    from_item(b["relation"], scope, outer);
    b["args"].each([&](J a) { expr(a, scope, Clause::other); });
    if (b["repeatable"]) expr(b["repeatable"], scope, Clause::other);
    return;
  }
  // XMLTABLE and anything newer: walk it, and expose an item with unknown columns.
  generic(n, scope, Clause::other);
  RangeItem item;
  item.columns_known = false;
  scope.items.push_back(std::move(item));
}

std::vector<Column> Walker::select(J s, const Scope* parent, Clause ctx) {
  NestingGuard nesting;
  if (!nesting.ok()) return {};
  Scope scope;
  scope.parent = parent;
  with_clause(s["withClause"], scope);

  std::vector<Column> outputs;
  std::string_view op = s["op"].str();
  if (!op.empty() && op != "SETOP_NONE") {
    auto left = s["larg"] ? select(s["larg"], &scope, ctx) : std::vector<Column>{};
    auto right = s["rarg"] ? select(s["rarg"], &scope, ctx) : std::vector<Column>{};
    outputs = left;
    for (std::size_t i = 0; i < outputs.size() && i < right.size(); ++i)
      outputs[i].lineage.merge(right[i].lineage);
    for (auto& o : outputs) o.lineage.direct = false;
  } else if (s["valuesLists"]) {
    s["valuesLists"].each([&](J row) {
      if (row.type() != "List") return;
      std::size_t k = 0;
      row.body()["items"].each([&](J cell) {
        Lineage l = expr(cell, scope, ctx == Clause::insert_source ? ctx : Clause::other);
        if (outputs.size() <= k) outputs.push_back({"column" + std::to_string(k + 1), {}});
        outputs[k].lineage.merge(l);
        ++k;
      });
    });
  } else {
    s["fromClause"].each([&](J item) { from_item(item, scope, parent); });
    outputs = target_list(s["targetList"], scope, Clause::output);
    scope.outputs = &outputs;
    if (s["whereClause"]) {
      if (depth_ == 0 && parent == nullptr) f_.has_where = true;
      expr(s["whereClause"], scope, Clause::where);
    }
    group_clause(s["groupClause"], scope);
    if (s["havingClause"]) expr(s["havingClause"], scope, Clause::having);
    s["windowClause"].each([&](J w) {
      if (w.type() == "WindowDef") window_def(w.body(), scope);
    });
    // DISTINCT ON partitions the rows like GROUP BY, and its items follow ORDER BY's rules
    // (DISTINCT ON (2) is the second output column).
    sort_clause(s["distinctClause"], scope, Clause::group);
  }
  scope.outputs = &outputs;
  sort_clause(s["sortClause"], scope, Clause::order);
  if (s["limitCount"] || s["limitOffset"]) {
    if (parent == nullptr && depth_ == 0 && s["limitCount"]) f_.has_limit = true;
    expr(s["limitCount"], scope, Clause::other);
    expr(s["limitOffset"], scope, Clause::other);
  }
  if (s["lockingClause"].size()) f_.row_locks = true;
  if (s["intoClause"]["rel"]) {
    f_.select_into = true;
    effect(Kind::create);
    relation_item(s["intoClause"]["rel"], nullptr, true, true);
  }
  return outputs;
}

void Walker::merge_inner(const Facts& inner, bool effects_too) {
  if (effects_too)
    for (Kind k : inner.effects) effect(k);
  for (const auto& r : inner.reads) read(r);
  for (const auto& r : inner.named) add_unique(f_.named, r);
  if (effects_too)
    for (const auto& w : inner.writes) write(w);
  for (const auto& c : inner.columns) add_unique(f_.columns, c);
  for (const auto& fn : inner.functions) add_unique(f_.functions, fn);
  for (const auto& s : inner.settings) add_unique(f_.settings, s);
  for (const auto& u : inner.unresolved) add_unique(f_.unresolved, u);
  f_.row_locks |= inner.row_locks;
  f_.data_modifying_cte |= inner.data_modifying_cte;
  f_.select_into |= inner.select_into;
  f_.copy_file |= inner.copy_file;
  f_.copy_program |= inner.copy_program;
}

std::shared_ptr<const Facts> Walker::analyze_inner(J n) {
  auto inner = std::make_shared<Facts>();
  if (!n) return inner;
  Walker sub(cat_, *inner, depth_);
  sub.statement(n);
  return inner;
}

void Walker::dml_target(J rv, Scope& scope) {
  scope.items.push_back(relation_item(rv, &scope, true));
}

void Walker::relation_list(J list, bool is_write) {
  list.each([&](J r) {
    if (r.type() == "RangeVar") relation_item(r.body(), nullptr, is_write);
  });
}

void Walker::returning(J list, const Scope& scope) {
  auto cols = target_list(list, scope, Clause::returning);
  for (auto& c : cols)
    f_.outputs.push_back({c.name, c.lineage.sources, c.lineage.functions, c.lineage.direct});
}

// Names of a DROP's objects: lists of identifiers for relations.
std::string qualified_object(J obj) {
  if (obj.type() == "List") {
    std::string s;
    obj.body()["items"].each([&](J part) {
      std::string p = string_of(part);
      if (!p.empty()) s += (s.empty() ? "" : ".") + p;
    });
    return s;
  }
  return string_of(obj);
}

// SET, and the SET inside ALTER ROLE/DATABASE/SYSTEM.
void Walker::set_stmt(J s, bool from_alter) {
  static const Scope kEmpty;
  std::string_view kind = s["kind"].str();
  bool reset = kind == "VAR_RESET" || kind == "VAR_RESET_ALL";
  if (!from_alter) {
    f_.kind = reset ? Kind::reset : Kind::set;
    effect(f_.kind);
  }
  std::string name = kind == "VAR_RESET_ALL" ? "*" : lower(S(s["name"].str()));
  if (kind == "VAR_SET_MULTI") {
    // SET TRANSACTION / SET SESSION CHARACTERISTICS AS TRANSACTION ...
    s["args"].each([&](J a) {
      if (a.type() != "DefElem") return;
      std::string opt = S(a.body()["defname"].str());
      add_unique(f_.settings, opt);
      J v = a.body()["arg"];
      std::int64_t iv = 1;
      if (opt == "transaction_read_only" && v.type() == "A_Const" && int_const(v.body(), iv) &&
          iv == 0)
        f_.read_write_transaction = true;
    });
    if (name == "session characteristics")
      add_unique(f_.settings, std::string("default_transaction_read_only"));
  } else {
    add_unique(f_.settings, name.empty() ? std::string("*") : name);
  }
  s["args"].each([&](J a) {
    if (a.type() != "DefElem") expr(a, kEmpty, Clause::other);
  });
}

// "CreateForeignTableStmt" -> "foreign_table" after the verb.
std::string snake_object(std::string_view node, std::string_view verb) {
  std::string_view rest = node.substr(verb.size());
  if (rest.size() > 4 && rest.substr(rest.size() - 4) == "Stmt") rest.remove_suffix(4);
  std::string out;
  for (char c : rest) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

void Walker::statement(J n) {
  NestingGuard nesting;
  if (!nesting.ok()) return;
  static const Scope kEmpty;
  if (!n) return;
  std::string_view t = n.type();
  J s = n.body();
  if (t == "SelectStmt") {
    if (f_.effects.empty()) f_.kind = Kind::select;
    effect(Kind::select);
    auto cols = select(s, nullptr, Clause::output);
    for (auto& c : cols)
      f_.outputs.push_back({c.name, c.lineage.sources, c.lineage.functions, c.lineage.direct});
    return;
  }
  if (t == "InsertStmt") {
    f_.kind = Kind::insert;
    effect(Kind::insert);
    Scope scope;
    with_clause(s["withClause"], scope);
    if (s["selectStmt"].type() == "SelectStmt") {
      auto src = select(s["selectStmt"].body(), &scope, Clause::insert_source);
      for (const auto& c : src) use(c.lineage, Clause::insert_source);
    }
    dml_target(s["relation"], scope);
    J oc = s["onConflictClause"];
    if (oc) {
      RangeItem excluded = scope.items.back();
      excluded.alias = "excluded";
      scope.items.push_back(excluded);
      target_list(oc["targetList"], scope, Clause::set);
      if (oc["whereClause"]) expr(oc["whereClause"], scope, Clause::where);
      if (oc["action"].str() == "ONCONFLICT_UPDATE") effect(Kind::update);
    }
    returning(s["returningList"], scope);
    return;
  }
  if (t == "UpdateStmt") {
    f_.kind = Kind::update;
    effect(Kind::update);
    Scope scope;
    with_clause(s["withClause"], scope);
    dml_target(s["relation"], scope);
    s["fromClause"].each([&](J item) { from_item(item, scope, nullptr); });
    s["targetList"].each([&](J tgt) {
      if (tgt.type() == "ResTarget") expr(tgt.body()["val"], scope, Clause::set);
    });
    if (s["whereClause"]) {
      if (depth_ == 0) f_.has_where = true;
      expr(s["whereClause"], scope, Clause::where);
    }
    returning(s["returningList"], scope);
    return;
  }
  if (t == "DeleteStmt") {
    f_.kind = Kind::delete_;
    effect(Kind::delete_);
    Scope scope;
    with_clause(s["withClause"], scope);
    dml_target(s["relation"], scope);
    s["usingClause"].each([&](J item) { from_item(item, scope, nullptr); });
    if (s["whereClause"]) {
      if (depth_ == 0) f_.has_where = true;
      expr(s["whereClause"], scope, Clause::where);
    }
    returning(s["returningList"], scope);
    return;
  }
  if (t == "MergeStmt") {
    f_.kind = Kind::merge;
    effect(Kind::merge);
    Scope scope;
    with_clause(s["withClause"], scope);
    dml_target(s["relation"], scope);
    from_item(s["sourceRelation"], scope, nullptr);
    if (s["joinCondition"]) expr(s["joinCondition"], scope, Clause::join);
    s["mergeWhenClauses"].each([&](J w) {
      if (w.type() != "MergeWhenClause") return;
      J mw = w.body();
      if (mw["condition"]) expr(mw["condition"], scope, Clause::where);
      std::string_view cmd = mw["commandType"].str();
      if (cmd == "CMD_UPDATE") effect(Kind::update);
      if (cmd == "CMD_INSERT") effect(Kind::insert);
      if (cmd == "CMD_DELETE") effect(Kind::delete_);
      mw["targetList"].each([&](J tgt) {
        if (tgt.type() == "ResTarget") expr(tgt.body()["val"], scope, Clause::set);
      });
      mw["values"].each(
          [&](J v) { use(expr(v, scope, Clause::insert_source), Clause::insert_source); });
    });
    return;
  }
  if (t == "CopyStmt") {
    const bool from = s["is_from"].boolean();
    f_.kind = from ? Kind::copy_from : Kind::copy_to;
    effect(f_.kind);
    if (s["filename"].str().empty()) {
      f_.copy_stdio = true;
    } else if (s["is_program"].boolean()) {
      f_.copy_program = true;
    } else {
      f_.copy_file = true;
    }
    if (s["relation"]) {
      Scope scope;
      RangeItem item = relation_item(s["relation"], nullptr, from);
      if (!from) {
        // COPY t TO: every listed column, or all of them, leave in the output.
        std::vector<std::string> cols;
        s["attlist"].each([&](J a) { cols.push_back(string_of(a)); });
        for (const auto& c : item.columns)
          if (cols.empty() || std::find(cols.begin(), cols.end(), c.name) != cols.end()) {
            use(c.lineage, Clause::output);
            f_.outputs.push_back(
                {c.name, c.lineage.sources, c.lineage.functions, c.lineage.direct});
          }
        if (!item.columns_known) {
          if (cols.empty()) cols.push_back("*");
          for (const auto& c : cols)
            add_unique(f_.columns, ColumnUse{item.relation, c, Clause::output});
        }
      }
      scope.items.push_back(item);
      if (s["whereClause"]) expr(s["whereClause"], scope, Clause::where);
    } else if (s["query"]) {
      auto inner = analyze_inner(s["query"]);
      merge_inner(*inner, true);
      f_.outputs = inner->outputs;
    }
    return;
  }
  if (t == "ExplainStmt") {
    f_.kind = Kind::explain;
    effect(Kind::explain);
    s["options"].each([&](J o) {
      if (o.type() != "DefElem" || o.body()["defname"].str() != "analyze") return;
      J arg = o.body()["arg"];
      t_read_literal = true;
      bool off = false;
      if (arg.type() == "Boolean") off = !arg.body()["boolval"].boolean();
      if (arg.type() == "String") off = string_of(arg) == "false" || string_of(arg) == "off";
      if (arg.type() == "Integer") off = arg.body()["ival"].integer() == 0;
      if (!off) f_.explain_analyze = true;
    });
    f_.inner = analyze_inner(s["query"]);
    // EXPLAIN ANALYZE runs the statement: all its effects are this statement's.
    merge_inner(*f_.inner, f_.explain_analyze);
    return;
  }
  if (t == "CreateTableAsStmt") {
    f_.kind = Kind::create;
    effect(Kind::create);
    f_.object_type = enum_label(s["objtype"].str(), "OBJECT_");
    if (s["is_select_into"].boolean()) f_.select_into = true;
    if (s["into"]["rel"]) relation_item(s["into"]["rel"], nullptr, true, true);
    f_.inner = analyze_inner(s["query"]);
    merge_inner(*f_.inner, true);
    for (const auto& o : f_.inner->outputs)
      use(Lineage{o.sources, o.functions, o.direct}, Clause::insert_source);
    return;
  }
  if (t == "ViewStmt") {
    f_.kind = s["replace"].boolean() ? Kind::alter : Kind::create;
    effect(f_.kind);
    f_.object_type = "view";
    if (s["view"]) relation_item(s["view"], nullptr, true, true);
    f_.inner = analyze_inner(s["query"]);
    merge_inner(*f_.inner, false);
    return;
  }
  if (t == "PrepareStmt") {
    f_.kind = Kind::prepare;
    effect(Kind::prepare);
    f_.name = S(s["name"].str());
    f_.inner = analyze_inner(s["query"]);
    // Decided as the statement it prepares: a PREPARE of a DROP is refused at once.
    merge_inner(*f_.inner, true);
    f_.outputs = f_.inner->outputs;
    return;
  }
  if (t == "ExecuteStmt") {
    f_.kind = Kind::execute;
    effect(Kind::execute);
    f_.name = S(s["name"].str());
    s["params"].each([&](J p) { expr(p, kEmpty, Clause::other); });
    return;
  }
  if (t == "DeallocateStmt") {
    f_.kind = Kind::deallocate;
    effect(Kind::deallocate);
    f_.name = s["name"].str().empty() ? "*" : S(s["name"].str());
    return;
  }
  if (t == "DeclareCursorStmt") {
    f_.kind = Kind::declare;
    effect(Kind::declare);
    f_.name = S(s["portalname"].str());
    f_.inner = analyze_inner(s["query"]);
    merge_inner(*f_.inner, true);
    f_.outputs = f_.inner->outputs;
    return;
  }
  if (t == "FetchStmt") {
    f_.kind = Kind::fetch;
    effect(Kind::fetch);
    f_.name = S(s["portalname"].str());
    return;
  }
  if (t == "ClosePortalStmt") {
    f_.kind = Kind::close;
    effect(Kind::close);
    f_.name = s["portalname"].str().empty() ? "*" : S(s["portalname"].str());
    return;
  }
  if (t == "VariableSetStmt") {
    set_stmt(s, false);
    return;
  }
  if (t == "VariableShowStmt") {
    f_.kind = Kind::show;
    effect(Kind::show);
    f_.name = S(s["name"].str());
    return;
  }
  if (t == "TransactionStmt") {
    f_.kind = Kind::transaction;
    effect(Kind::transaction);
    f_.name = enum_label(s["kind"].str(), "TRANS_STMT_");
    s["options"].each([&](J o) {
      if (o.type() != "DefElem") return;
      J v = o.body()["arg"];
      std::int64_t iv = 1;
      if (o.body()["defname"].str() == "transaction_read_only" && v.type() == "A_Const" &&
          int_const(v.body(), iv) && iv == 0)
        f_.read_write_transaction = true;
    });
    return;
  }
  if (t == "DiscardStmt") {
    f_.kind = Kind::discard;
    effect(Kind::discard);
    f_.name = enum_label(s["target"].str(), "DISCARD_");
    if (s["target"].str() == "DISCARD_ALL") add_unique(f_.settings, std::string("*"));
    return;
  }
  if (t == "CallStmt") {
    f_.kind = Kind::call;
    effect(Kind::call);
    if (s["funccall"]) func_call(s["funccall"], kEmpty, Clause::other);
    return;
  }
  if (t == "DoStmt") {
    f_.kind = Kind::do_;
    effect(Kind::do_);
    return;
  }
  if (t == "ListenStmt" || t == "UnlistenStmt" || t == "NotifyStmt") {
    f_.kind = t == "ListenStmt" ? Kind::listen : t == "NotifyStmt" ? Kind::notify : Kind::unlisten;
    effect(f_.kind);
    f_.name = s["conditionname"].str().empty() ? "*" : S(s["conditionname"].str());
    return;
  }
  if (t == "LockStmt") {
    f_.kind = Kind::lock;
    effect(Kind::lock);
    f_.row_locks = true;
    relation_list(s["relations"], false);
    return;
  }
  if (t == "TruncateStmt") {
    f_.kind = Kind::truncate;
    effect(Kind::truncate);
    f_.object_type = "table";
    relation_list(s["relations"], true);
    return;
  }
  if (t == "VacuumStmt") {
    f_.kind = s["is_vacuumcmd"].boolean() ? Kind::vacuum : Kind::analyze;
    effect(f_.kind);
    s["rels"].each([&](J r) {
      if (r.type() == "VacuumRelation" && r.body()["relation"])
        relation_item(r.body()["relation"], nullptr, true);
    });
    return;
  }
  if (t == "DropStmt") {
    f_.kind = Kind::drop;
    effect(Kind::drop);
    std::string_view rt = s["removeType"].str();
    f_.object_type = enum_label(rt, "OBJECT_");
    bool relation_like = rt == "OBJECT_TABLE" || rt == "OBJECT_VIEW" || rt == "OBJECT_MATVIEW" ||
                         rt == "OBJECT_FOREIGN_TABLE" || rt == "OBJECT_SEQUENCE" ||
                         rt == "OBJECT_INDEX";
    s["objects"].each([&](J obj) {
      std::string name = qualified_object(obj);
      if (!relation_like || name.empty()) return;
      auto dot = name.find('.');
      auto rel = dot == std::string::npos
                     ? cat_.find_relation("", name)
                     : cat_.find_relation(name.substr(0, dot), name.substr(dot + 1));
      const std::string first = cat_.search_path().empty() ? "public" : cat_.search_path()[0];
      write(rel ? rel->qualified() : (dot == std::string::npos ? first + "." + name : name));
    });
    return;
  }
  if (t == "GrantStmt" || t == "GrantRoleStmt") {
    f_.kind = s["is_grant"].boolean() ? Kind::grant : Kind::revoke;
    effect(f_.kind);
    f_.object_type = t == "GrantRoleStmt" ? "role" : enum_label(s["objtype"].str(), "OBJECT_");
    return;
  }
  if (t == "CreateStmt") {
    f_.kind = Kind::create;
    effect(Kind::create);
    f_.object_type = "table";
    if (s["relation"]) relation_item(s["relation"], nullptr, true, true);
    relation_list(s["inhRelations"], false);
    generic(s["tableElts"], kEmpty, Clause::other);
    return;
  }
  if (t == "AlterTableStmt") {
    f_.kind = Kind::alter;
    effect(Kind::alter);
    f_.object_type = enum_label(s["objtype"].str(), "OBJECT_");
    if (s["relation"]) relation_item(s["relation"], nullptr, true);
    generic(s["cmds"], kEmpty, Clause::other);
    return;
  }
  if (t == "RenameStmt") {
    f_.kind = Kind::alter;
    effect(Kind::alter);
    f_.object_type = enum_label(s["renameType"].str(), "OBJECT_");
    if (s["relation"]) relation_item(s["relation"], nullptr, true);
    return;
  }
  if (t == "IndexStmt") {
    f_.kind = Kind::create;
    effect(Kind::create);
    f_.object_type = "index";
    if (s["relation"]) relation_item(s["relation"], nullptr, true);
    return;
  }
  if (t == "CreateFunctionStmt") {
    f_.kind = Kind::create;
    effect(Kind::create);
    f_.object_type = s["is_procedure"].boolean() ? "procedure" : "function";
    return;
  }
  if (t == "AlterRoleSetStmt" || t == "AlterDatabaseSetStmt" || t == "AlterSystemStmt") {
    f_.kind = Kind::alter;
    effect(Kind::alter);
    f_.object_type = t == "AlterRoleSetStmt"       ? "role"
                     : t == "AlterDatabaseSetStmt" ? "database"
                                                   : "system";
    if (s["setstmt"]) {
      set_stmt(s["setstmt"], true);
    } else {
      add_unique(f_.settings, std::string("*"));
    }
    return;
  }
  // Everything else is classified by its node name and walked generically.
  if (t == "CreatedbStmt" || t == "DropdbStmt") {
    f_.kind = t[0] == 'C' ? Kind::create : Kind::drop;
    f_.object_type = "database";
  } else if (t.rfind("Create", 0) == 0) {
    f_.kind = Kind::create;
    f_.object_type = snake_object(t, "Create");
  } else if (t == "DefineStmt" || t == "CompositeTypeStmt" || t == "RuleStmt" ||
             t == "ImportForeignSchemaStmt") {
    f_.kind = Kind::create;
    f_.object_type = snake_object(t, "");
  } else if (t.rfind("Alter", 0) == 0) {
    f_.kind = Kind::alter;
    f_.object_type = snake_object(t, "Alter");
  } else if (t == "CommentStmt" || t == "SecLabelStmt" || t == "ReassignOwnedStmt" ||
             t == "RefreshMatViewStmt") {
    f_.kind = Kind::alter;
    f_.object_type = snake_object(t, "");
  } else if (t.rfind("Drop", 0) == 0) {
    f_.kind = Kind::drop;
    f_.object_type = snake_object(t, "Drop");
  } else {
    f_.kind = Kind::utility;
    f_.object_type = snake_object(t, "");
  }
  effect(f_.kind);
  generic(s, kEmpty, Clause::other);
}

// Why the last walk on this thread did not read the whole tree; empty when it did.
std::string unread_reason() {
  if (t_too_deep)
    return "the statement is nested too deeply for the gateway to analyse (over " +
           std::to_string(kMaxNesting) + " levels, or more than its stack holds)";
  if (!t_unknown_view.empty())
    return "it reads the view " + t_unknown_view +
           ", whose definition the gateway could not analyse, so what it reads is unknown";
  if (PgNode::unknown_node_seen()) return "the statement uses a construct the analyzer cannot read";
  return {};
}

}  // namespace

Analysis PgAnalyzer::analyze(std::string_view sql) const {
  Analysis out;
  out.catalog_generation = catalog_->generation();
  if (!is_valid_utf8(sql)) {
    out.error = "the statement is not valid UTF-8";
    return out;
  }
  std::string text(sql);  // NUL-terminated for the parser
  struct Parse {
    sl_parse p;
    explicit Parse(const char* text) : p(sl_parse_begin(text)) {}
    ~Parse() { sl_parse_end(&p); }
    Parse(const Parse&) = delete;
    Parse& operator=(const Parse&) = delete;
  } parsed(text.c_str());
  if (parsed.p.failed) {
    out.error = parsed.p.error ? parsed.p.error : "the statement could not be parsed";
    out.error_position = parsed.p.cursor;
    return out;
  }
  t_read_literal = false;
  t_nesting = 0;
  t_too_deep = false;
  t_unknown_view.clear();
  PgNode::unknown_node_seen() = false;
  J::root(parsed.p.tree)["stmts"].each([&](J raw) {
    Facts f;
    Walker(*catalog_, f).statement(raw["stmt"]);
    if (f.effects.empty() || f.effects.front() != f.kind) {
      f.effects.erase(std::remove(f.effects.begin(), f.effects.end(), f.kind), f.effects.end());
      f.effects.insert(f.effects.begin(), f.kind);
    }
    out.statements.push_back(std::move(f));
  });
  // Fail closed: part of the tree was not read, so the facts may be incomplete.
  if (std::string why = unread_reason(); !why.empty()) {
    out.statements.clear();
    out.error = std::move(why);
    return out;
  }
  // Only plain DML qualifies: its literals become A_Const values the walk does not read
  // unless it says so. Utility statements carry literals in option lists and settings.
  out.independent_of_literals =
      !t_read_literal && !out.statements.empty() &&
      std::all_of(out.statements.begin(), out.statements.end(), [](const Facts& f) {
        return f.kind == Kind::select || f.kind == Kind::insert || f.kind == Kind::update ||
               f.kind == Kind::delete_;
      });
  return out;
}

}  // namespace sluice::sql
