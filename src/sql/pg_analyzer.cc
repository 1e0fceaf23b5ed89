#include "sql/pg_analyzer.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>
#include <functional>

#include "core/bytes.h"

namespace sluice::sql {
namespace {

using Node = PgQuery__Node;

// ---- small helpers ---------------------------------------------------------------------------

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

std::string str(const char* s) {
  return s ? std::string(s) : std::string();
}
// protobuf-c gives absent strings as "", not null.
bool has(const char* s) {
  return s && *s;
}

// The text of a String node (identifiers and names in lists).
std::string string_of(const Node* n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string) return str(n->string->sval);
  return {};
}

bool is_star(const Node* n) {
  return n && n->node_case == PG_QUERY__NODE__NODE_A_STAR;
}

// "OBJECT_TABLE" -> "table" via the protobuf enum descriptor.
std::string enum_label(const ProtobufCEnumDescriptor& d, int value, std::string_view prefix) {
  const ProtobufCEnumValue* v = protobuf_c_enum_descriptor_get_value(&d, value);
  if (!v) return "unknown";
  std::string name = v->name;
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string object_type_name(PgQuery__ObjectType t) {
  return enum_label(pg_query__object_type__descriptor, t, "OBJECT_");
}

// The name of a Node's oneof member, e.g. "create_foreign_table_stmt".
std::string node_name(const Node* n) {
  const ProtobufCFieldDescriptor* f =
      protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, n->node_case);
  return f ? f->name : "unknown";
}

// Calls `fn` for every message directly below `m` (fields, repeated fields, oneof members).
void for_each_child(const ProtobufCMessage* m,
                    const std::function<void(const ProtobufCMessage*)>& fn) {
  const ProtobufCMessageDescriptor* d = m->descriptor;
  const auto* base = reinterpret_cast<const char*>(m);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const ProtobufCFieldDescriptor& f = d->fields[i];
    if (f.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (f.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      auto which = *reinterpret_cast<const uint32_t*>(base + f.quantifier_offset);
      if (which != f.id) continue;
    }
    if (f.label == PROTOBUF_C_LABEL_REPEATED) {
      auto count = *reinterpret_cast<const size_t*>(base + f.quantifier_offset);
      auto* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + f.offset);
      for (size_t k = 0; k < count; ++k)
        if (items[k]) fn(items[k]);
    } else {
      auto* child = *reinterpret_cast<ProtobufCMessage* const*>(base + f.offset);
      if (child) fn(child);
    }
  }
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

// ---- the walker ------------------------------------------------------------------------------

class Walker {
 public:
  Walker(const Catalog& catalog, Facts& facts, int depth = 0)
      : cat_(catalog), f_(facts), depth_(depth) {}

  void statement(const Node* n);

 private:
  void effect(Kind k) { add_unique(f_.effects, k); }
  void read(const std::string& rel) { add_unique(f_.reads, rel); }
  void write(const std::string& rel) { add_unique(f_.writes, rel); }
  void use(const Lineage& l, Clause clause);
  void unresolved(const std::string& name) { add_unique(f_.unresolved, name); }

  std::vector<Column> select(const PgQuery__SelectStmt* s, const Scope* parent, Clause ctx);
  void with_clause(const PgQuery__WithClause* w, Scope& scope);
  void from_item(const Node* n, Scope& scope, const Scope* outer);
  RangeItem relation_item(const PgQuery__RangeVar* rv, const Scope* lookup, bool is_write,
                          bool creating = false);
  const Cte* find_cte(const Scope* s, const std::string& name) const;
  std::vector<Column> target_list(Node* const* list, size_t n, const Scope& scope, Clause clause);
  std::vector<Column> star(const Scope& scope, const std::string& qualifier);
  Lineage expr(const Node* n, const Scope& scope, Clause clause);
  Lineage column_ref(const PgQuery__ColumnRef* c, const Scope& scope, Clause clause);
  Lineage func_call(const PgQuery__FuncCall* f, const Scope& scope, Clause clause);
  Lineage sublink(const PgQuery__SubLink* s, const Scope& scope, Clause clause);
  void sort_clause(Node* const* list, size_t n, const Scope& scope, Clause clause);
  void group_clause(Node* const* list, size_t n, const Scope& scope);
  void window_def(const PgQuery__WindowDef* w, const Scope& scope);
  std::string function_name(Node* const* parts, size_t n);
  void generic(const ProtobufCMessage* m, const Scope& scope, Clause clause);
  void merge_inner(const Facts& inner, bool effects_too);
  std::shared_ptr<const Facts> analyze_inner(const Node* n);
  void dml_target(const PgQuery__RangeVar* rv, Scope& scope);
  void relation_list(Node* const* list, size_t n, bool is_write);
  void returning(Node* const* list, size_t n, const Scope& scope);

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

std::string Walker::function_name(Node* const* parts, size_t n) {
  std::string name = n ? string_of(parts[n - 1]) : std::string();
  std::string schema = n >= 2 ? string_of(parts[n - 2]) : std::string();
  std::string resolved = cat_.function_schema(schema, name);
  if (resolved.empty()) {
    unresolved((schema.empty() ? "" : schema + ".") + name + "()");
    resolved =
        schema.empty() ? (cat_.search_path().empty() ? "public" : cat_.search_path()[0]) : schema;
  }
  return resolved + "." + name;
}

RangeItem Walker::relation_item(const PgQuery__RangeVar* rv, const Scope* lookup, bool is_write,
                                bool creating) {
  RangeItem item;
  std::string schema = str(rv->schemaname);
  std::string name = str(rv->relname);
  item.alias = rv->alias && has(rv->alias->aliasname) ? str(rv->alias->aliasname) : name;

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
  if (rv->alias && rv->alias->n_colnames) {
    for (size_t i = 0; i < rv->alias->n_colnames && i < item.columns.size(); ++i)
      item.columns[i].name = string_of(rv->alias->colnames[i]);
  }
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
Lineage Walker::column_ref(const PgQuery__ColumnRef* c, const Scope& scope, Clause clause) {
  std::vector<std::string> parts;
  bool star_ref = false;
  for (size_t i = 0; i < c->n_fields; ++i) {
    if (is_star(c->fields[i])) {
      star_ref = true;
    } else {
      parts.push_back(string_of(c->fields[i]));
    }
  }
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
      for (const auto& item : s->items) {
        if (parts.empty() || matches_item(item, parts)) out.merge(whole_row(item));
      }
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

Lineage Walker::func_call(const PgQuery__FuncCall* fc, const Scope& scope, Clause clause) {
  std::string fn = function_name(fc->funcname, fc->n_funcname);
  add_unique(f_.functions, fn);
  // Functions that change settings, with the setting's name when it is a constant.
  std::string bare = fn.substr(fn.rfind('.') + 1);
  if (bare == "set_config") {
    std::string setting = "*";
    if (fc->n_args >= 1 && fc->args[0]->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        fc->args[0]->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL)
      setting = str(fc->args[0]->a_const->sval->sval);
    for (char& ch : setting) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    add_unique(f_.settings, setting);
  }
  Lineage out;
  ++in_function_;
  for (size_t i = 0; i < fc->n_args; ++i) out.merge(expr(fc->args[i], scope, clause));
  for (size_t i = 0; i < fc->n_agg_order; ++i) {
    const Node* n = fc->agg_order[i];
    if (n->node_case == PG_QUERY__NODE__NODE_SORT_BY)
      out.merge(expr(n->sort_by->node, scope, Clause::order));
  }
  --in_function_;
  if (fc->agg_filter) expr(fc->agg_filter, scope, Clause::where);
  if (fc->over) window_def(fc->over, scope);
  add_unique(out.functions, fn);
  out.direct = false;
  return out;
}

Lineage Walker::sublink(const PgQuery__SubLink* s, const Scope& scope, Clause clause) {
  Lineage out;
  if (s->testexpr) out.merge(expr(s->testexpr, scope, clause));
  if (s->subselect && s->subselect->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
    auto cols = select(s->subselect->select_stmt, &scope, Clause::output);
    if (s->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK ||
        s->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) {
      for (const auto& c : cols) out.merge(c.lineage);
    }
  }
  out.direct = false;
  return out;
}

void Walker::window_def(const PgQuery__WindowDef* w, const Scope& scope) {
  for (size_t i = 0; i < w->n_partition_clause; ++i)
    expr(w->partition_clause[i], scope, Clause::window);
  sort_clause(w->order_clause, w->n_order_clause, scope, Clause::window);
  if (w->start_offset) expr(w->start_offset, scope, Clause::other);
  if (w->end_offset) expr(w->end_offset, scope, Clause::other);
}

// Every expression node: what it reads (recorded with `clause`) and what its value derives from.
Lineage Walker::expr(const Node* n, const Scope& scope, Clause clause) {
  Lineage out;
  if (!n) return out;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
      return column_ref(n->column_ref, scope, clause);
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return func_call(n->func_call, scope, clause);
    case PG_QUERY__NODE__NODE_SUB_LINK:
      return sublink(n->sub_link, scope, clause);
    case PG_QUERY__NODE__NODE_A_CONST:
    case PG_QUERY__NODE__NODE_PARAM_REF:
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
      return out;
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
      out = expr(n->type_cast->arg, scope, clause);
      std::string type;
      if (n->type_cast->type_name)
        for (size_t i = 0; i < n->type_cast->type_name->n_names; ++i)
          type = string_of(n->type_cast->type_name->names[i]);
      add_unique(out.functions, "::" + type);
      out.direct = false;
      return out;
    }
    case PG_QUERY__NODE__NODE_A_EXPR: {
      const auto* e = n->a_expr;
      std::string op = e->n_name ? string_of(e->name[e->n_name - 1]) : "";
      out.merge(expr(e->lexpr, scope, clause));
      out.merge(expr(e->rexpr, scope, clause));
      if (!op.empty()) add_unique(out.functions, "op:" + op);
      return out;
    }
    case PG_QUERY__NODE__NODE_BOOL_EXPR:
      for (size_t i = 0; i < n->bool_expr->n_args; ++i)
        out.merge(expr(n->bool_expr->args[i], scope, clause));
      return out;
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
      out = expr(n->collate_clause->arg, scope, clause);
      out.direct = false;
      return out;
    case PG_QUERY__NODE__NODE_A_INDIRECTION: {
      out = expr(n->a_indirection->arg, scope, clause);
      for (size_t i = 0; i < n->a_indirection->n_indirection; ++i) {
        const Node* ind = n->a_indirection->indirection[i];
        if (ind->node_case == PG_QUERY__NODE__NODE_A_INDICES) {
          expr(ind->a_indices->lidx, scope, clause);
          expr(ind->a_indices->uidx, scope, clause);
        } else if (is_star(ind)) {
          // (composite).* : the whole value
        }
      }
      out.direct = false;
      return out;
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR: {
      const auto* c = n->case_expr;
      out.merge(expr(c->arg, scope, clause));
      for (size_t i = 0; i < c->n_args; ++i) {
        const Node* w = c->args[i];
        if (w->node_case == PG_QUERY__NODE__NODE_CASE_WHEN) {
          out.merge(expr(w->case_when->expr, scope, clause));
          out.merge(expr(w->case_when->result, scope, clause));
        }
      }
      out.merge(expr(c->defresult, scope, clause));
      add_unique(out.functions, std::string("case"));
      return out;
    }
    case PG_QUERY__NODE__NODE_SORT_BY:
      return expr(n->sort_by->node, scope, clause);
    default:
      break;
  }
  // Anything else (COALESCE, GREATEST, NULLIF, ROW, ARRAY, IS NULL, XML, ...): every child
  // expression contributes; nothing is skipped.
  for_each_child(&n->base, [&](const ProtobufCMessage* child) {
    if (child->descriptor == &pg_query__node__descriptor)
      out.merge(expr(reinterpret_cast<const Node*>(child), scope, clause));
    else
      generic(child, scope, clause);
  });
  out.direct = false;
  return out;
}

// A subtree with no specific rule: record every column, function, relation and sub-query in it.
void Walker::generic(const ProtobufCMessage* m, const Scope& scope, Clause clause) {
  if (m->descriptor == &pg_query__node__descriptor) {
    const Node* n = reinterpret_cast<const Node*>(m);
    switch (n->node_case) {
      case PG_QUERY__NODE__NODE_COLUMN_REF:
      case PG_QUERY__NODE__NODE_FUNC_CALL:
      case PG_QUERY__NODE__NODE_SUB_LINK:
      case PG_QUERY__NODE__NODE_A_EXPR:
      case PG_QUERY__NODE__NODE_TYPE_CAST:
        expr(n, scope, clause);
        return;
      case PG_QUERY__NODE__NODE_SELECT_STMT:
        select(n->select_stmt, &scope, Clause::output);
        return;
      case PG_QUERY__NODE__NODE_RANGE_VAR:
        relation_item(n->range_var, &scope, false);
        return;
      default:
        break;
    }
  } else if (m->descriptor == &pg_query__func_call__descriptor) {
    func_call(reinterpret_cast<const PgQuery__FuncCall*>(m), scope, clause);
    return;
  } else if (m->descriptor == &pg_query__range_var__descriptor) {
    relation_item(reinterpret_cast<const PgQuery__RangeVar*>(m), &scope, false);
    return;
  } else if (m->descriptor == &pg_query__select_stmt__descriptor) {
    select(reinterpret_cast<const PgQuery__SelectStmt*>(m), &scope, Clause::output);
    return;
  }
  for_each_child(m, [&](const ProtobufCMessage* child) { generic(child, scope, clause); });
}

void Walker::sort_clause(Node* const* list, size_t n, const Scope& scope, Clause clause) {
  for (size_t i = 0; i < n; ++i) {
    const Node* item = list[i];
    const Node* e = item->node_case == PG_QUERY__NODE__NODE_SORT_BY ? item->sort_by->node : item;
    // ORDER BY 2 and ORDER BY output_name refer to the select list.
    if (scope.outputs && e && e->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        e->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
      int pos = e->a_const->ival->ival;
      if (pos >= 1 && static_cast<size_t>(pos) <= scope.outputs->size())
        use((*scope.outputs)[pos - 1].lineage, clause);
      continue;
    }
    if (scope.outputs && e && e->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        e->column_ref->n_fields == 1 && clause == Clause::order) {
      std::string name = string_of(e->column_ref->fields[0]);
      auto it = std::find_if(scope.outputs->begin(), scope.outputs->end(),
                             [&](const Column& c) { return c.name == name; });
      if (it != scope.outputs->end()) {
        use(it->lineage, clause);
        continue;
      }
    }
    expr(e, scope, clause);
  }
}

void Walker::group_clause(Node* const* list, size_t n, const Scope& scope) {
  for (size_t i = 0; i < n; ++i) {
    const Node* e = list[i];
    if (e->node_case == PG_QUERY__NODE__NODE_GROUPING_SET) {
      group_clause(e->grouping_set->content, e->grouping_set->n_content, scope);
      continue;
    }
    if (scope.outputs && e->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        e->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
      int pos = e->a_const->ival->ival;
      if (pos >= 1 && static_cast<size_t>(pos) <= scope.outputs->size())
        use((*scope.outputs)[pos - 1].lineage, Clause::group);
      continue;
    }
    Lineage l = expr(e, scope, Clause::group);
    // GROUP BY output_name, when no input column has that name.
    if (l.sources.empty() && scope.outputs && e->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        e->column_ref->n_fields == 1) {
      std::string name = string_of(e->column_ref->fields[0]);
      for (const auto& c : *scope.outputs)
        if (c.name == name) use(c.lineage, Clause::group);
    }
  }
}

std::string figure_name(const Node* n) {
  if (!n) return "?column?";
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF: {
      const auto* c = n->column_ref;
      if (c->n_fields && !is_star(c->fields[c->n_fields - 1]))
        return string_of(c->fields[c->n_fields - 1]);
      return "?column?";
    }
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return n->func_call->n_funcname
                 ? string_of(n->func_call->funcname[n->func_call->n_funcname - 1])
                 : "?column?";
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
      std::string inner = figure_name(n->type_cast->arg);
      if (inner != "?column?") return inner;
      const auto* t = n->type_cast->type_name;
      return t && t->n_names ? string_of(t->names[t->n_names - 1]) : inner;
    }
    case PG_QUERY__NODE__NODE_A_INDIRECTION: {
      const auto* a = n->a_indirection;
      for (size_t i = a->n_indirection; i-- > 0;)
        if (a->indirection[i]->node_case == PG_QUERY__NODE__NODE_STRING)
          return string_of(a->indirection[i]);
      return figure_name(a->arg);
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
      return "case";
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
      return "coalesce";
    case PG_QUERY__NODE__NODE_SUB_LINK:
      if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) return "exists";
      if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) return "array";
      return "?column?";
    default:
      return "?column?";
  }
}

std::vector<Column> Walker::target_list(Node* const* list, size_t n, const Scope& scope,
                                        Clause clause) {
  std::vector<Column> out;
  for (size_t i = 0; i < n; ++i) {
    const Node* item = list[i];
    if (item->node_case != PG_QUERY__NODE__NODE_RES_TARGET) {
      expr(item, scope, clause);
      continue;
    }
    const auto* rt = item->res_target;
    const Node* v = rt->val;
    // SELECT * and SELECT t.* expand to columns.
    if (v && v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && v->column_ref->n_fields &&
        is_star(v->column_ref->fields[v->column_ref->n_fields - 1])) {
      std::string qualifier;
      if (v->column_ref->n_fields >= 2)
        qualifier = string_of(v->column_ref->fields[v->column_ref->n_fields - 2]);
      for (auto& c : star(scope, qualifier)) {
        use(c.lineage, clause);
        out.push_back(std::move(c));
      }
      continue;
    }
    Column c;
    c.lineage = expr(v, scope, clause);
    c.name = has(rt->name) ? str(rt->name) : figure_name(v);
    out.push_back(std::move(c));
  }
  return out;
}

void Walker::with_clause(const PgQuery__WithClause* w, Scope& scope) {
  if (!w) return;
  for (size_t i = 0; i < w->n_ctes; ++i) {
    const Node* cn = w->ctes[i];
    if (cn->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR) continue;
    const auto* cte = cn->common_table_expr;
    Cte def;
    def.name = str(cte->ctename);
    const Node* q = cte->ctequery;
    std::vector<Column> cols;
    auto rename = [&](std::vector<Column>& c) {
      for (size_t k = 0; k < cte->n_aliascolnames && k < c.size(); ++k)
        c[k].name = string_of(cte->aliascolnames[k]);
    };
    if (w->recursive) {
      // The CTE can refer to itself: register it with the columns of its non-recursive term
      // (the left side of its UNION) before walking the whole body.
      Cte pre = def;
      if (q && q->node_case == PG_QUERY__NODE__NODE_SELECT_STMT && q->select_stmt->larg) {
        pre.columns = select(q->select_stmt->larg, &scope, Clause::output);
      } else {
        pre.columns_known = cte->n_aliascolnames > 0;
        for (size_t k = 0; k < cte->n_aliascolnames; ++k) pre.columns.push_back({"", {}});
      }
      rename(pre.columns);
      scope.ctes.push_back(pre);
    }
    if (q && q->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
      cols = select(q->select_stmt, &scope, Clause::output);
      if (w->recursive) {
        // Second pass: the recursive reference now carries the body's lineage.
        rename(cols);
        scope.ctes.back().columns = cols;
        scope.ctes.back().columns_known = true;
        cols = select(q->select_stmt, &scope, Clause::output);
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
    if (w->recursive) scope.ctes.pop_back();
    scope.ctes.push_back(std::move(def));
  }
}

void Walker::from_item(const Node* n, Scope& scope, const Scope* outer) {
  if (!n) return;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_VAR:
      scope.items.push_back(relation_item(n->range_var, &scope, false));
      return;
    case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
      const auto* rs = n->range_subselect;
      // A sub-select sees the enclosing queries; with LATERAL also the items before it.
      const Scope* sees = rs->lateral ? &scope : outer;
      Scope ctes_only;
      ctes_only.parent = sees;
      ctes_only.ctes = scope.ctes;
      RangeItem item;
      item.alias = rs->alias ? str(rs->alias->aliasname) : std::string();
      if (rs->subquery && rs->subquery->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
        for (auto& c :
             select(rs->subquery->select_stmt, rs->lateral ? &scope : &ctes_only, Clause::output))
          item.columns.push_back(std::move(c));
      }
      if (rs->alias)
        for (size_t i = 0; i < rs->alias->n_colnames && i < item.columns.size(); ++i)
          item.columns[i].name = string_of(rs->alias->colnames[i]);
      scope.items.push_back(std::move(item));
      return;
    }
    case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
      const auto* rf = n->range_function;
      RangeItem item;
      item.alias = rf->alias ? str(rf->alias->aliasname) : std::string();
      Lineage all;
      for (size_t i = 0; i < rf->n_functions; ++i) {
        const Node* pair = rf->functions[i];
        if (pair->node_case != PG_QUERY__NODE__NODE_LIST) continue;
        for (size_t k = 0; k < pair->list->n_items; ++k) {
          const Node* fnode = pair->list->items[k];
          if (fnode && fnode->node_case == PG_QUERY__NODE__NODE_FUNC_CALL) {
            all.merge(func_call(fnode->func_call, scope, Clause::other));  // functions are lateral
            if (item.alias.empty()) item.alias = figure_name(fnode);
          }
        }
      }
      std::vector<std::string> names;
      if (rf->alias)
        for (size_t i = 0; i < rf->alias->n_colnames; ++i)
          names.push_back(string_of(rf->alias->colnames[i]));
      for (size_t i = 0; i < rf->n_coldeflist; ++i)
        if (rf->coldeflist[i]->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
          names.push_back(str(rf->coldeflist[i]->column_def->colname));
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
    case PG_QUERY__NODE__NODE_JOIN_EXPR: {
      const auto* j = n->join_expr;
      from_item(j->larg, scope, outer);
      from_item(j->rarg, scope, outer);
      if (j->quals) expr(j->quals, scope, Clause::join);
      for (size_t i = 0; i < j->n_using_clause; ++i) {
        std::string col = string_of(j->using_clause[i]);
        for (const auto& item : scope.items)
          for (const auto& c : item.columns)
            if (c.name == col) use(c.lineage, Clause::join);
      }
      if (j->is_natural && scope.items.size() >= 2) {
        const auto& r = scope.items.back();
        for (const auto& rc : r.columns)
          for (size_t k = 0; k + 1 < scope.items.size(); ++k)
            for (const auto& lc : scope.items[k].columns)
              if (lc.name == rc.name) {
                use(lc.lineage, Clause::join);
                use(rc.lineage, Clause::join);
              }
      }
      if (j->alias) {
        RangeItem joined;
        joined.alias = str(j->alias->aliasname);
        for (const auto& item : scope.items)
          for (const auto& c : item.columns) joined.columns.push_back(c);
        scope.items.push_back(std::move(joined));
      }
      return;
    }
    case PG_QUERY__NODE__NODE_RANGE_TABLE_SAMPLE: {
      const auto* ts = n->range_table_sample;
      from_item(ts->relation, scope, outer);
      for (size_t i = 0; i < ts->n_args; ++i) expr(ts->args[i], scope, Clause::other);
      if (ts->repeatable) expr(ts->repeatable, scope, Clause::other);
      return;
    }
    default: {
      // XMLTABLE and anything newer: walk it, and expose an item with unknown columns.
      generic(&n->base, scope, Clause::other);
      RangeItem item;
      item.columns_known = false;
      scope.items.push_back(std::move(item));
      return;
    }
  }
}

std::vector<Column> Walker::select(const PgQuery__SelectStmt* s, const Scope* parent, Clause ctx) {
  Scope scope;
  scope.parent = parent;
  with_clause(s->with_clause, scope);

  std::vector<Column> outputs;
  if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
      s->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
    auto left = s->larg ? select(s->larg, &scope, ctx) : std::vector<Column>{};
    auto right = s->rarg ? select(s->rarg, &scope, ctx) : std::vector<Column>{};
    outputs = left;
    for (size_t i = 0; i < outputs.size() && i < right.size(); ++i)
      outputs[i].lineage.merge(right[i].lineage);
    for (auto& o : outputs) o.lineage.direct = false;
  } else if (s->n_values_lists) {
    for (size_t r = 0; r < s->n_values_lists; ++r) {
      const Node* row = s->values_lists[r];
      if (row->node_case != PG_QUERY__NODE__NODE_LIST) continue;
      for (size_t k = 0; k < row->list->n_items; ++k) {
        Lineage l =
            expr(row->list->items[k], scope, ctx == Clause::insert_source ? ctx : Clause::other);
        if (outputs.size() <= k) outputs.push_back({"column" + std::to_string(k + 1), {}});
        outputs[k].lineage.merge(l);
      }
    }
  } else {
    for (size_t i = 0; i < s->n_from_clause; ++i) from_item(s->from_clause[i], scope, parent);
    outputs = target_list(s->target_list, s->n_target_list, scope, Clause::output);
    scope.outputs = &outputs;
    if (s->where_clause) {
      if (depth_ == 0 && parent == nullptr) f_.has_where = true;
      expr(s->where_clause, scope, Clause::where);
    }
    group_clause(s->group_clause, s->n_group_clause, scope);
    if (s->having_clause) expr(s->having_clause, scope, Clause::having);
    for (size_t i = 0; i < s->n_window_clause; ++i)
      if (s->window_clause[i]->node_case == PG_QUERY__NODE__NODE_WINDOW_DEF)
        window_def(s->window_clause[i]->window_def, scope);
    for (size_t i = 0; i < s->n_distinct_clause; ++i)
      if (s->distinct_clause[i]) expr(s->distinct_clause[i], scope, Clause::other);
  }
  scope.outputs = &outputs;
  sort_clause(s->sort_clause, s->n_sort_clause, scope, Clause::order);
  if (s->limit_count || s->limit_offset) {
    if (parent == nullptr && depth_ == 0 && s->limit_count) f_.has_limit = true;
    expr(s->limit_count, scope, Clause::other);
    expr(s->limit_offset, scope, Clause::other);
  }
  if (s->n_locking_clause) f_.row_locks = true;
  if (s->into_clause && s->into_clause->rel) {
    f_.select_into = true;
    effect(Kind::create);
    relation_item(s->into_clause->rel, nullptr, true, true);
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

std::shared_ptr<const Facts> Walker::analyze_inner(const Node* n) {
  auto inner = std::make_shared<Facts>();
  if (!n) return inner;
  Walker sub(cat_, *inner, depth_);
  sub.statement(n);
  return inner;
}

void Walker::dml_target(const PgQuery__RangeVar* rv, Scope& scope) {
  RangeItem target = relation_item(rv, &scope, true);
  scope.items.push_back(std::move(target));
}

void Walker::relation_list(Node* const* list, size_t n, bool is_write) {
  for (size_t i = 0; i < n; ++i) {
    const Node* r = list[i];
    if (r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
      relation_item(r->range_var, nullptr, is_write);
  }
}

void Walker::returning(Node* const* list, size_t n, const Scope& scope) {
  auto cols = target_list(list, n, scope, Clause::returning);
  for (auto& c : cols)
    f_.outputs.push_back({c.name, c.lineage.sources, c.lineage.functions, c.lineage.direct});
}

// Names of a DROP's objects: lists of identifiers for relations.
std::string qualified_object(const Node* obj) {
  if (!obj) return {};
  if (obj->node_case == PG_QUERY__NODE__NODE_LIST) {
    std::string s;
    for (size_t i = 0; i < obj->list->n_items; ++i) {
      std::string part = string_of(obj->list->items[i]);
      if (part.empty()) continue;
      s += (s.empty() ? "" : ".") + part;
    }
    return s;
  }
  return string_of(obj);
}

void Walker::statement(const Node* n) {
  static const Scope kEmpty;
  if (!n) return;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
      if (f_.effects.empty()) f_.kind = Kind::select;
      effect(Kind::select);
      auto cols = select(n->select_stmt, nullptr, Clause::output);
      for (auto& c : cols)
        f_.outputs.push_back({c.name, c.lineage.sources, c.lineage.functions, c.lineage.direct});
      return;
    }
    case PG_QUERY__NODE__NODE_INSERT_STMT: {
      const auto* s = n->insert_stmt;
      f_.kind = Kind::insert;
      effect(Kind::insert);
      Scope scope;
      with_clause(s->with_clause, scope);
      if (s->select_stmt && s->select_stmt->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
        auto src = select(s->select_stmt->select_stmt, &scope, Clause::insert_source);
        for (const auto& c : src) use(c.lineage, Clause::insert_source);
      }
      dml_target(s->relation, scope);
      if (s->on_conflict_clause) {
        const auto* oc = s->on_conflict_clause;
        RangeItem excluded = scope.items.back();
        excluded.alias = "excluded";
        scope.items.push_back(excluded);
        target_list(oc->target_list, oc->n_target_list, scope, Clause::set);
        if (oc->where_clause) expr(oc->where_clause, scope, Clause::where);
        if (oc->action == PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE) effect(Kind::update);
      }
      returning(s->returning_list, s->n_returning_list, scope);
      return;
    }
    case PG_QUERY__NODE__NODE_UPDATE_STMT: {
      const auto* s = n->update_stmt;
      f_.kind = Kind::update;
      effect(Kind::update);
      Scope scope;
      with_clause(s->with_clause, scope);
      dml_target(s->relation, scope);
      for (size_t i = 0; i < s->n_from_clause; ++i) from_item(s->from_clause[i], scope, nullptr);
      for (size_t i = 0; i < s->n_target_list; ++i) {
        const Node* t = s->target_list[i];
        if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
          expr(t->res_target->val, scope, Clause::set);
      }
      if (s->where_clause) {
        if (depth_ == 0) f_.has_where = true;
        expr(s->where_clause, scope, Clause::where);
      }
      returning(s->returning_list, s->n_returning_list, scope);
      return;
    }
    case PG_QUERY__NODE__NODE_DELETE_STMT: {
      const auto* s = n->delete_stmt;
      f_.kind = Kind::delete_;
      effect(Kind::delete_);
      Scope scope;
      with_clause(s->with_clause, scope);
      dml_target(s->relation, scope);
      for (size_t i = 0; i < s->n_using_clause; ++i) from_item(s->using_clause[i], scope, nullptr);
      if (s->where_clause) {
        if (depth_ == 0) f_.has_where = true;
        expr(s->where_clause, scope, Clause::where);
      }
      returning(s->returning_list, s->n_returning_list, scope);
      return;
    }
    case PG_QUERY__NODE__NODE_MERGE_STMT: {
      const auto* s = n->merge_stmt;
      f_.kind = Kind::merge;
      effect(Kind::merge);
      Scope scope;
      with_clause(s->with_clause, scope);
      dml_target(s->relation, scope);
      from_item(s->source_relation, scope, nullptr);
      if (s->join_condition) expr(s->join_condition, scope, Clause::join);
      for (size_t i = 0; i < s->n_merge_when_clauses; ++i) {
        const Node* w = s->merge_when_clauses[i];
        if (w->node_case != PG_QUERY__NODE__NODE_MERGE_WHEN_CLAUSE) continue;
        const auto* mw = w->merge_when_clause;
        if (mw->condition) expr(mw->condition, scope, Clause::where);
        switch (mw->command_type) {
          case PG_QUERY__CMD_TYPE__CMD_UPDATE:
            effect(Kind::update);
            break;
          case PG_QUERY__CMD_TYPE__CMD_INSERT:
            effect(Kind::insert);
            break;
          case PG_QUERY__CMD_TYPE__CMD_DELETE:
            effect(Kind::delete_);
            break;
          default:
            break;
        }
        for (size_t k = 0; k < mw->n_target_list; ++k) {
          const Node* t = mw->target_list[k];
          if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
            expr(t->res_target->val, scope, Clause::set);
        }
        for (size_t k = 0; k < mw->n_values; ++k)
          use(expr(mw->values[k], scope, Clause::insert_source), Clause::insert_source);
      }
      return;
    }
    case PG_QUERY__NODE__NODE_COPY_STMT: {
      const auto* s = n->copy_stmt;
      f_.kind = s->is_from ? Kind::copy_from : Kind::copy_to;
      effect(f_.kind);
      if (!has(s->filename)) {
        f_.copy_stdio = true;
      } else if (s->is_program) {
        f_.copy_program = true;
      } else {
        f_.copy_file = true;
      }
      if (s->relation) {
        Scope scope;
        RangeItem item = relation_item(s->relation, nullptr, s->is_from);
        if (!s->is_from) {
          // COPY t TO: every listed column, or all of them, leave in the output.
          std::vector<std::string> cols;
          for (size_t i = 0; i < s->n_attlist; ++i) cols.push_back(string_of(s->attlist[i]));
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
        if (s->where_clause) expr(s->where_clause, scope, Clause::where);
      } else if (s->query) {
        auto inner = analyze_inner(s->query);
        merge_inner(*inner, true);
        f_.outputs = inner->outputs;
      }
      return;
    }
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
      const auto* s = n->explain_stmt;
      f_.kind = Kind::explain;
      effect(Kind::explain);
      for (size_t i = 0; i < s->n_options; ++i) {
        const Node* o = s->options[i];
        if (o->node_case != PG_QUERY__NODE__NODE_DEF_ELEM || str(o->def_elem->defname) != "analyze")
          continue;
        const Node* arg = o->def_elem->arg;
        bool off =
            arg && ((arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN && !arg->boolean->boolval) ||
                    (arg->node_case == PG_QUERY__NODE__NODE_STRING &&
                     (string_of(arg) == "false" || string_of(arg) == "off")) ||
                    (arg->node_case == PG_QUERY__NODE__NODE_INTEGER && arg->integer->ival == 0));
        if (!off) f_.explain_analyze = true;
      }
      f_.inner = analyze_inner(s->query);
      // EXPLAIN ANALYZE runs the statement: all its effects are this statement's.
      merge_inner(*f_.inner, f_.explain_analyze);
      return;
    }
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT: {
      const auto* s = n->create_table_as_stmt;
      f_.kind = Kind::create;
      effect(Kind::create);
      f_.object_type = object_type_name(s->objtype);
      if (s->is_select_into) f_.select_into = true;
      if (s->into && s->into->rel) relation_item(s->into->rel, nullptr, true, true);
      f_.inner = analyze_inner(s->query);
      merge_inner(*f_.inner, true);
      for (const auto& o : f_.inner->outputs)
        use(Lineage{o.sources, o.functions, o.direct}, Clause::insert_source);
      return;
    }
    case PG_QUERY__NODE__NODE_VIEW_STMT: {
      const auto* s = n->view_stmt;
      f_.kind = s->replace ? Kind::alter : Kind::create;
      effect(f_.kind);
      f_.object_type = "view";
      if (s->view) relation_item(s->view, nullptr, true, true);
      f_.inner = analyze_inner(s->query);
      merge_inner(*f_.inner, false);
      return;
    }
    case PG_QUERY__NODE__NODE_PREPARE_STMT: {
      const auto* s = n->prepare_stmt;
      f_.kind = Kind::prepare;
      effect(Kind::prepare);
      f_.name = str(s->name);
      f_.inner = analyze_inner(s->query);
      // Decided as the statement it prepares: a PREPARE of a DROP is refused at once.
      merge_inner(*f_.inner, true);
      f_.outputs = f_.inner->outputs;
      return;
    }
    case PG_QUERY__NODE__NODE_EXECUTE_STMT: {
      const auto* s = n->execute_stmt;
      f_.kind = Kind::execute;
      effect(Kind::execute);
      f_.name = str(s->name);
      for (size_t i = 0; i < s->n_params; ++i) expr(s->params[i], kEmpty, Clause::other);
      return;
    }
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
      f_.kind = Kind::deallocate;
      effect(Kind::deallocate);
      f_.name = has(n->deallocate_stmt->name) ? str(n->deallocate_stmt->name) : "*";
      return;
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT: {
      const auto* s = n->declare_cursor_stmt;
      f_.kind = Kind::declare;
      effect(Kind::declare);
      f_.name = str(s->portalname);
      f_.inner = analyze_inner(s->query);
      merge_inner(*f_.inner, true);
      f_.outputs = f_.inner->outputs;
      return;
    }
    case PG_QUERY__NODE__NODE_FETCH_STMT:
      f_.kind = n->fetch_stmt->ismove ? Kind::fetch : Kind::fetch;
      effect(Kind::fetch);
      f_.name = str(n->fetch_stmt->portalname);
      return;
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
      f_.kind = Kind::close;
      effect(Kind::close);
      f_.name = has(n->close_portal_stmt->portalname) ? str(n->close_portal_stmt->portalname) : "*";
      return;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
      const auto* s = n->variable_set_stmt;
      bool reset = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                   s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL;
      f_.kind = reset ? Kind::reset : Kind::set;
      effect(f_.kind);
      std::string name = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL ? "*" : str(s->name);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI) {
        // SET TRANSACTION / SET SESSION CHARACTERISTICS AS TRANSACTION ...
        for (size_t i = 0; i < s->n_args; ++i) {
          const Node* a = s->args[i];
          if (a->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
          std::string opt = str(a->def_elem->defname);
          add_unique(f_.settings, opt);
          const Node* v = a->def_elem->arg;
          if (opt == "transaction_read_only" && v && v->node_case == PG_QUERY__NODE__NODE_A_CONST &&
              v->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && v->a_const->ival->ival == 0)
            f_.read_write_transaction = true;
        }
        if (name == "session characteristics")
          add_unique(f_.settings, std::string("default_transaction_read_only"));
      } else {
        add_unique(f_.settings, name);
      }
      for (size_t i = 0; i < s->n_args; ++i)
        if (s->args[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
          expr(s->args[i], kEmpty, Clause::other);
      return;
    }
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
      f_.kind = Kind::show;
      effect(Kind::show);
      f_.name = str(n->variable_show_stmt->name);
      return;
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: {
      const auto* s = n->transaction_stmt;
      f_.kind = Kind::transaction;
      effect(Kind::transaction);
      f_.name = enum_label(pg_query__transaction_stmt_kind__descriptor, s->kind, "TRANS_STMT_");
      for (size_t i = 0; i < s->n_options; ++i) {
        const Node* o = s->options[i];
        if (o->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
        const Node* v = o->def_elem->arg;
        if (str(o->def_elem->defname) == "transaction_read_only" && v &&
            v->node_case == PG_QUERY__NODE__NODE_A_CONST &&
            v->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && v->a_const->ival->ival == 0)
          f_.read_write_transaction = true;
      }
      return;
    }
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      f_.kind = Kind::discard;
      effect(Kind::discard);
      f_.name = enum_label(pg_query__discard_mode__descriptor, n->discard_stmt->target, "DISCARD_");
      if (n->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL)
        add_unique(f_.settings, std::string("*"));
      return;
    case PG_QUERY__NODE__NODE_CALL_STMT:
      f_.kind = Kind::call;
      effect(Kind::call);
      if (n->call_stmt->funccall) func_call(n->call_stmt->funccall, kEmpty, Clause::other);
      return;
    case PG_QUERY__NODE__NODE_DO_STMT:
      f_.kind = Kind::do_;
      effect(Kind::do_);
      return;
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
      f_.kind = Kind::listen;
      effect(Kind::listen);
      f_.name = str(n->listen_stmt->conditionname);
      return;
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
      f_.kind = Kind::unlisten;
      effect(Kind::unlisten);
      f_.name = has(n->unlisten_stmt->conditionname) ? str(n->unlisten_stmt->conditionname) : "*";
      return;
    case PG_QUERY__NODE__NODE_NOTIFY_STMT:
      f_.kind = Kind::notify;
      effect(Kind::notify);
      f_.name = str(n->notify_stmt->conditionname);
      return;
    case PG_QUERY__NODE__NODE_LOCK_STMT:
      f_.kind = Kind::lock;
      effect(Kind::lock);
      f_.row_locks = true;
      relation_list(n->lock_stmt->relations, n->lock_stmt->n_relations, false);
      return;
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
      f_.kind = Kind::truncate;
      effect(Kind::truncate);
      f_.object_type = "table";
      relation_list(n->truncate_stmt->relations, n->truncate_stmt->n_relations, true);
      return;
    case PG_QUERY__NODE__NODE_VACUUM_STMT: {
      const auto* s = n->vacuum_stmt;
      f_.kind = s->is_vacuumcmd ? Kind::vacuum : Kind::analyze;
      effect(f_.kind);
      for (size_t i = 0; i < s->n_rels; ++i)
        if (s->rels[i]->node_case == PG_QUERY__NODE__NODE_VACUUM_RELATION &&
            s->rels[i]->vacuum_relation->relation)
          relation_item(s->rels[i]->vacuum_relation->relation, nullptr, true);
      return;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const auto* s = n->drop_stmt;
      f_.kind = Kind::drop;
      effect(Kind::drop);
      f_.object_type = object_type_name(s->remove_type);
      bool relation_like = s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
                           s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW ||
                           s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
                           s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE ||
                           s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE ||
                           s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX;
      for (size_t i = 0; i < s->n_objects; ++i) {
        std::string name = qualified_object(s->objects[i]);
        if (!relation_like || name.empty()) continue;
        auto dot = name.find('.');
        auto rel = dot == std::string::npos
                       ? cat_.find_relation("", name)
                       : cat_.find_relation(name.substr(0, dot), name.substr(dot + 1));
        write(rel ? rel->qualified()
                  : (dot == std::string::npos
                         ? (cat_.search_path().empty() ? "public" : cat_.search_path()[0]) + "." +
                               name
                         : name));
      }
      return;
    }
    case PG_QUERY__NODE__NODE_GRANT_STMT:
      f_.kind = n->grant_stmt->is_grant ? Kind::grant : Kind::revoke;
      effect(f_.kind);
      f_.object_type = object_type_name(n->grant_stmt->objtype);
      return;
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
      f_.kind = n->grant_role_stmt->is_grant ? Kind::grant : Kind::revoke;
      effect(f_.kind);
      f_.object_type = "role";
      return;
    case PG_QUERY__NODE__NODE_CREATE_STMT: {
      const auto* s = n->create_stmt;
      f_.kind = Kind::create;
      effect(Kind::create);
      f_.object_type = "table";
      if (s->relation) relation_item(s->relation, nullptr, true, true);
      relation_list(s->inh_relations, s->n_inh_relations, false);
      for (size_t i = 0; i < s->n_table_elts; ++i)
        generic(&s->table_elts[i]->base, kEmpty, Clause::other);
      return;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
      const auto* s = n->alter_table_stmt;
      f_.kind = Kind::alter;
      effect(Kind::alter);
      f_.object_type = object_type_name(s->objtype);
      if (s->relation) relation_item(s->relation, nullptr, true);
      for (size_t i = 0; i < s->n_cmds; ++i) generic(&s->cmds[i]->base, kEmpty, Clause::other);
      return;
    }
    case PG_QUERY__NODE__NODE_RENAME_STMT:
      f_.kind = Kind::alter;
      effect(Kind::alter);
      f_.object_type = object_type_name(n->rename_stmt->rename_type);
      if (n->rename_stmt->relation) relation_item(n->rename_stmt->relation, nullptr, true);
      return;
    case PG_QUERY__NODE__NODE_INDEX_STMT:
      f_.kind = Kind::create;
      effect(Kind::create);
      f_.object_type = "index";
      if (n->index_stmt->relation) relation_item(n->index_stmt->relation, nullptr, true);
      return;
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
      f_.kind = Kind::create;
      effect(Kind::create);
      f_.object_type = n->create_function_stmt->is_procedure ? "procedure" : "function";
      return;
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT: {
      f_.kind = Kind::alter;
      effect(Kind::alter);
      const PgQuery__VariableSetStmt* set = nullptr;
      if (n->node_case == PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT) {
        f_.object_type = "role";
        set = n->alter_role_set_stmt->setstmt;
      } else if (n->node_case == PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT) {
        f_.object_type = "database";
        set = n->alter_database_set_stmt->setstmt;
      } else {
        f_.object_type = "system";
        set = n->alter_system_stmt->setstmt;
      }
      add_unique(f_.settings, set && has(set->name) ? str(set->name) : std::string("*"));
      return;
    }
    default:
      break;
  }
  // Everything else is classified by its node name and walked generically.
  std::string nn = node_name(n);
  auto strip = [&](std::string_view prefix) {
    std::string t = nn.substr(prefix.size());
    if (t.size() > 5 && t.substr(t.size() - 5) == "_stmt") t.resize(t.size() - 5);
    return t;
  };
  if (nn == "createdb_stmt") {
    f_.kind = Kind::create;
    f_.object_type = "database";
  } else if (nn.rfind("create", 0) == 0 || nn == "define_stmt" || nn == "composite_type_stmt" ||
             nn == "rule_stmt" || nn == "import_foreign_schema_stmt") {
    f_.kind = Kind::create;
    f_.object_type = nn.rfind("create", 0) == 0 ? strip("create_") : strip("");
  } else if (nn.rfind("alter", 0) == 0 || nn == "comment_stmt" || nn == "sec_label_stmt" ||
             nn == "reassign_owned_stmt" || nn == "refresh_mat_view_stmt") {
    f_.kind = Kind::alter;
    f_.object_type = nn.rfind("alter", 0) == 0 ? strip("alter_") : strip("");
  } else if (nn == "dropdb_stmt" || nn == "createdb_stmt") {
    f_.kind = nn[0] == 'd' ? Kind::drop : Kind::create;
    f_.object_type = "database";
  } else if (nn.rfind("drop", 0) == 0) {
    f_.kind = Kind::drop;
    f_.object_type = strip("drop_");
  } else {
    f_.kind = Kind::utility;
    f_.object_type = strip("");
  }
  effect(f_.kind);
  generic(&n->base, kEmpty, Clause::other);
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
  PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error) {
    out.error = parsed.error->message ? parsed.error->message : "syntax error";
    out.error_position = parsed.error->cursorpos;
    pg_query_free_protobuf_parse_result(parsed);
    return out;
  }
  PgQuery__ParseResult* tree = pg_query__parse_result__unpack(
      nullptr, parsed.parse_tree.len, reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  if (!tree) {
    out.error = "the parse tree could not be read";
    return out;
  }
  for (size_t i = 0; i < tree->n_stmts; ++i) {
    const PgQuery__RawStmt* raw = tree->stmts[i];
    Facts f;
    std::size_t begin = static_cast<std::size_t>(std::max(0, raw->stmt_location));
    std::size_t len = raw->stmt_len > 0 ? static_cast<std::size_t>(raw->stmt_len)
                                        : sql.size() - std::min(begin, sql.size());
    if (begin <= sql.size()) {
      std::string_view t = sql.substr(begin, len);
      while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
      f.text = std::string(t);
    }
    Walker(*catalog_, f).statement(raw->stmt);
    if (f.effects.empty() || f.effects.front() != f.kind) {
      f.effects.erase(std::remove(f.effects.begin(), f.effects.end(), f.kind), f.effects.end());
      f.effects.insert(f.effects.begin(), f.kind);
    }
    out.statements.push_back(std::move(f));
  }
  pg_query__parse_result__free_unpacked(tree, nullptr);
  return out;
}

}  // namespace sluice::sql
