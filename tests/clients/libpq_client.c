/* A libpq client for the integration tests: connects with the conninfo in argv[1], runs each
 * further argument as a query (simple protocol) and, if it starts with "prepared:", as a
 * prepared statement via PQprepare/PQexecPrepared. Prints rows as tab-separated text, and
 * errors as "ERROR <sqlstate> <message>". Exits 0 when every query succeeded. */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static int print_result(PGresult* r) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); i++) {
      for (int j = 0; j < PQnfields(r); j++)
        printf("%s%s", j ? "\t" : "", PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
      printf("\n");
    }
    return 0;
  }
  if (st == PGRES_COMMAND_OK) {
    printf("%s\n", PQcmdStatus(r));
    return 0;
  }
  const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  printf("ERROR %s %s", code ? code : "-----", PQresultErrorMessage(r));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: libpq_client CONNINFO [QUERY|prepared:QUERY]...\n");
    return 2;
  }
  PGconn* c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) {
    printf("CONNECT FAILED %s", PQerrorMessage(c));
    PQfinish(c);
    return 3;
  }
  int failed = 0;
  for (int i = 2; i < argc; i++) {
    PGresult* r;
    if (strncmp(argv[i], "prepared:", 9) == 0) {
      r = PQprepare(c, "", argv[i] + 9, 0, NULL);
      if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        r = PQexecPrepared(c, "", 0, NULL, NULL, NULL, 0);
      }
    } else {
      r = PQexec(c, argv[i]);
    }
    failed |= print_result(r);
    PQclear(r);
  }
  PQfinish(c);
  return failed;
}
