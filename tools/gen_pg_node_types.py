#!/usr/bin/env python3
"""Generates the table of PostgreSQL 15 parse-node layouts that src/sql/pg_tree.h reads.

The analyzer walks the raw parse tree that libpg_query's copy of PostgreSQL's parser builds.
To read a node it needs, for every node type: its name, and for every field the name, byte
offset, size and what the field holds (a node, a list of nodes, a string, a scalar, an enum).
This script reads those from PostgreSQL's own headers (postgresql-server-dev-15) and writes a
C file that states each offset and size with offsetof/sizeof, so the compiler, not this
script, decides the layout.

Every node struct is checked against libpg_query's own description of it, the message of the
same name in pg_query.proto: the fields must be the same, in the same order (a field a later
minor release appended is left out, since libpg_query's nodes do not have it). A struct that
differs stops the build; a node type the proto does not describe is left out of the table.

Enum values are the exception. libpg_query builds its parser from its own copy of the headers,
and that copy reorders some enums (LimitOption's DEFAULT comes first, so that zero means "no
limit"). libpg_query's pg_query.proto lists every enum in its own order, numbered from one;
where that order differs from the server headers', the proto's order is used.

Usage: gen_pg_node_types.py SERVER_INCLUDE_DIR PG_QUERY_PROTO OUTPUT.c
"""

import re
import sys

HEADERS = ["nodes/nodes.h", "nodes/lockoptions.h", "nodes/primnodes.h", "nodes/value.h",
           "nodes/parsenodes.h"]

# Scalars by declared type. Anything not listed and not an enum or node struct is an error,
# so a new kind of field cannot slip through unread.
INT_TYPES = {"int", "int16", "int32", "int64", "uint32", "uint64", "long", "bits32", "Oid",
             "Index", "AttrNumber", "AclMode", "SubTransactionId", "uint16", "int8", "uint8"}
SKIP_TYPES = {"double", "float", "float4", "float8", "Cost", "Cardinality", "Selectivity",
              "Datum", "ParseLoc", "TimeLineID"}
# Fields libpg_query's proto leaves out on purpose (it never fills them in a raw tree).
LEFT_OUT_OF_PROTO = {("Query", "queryId")}
# Fields a minor release appended after the PostgreSQL version libpg_query copied (15.1):
# libpg_query's nodes do not have them, so they are never read. Any other difference
# between a struct and its proto message stops the build.
APPENDED_SINCE = {("CreateStatsStmt", "owner")}
# Pointers that hold no node: sets of integers and arrays of scalars.
NON_NODE_POINTERS = {"Bitmapset", "Oid", "AttrNumber", "int", "int16", "bool", "Datum",
                     "ParamListInfo", "void"}


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


def main():
    include_dir, proto_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    sources = {}
    for h in HEADERS:
        with open(f"{include_dir}/{h}", encoding="utf-8") as f:
            sources[h] = strip_comments(f.read())
    all_text = "\n".join(sources.values())

    # NodeTag values.
    m = re.search(r"typedef\s+enum\s+NodeTag\s*\{(.*?)\}\s*NodeTag\s*;", all_text, re.S)
    tags = set(re.findall(r"\bT_(\w+)", m.group(1)))

    # Enums: name -> members (names only; the compiler supplies the values).
    enums = {}
    for em in re.finditer(r"typedef\s+enum\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", all_text, re.S):
        name = em.group(2)
        if name == "NodeTag":
            continue
        members, explicit = [], False
        for part in em.group(1).split(","):
            part = part.strip()
            if not part:
                continue
            explicit = explicit or "=" in part
            members.append(part.split("=")[0].strip())
        enums[name] = (members, explicit)

    # libpg_query's enum orders.
    with open(proto_path, encoding="utf-8") as f:
        proto = f.read()
    # libpg_query's node messages: the C field names (json_name), in declaration order.
    proto_messages = {}
    for mm in re.finditer(r"^message\s+(\w+)\s*\{(.*?)^\}", proto, re.S | re.M):
        names = []
        for fm in re.finditer(r"^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*"
                              r"(?:\[json_name=\"(\w+)\"\])?\s*;", mm.group(2), re.M):
            names.append(fm.group(2) or fm.group(1))
        proto_messages[mm.group(1)] = names
    proto_enums = {}
    for em in re.finditer(r"\benum\s+(\w+)\s*\{(.*?)\}", proto, re.S):
        pairs = re.findall(r"(\w+)\s*=\s*(\d+)\s*;", em.group(2))
        proto_enums[em.group(1)] = [(n, int(v) - 1) for n, v in pairs if int(v) > 0]

    # Node structs: `typedef struct Name { NodeTag type; ... } Name;`, and a few declared
    # `struct Name { ... };` with the typedef elsewhere (partdefs.h). Braces are matched, since
    # A_Const holds a union.
    structs = {}
    for sm in re.finditer(r"\b(typedef\s+)?struct\s+(\w+)\s*\{", all_text):
        depth, i = 1, sm.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(all_text[i], 0)
            i += 1
        body = all_text[sm.end():i - 1]
        tail = re.match(r"\s*(\w*)\s*;", all_text[i:])
        if not tail:
            continue
        name = sm.group(2)
        if sm.group(1) and tail.group(1) != name:
            continue
        structs.setdefault(name, body)
    # Node types libpg_query has no message for (planner nodes such as Const) are left out of
    # the table: such a tag in a raw tree then reads as unknown, and the analysis fails closed.
    node_structs = {n for n in structs if n in tags and n in proto_messages}
    # Expr and Node have no tag of their own: they are headers.
    header_types = {"Expr", "NodeTag", "Node"}

    out = []
    w = out.append
    w("/* Generated by tools/gen_pg_node_types.py from PostgreSQL's headers. Do not edit. */")
    w('#include "postgres.h"')
    w("#include <stddef.h>")
    for h in HEADERS:
        w(f'#include "{h}"')
    w('#include "sql/pg_node_types.h"')
    w("")
    w("_Static_assert(offsetof(List, length) == SL_LIST_LENGTH_OFFSET, \"List layout\");")
    w("_Static_assert(offsetof(List, elements) == SL_LIST_ELEMENTS_OFFSET, \"List layout\");")
    w("_Static_assert(sizeof(ListCell) == sizeof(void *), \"ListCell layout\");")
    w("_Static_assert(sizeof(NodeTag) == sizeof(int), \"NodeTag size\");")
    w("")

    enum_names = sorted(enums)
    enum_index = {n: i for i, n in enumerate(enum_names)}
    problems = []
    w("const char *sl_enum_name(int enum_id, int value) {")
    w("  switch (enum_id) {")
    for i, n in enumerate(enum_names):
        members, explicit = enums[n]
        in_proto = [m for m, _ in proto_enums.get(n, [])]
        w(f"    case {i}: /* {n} */")
        w("      switch (value) {")
        # A later minor release may add members at the end (15.x added WCO_VIEW_CONFLICT_CHECK).
        if not in_proto or members[:len(in_proto)] == in_proto:
            for mbr in members:  # the compiler gives the values
                w(f'        case {mbr}: return "{mbr}";')
        elif sorted(in_proto) == sorted(members) and not explicit:
            w("        /* libpg_query's order, from pg_query.proto */")
            for mbr, value in proto_enums[n]:
                w(f'        case {value}: return "{mbr}";')
        else:
            problems.append(f"enum {n}: the headers and pg_query.proto disagree")
        w("      }")
        w("      return 0;")
    w("  }")
    w("  return 0;")
    w("}")
    w("")

    type_names = sorted(node_structs)
    type_index = {n: i for i, n in enumerate(type_names)}
    for n in type_names:
        fields = []
        body = structs[n]
        if n == "A_Const":
            # The inline value union: one virtual field per value type, present when the
            # union holds that type (libpg_query's JSON output names them the same way).
            body = re.sub(r"union\s+\w+\s*\{.*?\}\s*val\s*;", " ", body, flags=re.S)
            for vname, vtype in [("ival", "Integer"), ("fval", "Float"), ("boolval", "Boolean"),
                                 ("sval", "String"), ("bsval", "BitString")]:
                fields.append((vname, f"offsetof(A_Const, val)", f"offsetof(A_Const, isnull)",
                               "SL_VALUE", f"T_{vtype}", type_index[vtype]))
        names_all = []  # every field but the node header, in declaration order
        for decl in body.split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            if "(" in decl or "union" in decl:
                problems.append(f"{n}: cannot read declaration '{decl}'")
                continue
            decl = decl.replace("const ", "").replace("struct ", "")
            dm = re.match(r"(\w+)\s*(.*)$", decl)
            base, rest = dm.group(1), dm.group(2)
            for d in rest.split(","):
                d = d.strip()
                stars = d.count("*")
                fname = d.replace("*", "").strip()
                if "[" in fname:
                    problems.append(f"{n}.{fname}: arrays are not supported")
                    continue
                if not (stars == 0 and base in ("NodeTag", "Expr")):
                    names_all.append(fname)
                off = f"offsetof({n}, {fname})"
                size = f"sizeof((({n} *)0)->{fname})"
                if stars == 0:
                    if base in header_types:
                        continue
                    if base == "bool":
                        kind = "SL_BOOL"
                    elif base == "char":
                        kind = "SL_CHAR"
                    elif base in INT_TYPES:
                        kind = "SL_INT"
                    elif base in enums:
                        fields.append((fname, off, size, "SL_ENUM", "0", enum_index[base]))
                        continue
                    elif base in node_structs:
                        fields.append((fname, off, size, "SL_EMBED", "0", type_index[base]))
                        continue
                    elif base in SKIP_TYPES:
                        continue
                    else:
                        problems.append(f"{n}.{fname}: unknown scalar type {base}")
                        continue
                    fields.append((fname, off, size, kind, "0", -1))
                elif stars == 1:
                    if base in ("Node", "Expr"):
                        fields.append((fname, off, size, "SL_NODE", "0", -1))
                    elif base == "List":
                        fields.append((fname, off, size, "SL_LIST", "0", -1))
                    elif base == "char":
                        fields.append((fname, off, size, "SL_STRING", "0", -1))
                    elif base in node_structs:
                        fields.append((fname, off, size, "SL_TYPED", "0", type_index[base]))
                    elif base in NON_NODE_POINTERS:
                        continue
                    else:
                        problems.append(f"{n}.{fname}: unknown pointer type {base} *")
                else:
                    problems.append(f"{n}.{fname}: pointer to pointer")
        # The fields of libpg_query's copy of this struct, from its proto message, must be the
        # headers' fields in the same order, but for fields appended since (APPENDED_SINCE),
        # which are never read. Anything else means the layouts may differ.
        if n != "A_Const":
            theirs = [x for x in proto_messages.get(n, []) if x != "xpr"]
            names_all = [x for x in names_all if (n, x) not in LEFT_OUT_OF_PROTO]
            appended = [x for x in names_all[len(theirs):] if (n, x) not in APPENDED_SINCE]
            if names_all[:len(theirs)] != theirs or appended:
                problems.append(f"{n}: fields {names_all} differ from pg_query.proto's {theirs}")
            else:
                fields = [f for f in fields if f[0] in theirs]
        w(f"static const struct sl_field fields_{n}[] = {{")
        for fname, off, size, kind, tag, ref in fields:
            w(f'  {{"{fname}", {len(fname)}, {fnv1a(fname)}u, (unsigned short)({off}), '
              f"(unsigned char)({size}), {kind}, {ref}, {tag}}},")
        w('  {0, 0, 0, 0, 0, SL_NONE, -1, 0}')
        w("};")

    w("")
    w("const struct sl_type sl_types[] = {")
    for n in type_names:
        w(f'  {{"{n}", {len(n)}, fields_{n}, '
          f"(unsigned short)(sizeof(fields_{n}) / sizeof(fields_{n}[0]) - 1)}},")
    w("};")
    w(f"const int sl_type_count = {len(type_names)};")
    w("")
    w("int sl_type_of_tag(int tag) {")
    w("  switch (tag) {")
    for n in type_names:
        w(f"    case T_{n}: return {type_index[n]};")
    w("  }")
    w("  return -1;")
    w("}")
    w("")
    w("const int sl_list_tag = T_List;")
    w("const int sl_int_list_tag = T_IntList;")
    w("const int sl_oid_list_tag = T_OidList;")
    w(f"const int sl_raw_stmt_type = {type_index['RawStmt']};")

    if problems:
        for p in problems:
            print(f"gen_pg_node_types: {p}", file=sys.stderr)
        sys.exit(1)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
