// PgNode: a read-only view of PostgreSQL's raw parse tree, for the analyzer's walker.
//
// The tree is the one libpg_query's copy of PostgreSQL 15's parser builds (pg_node_types.h);
// fields are found by name through a table generated from PostgreSQL's headers, so reading a
// field costs a short scan of hashes and no serialisation of the tree.
//
// The view reads the tree the way libpg_query's JSON output presents it, which is how the
// walker was first written and how PostgreSQL's node names are documented:
//   - a `Node *` field or list item is a wrapped node: type() is its node name ("SelectStmt")
//     and body() its fields; a list held in a `Node *` is a "List" node with `items`;
//   - a field typed as a specific node (`RangeVar *relation`, `Alias *alias`) is the bare
//     fields; so is a node embedded by value;
//   - false, zero, null and empty fields read as absent; an enum is its value's name
//     ("OBJECT_TABLE"); A_Const's value is a field named after its type (`ival`, `sval`,
//     `fval`, `boolval`, `bsval`), absent for NULL;
//   - a null list item is an empty object.
// tests/unit/pg_tree_test.cc compares this view with libpg_query's JSON output over the test
// corpora, node by node.
//
// Fail closed: a node whose tag the table does not describe reads as an empty node and sets
// unknown_node_seen(), which the analyzer turns into an error.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "sql/pg_node_types.h"

namespace sluice::sql {

constexpr std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

// A field name, hashed at compile time when written as a literal.
struct FieldKey {
  consteval FieldKey(const char* s) : name(s), hash(fnv1a(s)) {}
  static FieldKey runtime(std::string_view s) { return FieldKey(s, fnv1a(s)); }
  std::string_view name;
  std::uint32_t hash;

 private:
  FieldKey(std::string_view s, std::uint32_t h) : name(s), hash(h) {}
};

class PgNode {
 public:
  PgNode() = default;
  // The view of a parse's result: an object whose `stmts` are the RawStmt nodes, bare.
  static PgNode root(const void* raw_stmt_list);

  bool ok() const { return form_ != Form::absent; }
  explicit operator bool() const { return ok(); }

  PgNode operator[](FieldKey key) const;
  std::string_view str() const {
    return form_ == Form::string
               ? std::string_view(static_cast<const char*>(p_), static_cast<std::size_t>(v_))
               : std::string_view{};
  }
  bool boolean() const { return form_ == Form::boolean && v_ != 0; }
  std::int64_t integer() const { return form_ == Form::integer ? v_ : 0; }
  bool is_object() const {
    return form_ == Form::node || form_ == Form::bare || form_ == Form::empty_object ||
           form_ == Form::root;
  }
  bool is_array() const { return form_ == Form::list || form_ == Form::stmt_list; }

  std::size_t size() const;
  PgNode at(std::size_t i) const;
  template <class F>
  void each(F&& f) const {
    std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) f(at(i));
  }

  // A wrapped node's name ("SelectStmt"); empty for anything else.
  std::string_view type() const;
  // A wrapped node's fields.
  PgNode body() const;
  // Every present field that can hold nodes (nodes, lists, typed and embedded nodes), in
  // declaration order; a wrapped node has one member, its body, named by its type.
  template <class F>
  void members(F&& f) const {
    if (form_ == Form::node) {
      f(type(), body());
      return;
    }
    if (form_ == Form::root) {
      f(std::string_view("stmts"), (*this)["stmts"]);
      return;
    }
    if (form_ != Form::bare) return;
    if (type_ == kListType) {
      f(std::string_view("items"), (*this)["items"]);
      return;
    }
    if (type_ < 0) return;
    const sl_type& t = sl_types[type_];
    for (unsigned i = 0; i < t.field_count; ++i) {
      const sl_field& fd = t.fields[i];
      if (fd.kind < SL_NODE) continue;
      PgNode v = field(fd);
      if (v.ok()) f(std::string_view(fd.name, fd.name_length), v);
    }
  }

  // Every field the node type declares, present or not (for tests).
  template <class F>
  void declared_fields(F&& f) const {
    if (form_ != Form::bare || type_ < 0) return;
    const sl_type& t = sl_types[type_];
    for (unsigned i = 0; i < t.field_count; ++i)
      f(std::string_view(t.fields[i].name, t.fields[i].name_length));
  }

  // Where the node is (for tests).
  const void* address() const { return p_; }

  // Set on this thread when a node with a tag the table does not describe was read; the
  // analyzer clears it before a walk and checks it after.
  static bool& unknown_node_seen();

 private:
  enum class Form : std::uint8_t {
    absent,
    node,          // a Node *: p_ is the node, type_ its type index
    bare,          // a node's fields: p_ is the node, type_ its type index
    empty_object,  // a null list item
    list,          // a List *: p_ is the List, v_ 1 when it holds integers
    stmt_list,     // the parse result: a List of RawStmt, read bare
    root,
    string,   // p_ the characters, v_ the length
    integer,  // v_
    boolean,  // v_
  };
  static constexpr int kListType = -2;  // the List node read as {"items": [...]}

  PgNode(Form form, const void* p, std::int64_t v = 0, int type = -1)
      : p_(p), v_(v), type_(type), form_(form) {}
  static PgNode wrap(const void* node);
  PgNode field(const sl_field& f) const;

  const void* p_ = nullptr;
  std::int64_t v_ = 0;
  int type_ = -1;
  Form form_ = Form::absent;
};

}  // namespace sluice::sql
