/* The layouts of PostgreSQL 15's parse nodes, as a table: generated at build time from the
 * server headers by tools/gen_pg_node_types.py (offsets and sizes come from offsetof and
 * sizeof), and the raw parser's entry point. Plain C, so C++ code reads parse trees without
 * including PostgreSQL's headers. src/sql/pg_tree.h is the C++ view over it. */
#ifndef SLUICE_SQL_PG_NODE_TYPES_H
#define SLUICE_SQL_PG_NODE_TYPES_H

#ifdef __cplusplus
extern "C" {
#endif

enum sl_kind {
  SL_NONE,
  SL_BOOL,   /* bool */
  SL_INT,    /* an integer of `size` bytes */
  SL_CHAR,   /* a single char */
  SL_ENUM,   /* an enum; `ref` names it for sl_enum_name */
  SL_STRING, /* char * */
  SL_NODE,   /* Node * or Expr *: any node */
  SL_LIST,   /* List * of nodes */
  SL_TYPED,  /* a pointer to a node of type `ref` */
  SL_EMBED,  /* a node of type `ref` embedded by value */
  SL_VALUE   /* A_Const's inline value: present when its tag is `tag` and the bool at
                offset `size` (isnull) is false */
};

struct sl_field {
  const char* name;
  unsigned name_length;
  unsigned hash; /* FNV-1a of name */
  unsigned short offset;
  unsigned char size;
  unsigned char kind; /* enum sl_kind */
  short ref;
  int tag;
};

struct sl_type {
  const char* name;
  unsigned name_length;
  const struct sl_field* fields;
  unsigned short field_count;
};

/* PostgreSQL 15's List: { NodeTag type; int length; int max_length; ListCell *elements; }.
 * The generated file asserts these offsets against the headers. */
#define SL_LIST_LENGTH_OFFSET 4
#define SL_LIST_ELEMENTS_OFFSET 16

extern const struct sl_type sl_types[];
extern const int sl_type_count;
extern const int sl_list_tag;      /* T_List */
extern const int sl_int_list_tag;  /* T_IntList */
extern const int sl_oid_list_tag;  /* T_OidList */
extern const int sl_raw_stmt_type; /* the type index of RawStmt */
/* The type index of a node tag, or -1 for a tag the table does not describe. */
int sl_type_of_tag(int tag);
/* An enum value's name ("OBJECT_TABLE"), or 0 if the value is not one of the enum's. */
const char* sl_enum_name(int enum_id, int value);

/* One parse: the raw tree lives until sl_parse_end. On a syntax error `failed` is set,
 * `tree` is 0 and `error`/`cursor` say what and where (`error` may be 0 if even the message
 * could not be copied). An empty text parses to no statements: `tree` 0, `failed` 0. */
struct sl_parse {
  int failed;
  const void* tree; /* List * of RawStmt */
  char* error;      /* malloc'd message */
  int cursor;       /* 1-based position of the error, 0 when unknown */
  void* context;
};
struct sl_parse sl_parse_begin(const char* text);
void sl_parse_end(struct sl_parse* parse);

#ifdef __cplusplus
}
#endif

#endif
