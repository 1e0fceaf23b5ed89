"""Real PostgreSQL clients and drivers work through the gateway with a JIT token."""
import json
import os
import subprocess

import psycopg
import pytest

from harness import BUILD, REPO, psql


def test_psql_reads_and_writes(gateway, token, pg):
    p = psql(gateway.dsn(token), "select count(*) from customers",
             "create temp table t(a int); insert into t values (1),(2); select sum(a) from t",
             "select current_user", check=True)
    assert p.stdout.splitlines() == ["4", "3", "sluice_agent"], p.stdout
    # The upstream session carries the identity in application_name.
    p = psql(gateway.dsn(token, application_name="agent-x"),
             "select current_setting('application_name')", check=True)
    assert p.stdout.strip() == "alice/agent-x"


def test_psql_copy_in_and_out(gateway, token):
    p = psql(gateway.dsn(token), "create temp table c(a int, b text)",
             "copy c from stdin", "copy c to stdout", input="1\tone\n2\ttwo\n\\.\n", check=True)
    # psql -c runs each command separately; the COPY FROM reads stdin.
    assert "1\tone" in p.stdout and "2\ttwo" in p.stdout, p.stdout


def test_libpq_simple_and_prepared(gateway, token):
    client = os.path.join(BUILD, "libpq_client")
    p = subprocess.run([client, gateway.dsn(token), "select 1 + 1",
                        "prepared:select name from customers where id = 1",
                        "select 1/0", "select 'after error'"],
                       capture_output=True, text=True, timeout=30)
    lines = p.stdout.splitlines()
    assert lines[0] == "2" and lines[1] == "Ada Lovelace", p.stdout
    assert lines[2].startswith("ERROR 22012"), p.stdout
    assert lines[3] == "after error", p.stdout


def test_psycopg_simple_prepared_and_pipeline(gateway, token):
    with psycopg.connect(gateway.dsn(token), autocommit=True) as c:
        assert c.execute("select count(*) from orders").fetchone()[0] == 200
        # Server-side prepared statements (Parse once, Bind/Execute many).
        for i in range(1, 8):
            row = c.execute("select id, status from orders where id = %s", (i,),
                            prepare=True).fetchone()
            assert row[0] == i
        # Pipeline mode: several statements in flight before the first result.
        with c.pipeline():
            curs = [c.execute("select %s::int * 2", (i,)) for i in range(20)]
        assert [cur.fetchone()[0] for cur in curs] == [i * 2 for i in range(20)]
        # An error inside a pipeline: the statements after it up to Sync are skipped.
        c.execute("create temp table p(a int)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            with c.pipeline():
                c.execute("insert into p values (1)")
                c.execute("select 1/0")
                c.execute("insert into p values (2)")
        assert c.execute("select count(*) from p").fetchone()[0] in (0, 1)
        # Transactions.
        c.autocommit = False
        c.execute("insert into p values (10)")
        c.rollback()
        assert c.execute("select count(*) from p where a = 10").fetchone()[0] == 0
        c.rollback()


def test_jdbc(gateway, token, tmp_path):
    src = os.path.join(REPO, "tests", "clients", "jdbc", "JdbcClient.java")
    subprocess.run(["javac", "-d", str(tmp_path), src], check=True, capture_output=True)
    url = f"jdbc:postgresql://127.0.0.1:{gateway.port}/shop?sslmode=disable"
    p = subprocess.run(["java", "-cp", f"{tmp_path}:/usr/share/java/postgresql.jar", "JdbcClient",
                        url, "alice", token], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    out = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert out["orders"] == "200"
    assert out["sum_cents"] == str(sum(i * 750 for i in range(1, 11)))
    assert out["batch"] == "50,1225"
    assert out["error_state"] == "22012"
    assert out["after_error"] == "still ok"


@pytest.fixture(scope="session")
def node_client():
    d = os.path.join(REPO, "tests", "clients", "node")
    if not os.path.isdir(os.path.join(d, "node_modules", "pg")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, check=True,
                       capture_output=True, timeout=300)
    return os.path.join(d, "client.js")


def test_node_postgres(gateway, token, node_client):
    p = subprocess.run(["node", node_client, "127.0.0.1", str(gateway.port), "alice", token,
                        "shop"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out == {"simple": 4, "param": "Alan Turing", "named": ["7.50", "15.00", "22.50"],
                   "tx": 55, "error": "42P01", "after": 42}


def test_pgbench_init_and_run(gateway, pg):
    token = gateway.issue("bench", access="write")
    env = dict(os.environ, PGPASSWORD=token)
    url = f"postgresql://bench@127.0.0.1:{gateway.port}/shop?sslmode=disable"
    init = subprocess.run(["pgbench", "-i", "-s", "1", "-q", url], capture_output=True, text=True,
                          env=env, timeout=120)
    assert init.returncode == 0, init.stderr
    for mode in ("simple", "extended", "prepared"):
        run = subprocess.run(["pgbench", "-n", "-c", "4", "-t", "200", "-M", mode, url],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "number of transactions actually processed: 800/800" in run.stdout, run.stdout
    # The data really is in the upstream database.
    assert pg.sql("select count(*) from pgbench_accounts", db="shop")[0][0] == 100000


def test_listen_notify_and_notices_are_relayed(gateway, token):
    with psycopg.connect(gateway.dsn(token), autocommit=True) as listener, \
            psycopg.connect(gateway.dsn(token), autocommit=True) as sender:
        listener.execute("listen sluice_test")
        notices = []
        sender.add_notice_handler(lambda d: notices.append(d.message_primary))
        sender.execute("do $$ begin raise notice 'hello from the server'; end $$")
        sender.execute("notify sluice_test, 'payload-1'")
        import threading
        received = []
        t = threading.Thread(target=lambda: received.append(next(listener.notifies())),
                             daemon=True)
        t.start()
        t.join(5)
        assert received, "no notification arrived through the gateway"
        assert (received[0].channel, received[0].payload) == ("sluice_test", "payload-1")
        assert notices == ["hello from the server"]
