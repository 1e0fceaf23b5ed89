#include "sql/pg_tree.h"

namespace sluice::sql {
namespace {

int tag_of(const void* node) {
  int tag;
  std::memcpy(&tag, node, sizeof tag);
  return tag;
}

struct ListView {
  int length;
  const void* const* elements;
};

ListView list_of(const void* list) {
  ListView v;
  const char* base = static_cast<const char*>(list);
  std::memcpy(&v.length, base + SL_LIST_LENGTH_OFFSET, sizeof v.length);
  std::memcpy(&v.elements, base + SL_LIST_ELEMENTS_OFFSET, sizeof v.elements);
  return v;
}

bool is_int_list(const void* list) {
  int tag = tag_of(list);
  return tag == sl_int_list_tag || tag == sl_oid_list_tag;
}

std::int64_t read_int(const char* p, unsigned size) {
  switch (size) {
    case 1: {
      std::int8_t v;
      std::memcpy(&v, p, 1);
      return v;
    }
    case 2: {
      std::int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    default: {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
}

}  // namespace

bool& PgNode::unknown_node_seen() {
  thread_local bool seen = false;
  return seen;
}

PgNode PgNode::root(const void* raw_stmt_list) {
  return PgNode(Form::root, raw_stmt_list);
}

PgNode PgNode::wrap(const void* node) {
  if (!node) return PgNode(Form::empty_object, nullptr);
  int tag = tag_of(node);
  if (tag == sl_list_tag || tag == sl_int_list_tag || tag == sl_oid_list_tag)
    return PgNode(Form::node, node, 0, kListType);
  int type = sl_type_of_tag(tag);
  if (type < 0) unknown_node_seen() = true;
  return PgNode(Form::node, node, 0, type);
}

std::string_view PgNode::type() const {
  if (form_ != Form::node) return {};
  if (type_ == kListType) {
    int tag = tag_of(p_);
    return tag == sl_list_tag ? "List" : tag == sl_int_list_tag ? "IntList" : "OidList";
  }
  return type_ >= 0 ? std::string_view(sl_types[type_].name, sl_types[type_].name_length)
                    : std::string_view{};
}

PgNode PgNode::body() const {
  if (form_ != Form::node) return {};
  return PgNode(Form::bare, p_, 0, type_);
}

PgNode PgNode::operator[](FieldKey key) const {
  if (form_ == Form::root) {
    if (key.name != "stmts") return {};
    return PgNode(Form::stmt_list, p_);  // null for an empty text: no statements
  }
  if (form_ != Form::bare) return {};
  if (type_ == kListType) {
    if (key.name != "items") return {};
    return PgNode(Form::list, p_, is_int_list(p_) ? 1 : 0);
  }
  if (type_ < 0) return {};
  const sl_type& t = sl_types[type_];
  for (unsigned i = 0; i < t.field_count; ++i) {
    const sl_field& f = t.fields[i];
    if (f.hash == key.hash && key.name == std::string_view(f.name, f.name_length)) return field(f);
  }
  return {};
}

PgNode PgNode::field(const sl_field& f) const {
  const char* base = static_cast<const char*>(p_);
  const char* at = base + f.offset;
  switch (f.kind) {
    case SL_BOOL: {
      bool v;
      std::memcpy(&v, at, sizeof v);
      return v ? PgNode(Form::boolean, nullptr, 1) : PgNode();
    }
    case SL_INT: {
      std::int64_t v = read_int(at, f.size);
      return v ? PgNode(Form::integer, nullptr, v) : PgNode();
    }
    case SL_CHAR:
      return *at ? PgNode(Form::string, at, 1) : PgNode();
    case SL_ENUM: {
      int v;
      std::memcpy(&v, at, sizeof v);
      const char* name = sl_enum_name(f.ref, v);
      if (!name) {
        unknown_node_seen() = true;  // a value PostgreSQL's headers do not name
        return PgNode(Form::string, "", 0);
      }
      return PgNode(Form::string, name, static_cast<std::int64_t>(std::strlen(name)));
    }
    case SL_STRING: {
      const char* s;
      std::memcpy(&s, at, sizeof s);
      return s ? PgNode(Form::string, s, static_cast<std::int64_t>(std::strlen(s))) : PgNode();
    }
    case SL_NODE:
    case SL_LIST:
    case SL_TYPED: {
      const void* p;
      std::memcpy(&p, at, sizeof p);
      if (!p) return {};
      if (f.kind == SL_NODE) return wrap(p);
      if (f.kind == SL_LIST) return PgNode(Form::list, p, is_int_list(p) ? 1 : 0);
      if (sl_type_of_tag(tag_of(p)) != f.ref) {  // not the declared type: read nothing of it
        unknown_node_seen() = true;
        return PgNode(Form::bare, p, 0, -1);
      }
      return PgNode(Form::bare, p, 0, f.ref);
    }
    case SL_EMBED:
      return PgNode(Form::bare, at, 0, f.ref);
    case SL_VALUE: {
      bool isnull;
      std::memcpy(&isnull, base + f.size, sizeof isnull);
      if (isnull || tag_of(at) != f.tag) return {};
      return PgNode(Form::bare, at, 0, f.ref);
    }
    default:
      return {};
  }
}

std::size_t PgNode::size() const {
  if ((form_ != Form::list && form_ != Form::stmt_list) || !p_) return 0;
  return static_cast<std::size_t>(list_of(p_).length);
}

PgNode PgNode::at(std::size_t i) const {
  if ((form_ != Form::list && form_ != Form::stmt_list) || !p_) return {};
  ListView l = list_of(p_);
  if (i >= static_cast<std::size_t>(l.length)) return {};
  if (form_ == Form::list && v_) {  // IntList / OidList: the cell holds an integer
    std::int64_t v = read_int(reinterpret_cast<const char*>(&l.elements[i]), 4);
    return v ? PgNode(Form::integer, nullptr, v) : PgNode();
  }
  const void* item = l.elements[i];
  if (form_ == Form::stmt_list) return PgNode(Form::bare, item, 0, sl_raw_stmt_type);
  return wrap(item);
}

}  // namespace sluice::sql
