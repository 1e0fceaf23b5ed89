/* The raw parser's entry point for C++ callers (see pg_node_types.h). PostgreSQL's headers
 * are C; this file, pg_scan.c and the generated node table are the only ones that include
 * them. */
#include <pg_query.h>
#include <pg_query/pg_query_internal.h>
#include <stdlib.h>
#include <string.h>

#include "sql/pg_node_types.h"

struct sl_parse sl_parse_begin(const char* text) {
  struct sl_parse out = {0, 0, 0, 0, 0};
  MemoryContext ctx = pg_query_enter_memory_context();
  PgQueryInternalParsetreeAndError r = pg_query_raw_parse(text);
  free(r.stderr_buffer);
  out.context = ctx;
  if (r.error) {
    out.failed = 1;
    out.error = strdup(r.error->message ? r.error->message : "syntax error");
    out.cursor = r.error->cursorpos;
    pg_query_free_error(r.error);
    return out;
  }
  out.tree = r.tree;
  return out;
}

void sl_parse_end(struct sl_parse* parse) {
  if (parse->context) pg_query_exit_memory_context((MemoryContext)parse->context);
  free(parse->error);
  parse->context = 0;
  parse->error = 0;
  parse->tree = 0;
}
