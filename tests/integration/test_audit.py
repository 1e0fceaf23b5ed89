"""Session recording: what real clients did is in the tamper-evident log, replay shows what
they received, tampering is detected, a kill -9 loses nothing acknowledged, and an unwritable
log refuses statements instead of running them unrecorded."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types

import psycopg
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLUICE, AdminClient, Gateway, psql  # noqa: E402


def keygen(directory):
    path = os.path.join(directory, "audit.key")
    p = subprocess.run([SLUICE, "audit", "keygen"], capture_output=True, text=True, check=True)
    with open(path, "w") as f:
        f.write(p.stdout)
    os.chmod(path, 0o600)
    return path


def audit_gateway(pg, name, durability="fsync", extra=""):
    # The key lives in the gateway's own directory (a file secret is read relative to the
    # configuration), so destroy() removes it with everything else.
    config = f"""
audit:
  durability: {durability}
  signing_key: "${{file:audit.key}}"
  checkpoint_interval: 200ms
{extra}
roles:
  - name: recorded
    match: {{identities: ["rec-*"]}}
    connections: [shop]
"""
    g = Gateway(pg, name=name, admin=True, config_extra=config)
    keygen(g.dir)
    return g


@pytest.fixture(scope="module")
def gw(pg):
    g = audit_gateway(pg, "gw-audit").start()
    yield g
    g.destroy()


def records(gw, session=None):
    p = gw.cli("audit", "export", "--format", "jsonl")
    out = [json.loads(line) for line in p.stdout.splitlines()]
    if session:
        out = [r for r in out if isinstance(r["body"], dict) and r["body"].get("session") == session]
    return out


def replay(gw, session):
    return json.loads(gw.cli("replay", session, "--json").stdout)


def session_of(gw, identity):
    sessions = json.loads(gw.cli("sessions", "list", "--json", "--identity", identity).stdout)
    assert sessions, f"no session of {identity}"
    return sessions[0]["id"]


def wait_ended(gw, session, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(r["kind"] == "session_end" for r in records(gw, session)):
            return
        time.sleep(0.1)
    raise AssertionError(f"session {session} has no session_end record")


def test_psql_session_is_recorded_and_replays_what_the_client_saw(gw, pg):
    token = gw.issue("rec-psql", access="read", tables="public.orders,public.customers")
    # psql goes on after errors here (no ON_ERROR_STOP), as an interactive session would.
    args = ["psql", "-X", "-q", "-At", gw.dsn(token, identity="rec-psql",
                                              application_name="psql-audit")]
    for c in ["SELECT id, name, email FROM customers ORDER BY id", "DELETE FROM orders",
              "SELECT 1/0", "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"]:
        args += ["-c", c]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    client_rows = [line for line in p.stdout.splitlines() if "|" in line]
    sid = session_of(gw, "rec-psql")
    wait_ended(gw, sid)
    recs = replay(gw, sid)
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end", kinds
    start = recs[0]["body"]
    assert start["identity"] == "rec-psql" and start["connection"] == "shop"
    assert start["application"] == "psql-audit" and start["tls"] is False
    assert start["grant"].startswith("g_") and start["client"].startswith("127.0.0.1:")
    statements = [r["body"] for r in recs if r["kind"] == "statement"]
    assert [s["text"] for s in statements] == [
        "SELECT id, name, email FROM customers ORDER BY id", "DELETE FROM orders", "SELECT 1/0",
        "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"]
    assert statements[0]["decision"] == "allow"
    assert statements[0]["analysis"][0]["reads"] == ["public.customers"]
    assert {"relation": "public.customers", "column": "email", "clause": "output"} in \
        statements[0]["analysis"][0]["columns"]
    assert statements[1]["decision"] == "refuse" and statements[1]["sqlstate"] == "42501"
    assert statements[1]["rule"], statements[1]
    results = [r["body"] for r in recs if r["kind"] == "result"]
    by_n = {r["n"]: r for r in results}
    assert 2 not in by_n  # a refused statement never ran
    assert by_n[3]["error"]["sqlstate"] == "22012"
    # The rows in the record are the rows psql printed, cell for cell.
    recorded = ["|".join("" if c is None else c for c in row)
                for n in (1, 4) for row in by_n[n]["data"]]
    assert recorded == client_rows, (recorded, client_rows)
    assert [c["name"] for c in by_n[1]["columns"]] == ["id", "name", "email"]
    assert by_n[1]["rows"] == 4 and by_n[1]["tag"] == "SELECT 4" and not by_n[1]["truncated"]
    end = recs[-1]["body"]
    assert end["reason"] == "client_closed" and end["statements"] == 4
    # The human-readable replay shows the same.
    text = gw.cli("replay", sid).stdout
    assert "Ada Lovelace" in text and "refused: 42501" in text and "22012" in text


def test_psycopg_prepared_and_pipelined_statements_record_their_parameters(gw):
    token = gw.issue("rec-psycopg", access="read")
    with psycopg.connect(gw.dsn(token, identity="rec-psycopg"), autocommit=True) as c:
        c.execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True).fetchall()
        with c.pipeline():
            c.execute("SELECT amount FROM orders WHERE id = %s", (7,))
            c.execute("SELECT %s::text AS echo", ("naïve ✓",))
    sid = session_of(gw, "rec-psycopg")
    wait_ended(gw, sid)
    recs = replay(gw, sid)
    executes = [r["body"] for r in recs if r["kind"] == "statement" and
                r["body"]["origin"] == "execute"]
    # psycopg sends integers in binary: recorded as their bytes, exactly.
    assert [{"base64": "AAI="}] in [s.get("params") for s in executes], executes
    assert [{"base64": "AAc="}] in [s.get("params") for s in executes]
    assert ["naïve ✓"] in [s.get("params") for s in executes]
    results = [r["body"] for r in recs if r["kind"] == "result"]
    assert [["Alan Turing"]] in [r["data"] for r in results], results
    assert [["naïve ✓"]] in [r["data"] for r in results]
    # Execute results carry no RowDescription: the columns come from the Describe.
    named = [r for r in results if r["data"] == [["Alan Turing"]]][0]
    assert [c["name"] for c in named["columns"]] == ["name"], named


def test_pgbench_statements_are_all_recorded(gw, tmp_path):
    token = gw.issue("rec-bench", access="read")
    script = tmp_path / "select.sql"
    script.write_text("\\set id random(1, 200)\nSELECT amount FROM orders WHERE id = :id;\n")
    env = dict(os.environ, PGPASSWORD=token)
    p = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(gw.port), "-U",
                        "rec-bench", "-c", "2", "-t", "25", "-f", str(script), "shop"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    sessions = json.loads(gw.cli("sessions", "list", "--json", "--identity", "rec-bench").stdout)
    assert len(sessions) >= 2
    statements = 0
    for s in sessions:
        wait_ended(gw, s["id"])
        statements += sum(1 for r in records(gw, s["id"]) if r["kind"] == "statement" and
                          r["body"]["text"].startswith("SELECT amount"))
    assert statements == 50


def test_grant_events_and_session_index(gw):
    token = gw.issue("rec-index", access="read", tables="public.customers")
    psql(gw.dsn(token, identity="rec-index"), "SELECT name FROM customers LIMIT 1", check=True)
    gid = gw.grant_id_of("rec-index")
    gw.cli("grants", "revoke", gid)
    deadline = time.time() + 10
    events = []
    while time.time() < deadline:
        events = [r["body"] for r in records(gw) if r["kind"] == "grant" and
                  r["body"].get("subject") == gid]
        if {"grant.approved", "grant.revoked"} <= {e["event"] for e in events}:
            break
        time.sleep(0.2)
    assert {"grant.approved", "grant.revoked"} <= {e["event"] for e in events}, events
    # The session index finds sessions by what they touched.
    sid = session_of(gw, "rec-index")
    wait_ended(gw, sid)
    deadline = time.time() + 5
    found = []
    while time.time() < deadline and sid not in found:
        found = [s["id"] for s in json.loads(gw.cli("sessions", "list", "--json", "--column",
                                                    "customers.name").stdout)]
        time.sleep(0.1)
    assert sid in found
    by_table = [s["id"] for s in json.loads(gw.cli("sessions", "list", "--json", "--table",
                                                   "public.customers").stdout)]
    assert sid in by_table
    none = json.loads(gw.cli("sessions", "list", "--json", "--table", "public.items").stdout)
    assert sid not in [s["id"] for s in none]


def stopped_copy(pg, name):
    """A gateway that ran some sessions and stopped cleanly; returns (gateway, audit dir)."""
    g = audit_gateway(pg, name, extra="  segment_size: 64KiB").start()
    token = g.issue("tamper", access="read")
    for _ in range(10):
        psql(g.dsn(token, identity="tamper"), "SELECT * FROM orders", check=True)
    g.stop()
    return g, os.path.join(g.dir, "data", "audit")


def verify(g, *extra):
    return g.cli("audit", "verify", *extra, check=False)


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".slog"))


def test_tampering_is_detected_by_verify(pg):
    g, d = stopped_copy(pg, "gw-tamper")
    try:
        ok = verify(g)
        assert ok.returncode == 0 and "sealed" in ok.stdout, ok.stdout + ok.stderr
        assert len(segments(d)) >= 2
        work = tempfile.mkdtemp(prefix="sluice-tamper-")

        def case(mutate):
            copy = os.path.join(work, str(len(os.listdir(work))))
            shutil.copytree(d, copy)
            mutate(copy)
            return verify(g, "--dir", copy)

        def flip(copy):
            path = os.path.join(copy, segments(copy)[0])
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0x01
            open(path, "wb").write(bytes(data))

        def truncate(copy):
            path = os.path.join(copy, segments(copy)[0])
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) * 2 // 3])

        def reorder(copy):
            a, b = [os.path.join(copy, s) for s in segments(copy)[:2]]
            os.rename(a, a + ".tmp")
            os.rename(b, a)
            os.rename(a + ".tmp", b)

        def delete_first(copy):
            os.remove(os.path.join(copy, segments(copy)[0]))

        def drop_tail(copy):
            # Cut the last segment to its first 1000 bytes: the seal and what preceded it go.
            path = os.path.join(copy, segments(copy)[-1])
            data = open(path, "rb").read()
            open(path, "wb").write(data[:200])

        for name, mutate, expect in [("flip", flip, "checksum"),
                                     ("truncate", truncate, "not sealed"),
                                     ("reorder", reorder, "reordered"),
                                     ("delete", delete_first, "retention"),
                                     ("drop tail", drop_tail, "removed from the end")]:
            p = case(mutate)
            assert p.returncode == 1, (name, p.stdout, p.stderr)
            assert "FAILED" in p.stdout and expect in p.stdout, (name, p.stdout)
        shutil.rmtree(work, ignore_errors=True)
    finally:
        g.destroy()


def test_kill_9_under_load_loses_no_acknowledged_statement(pg):
    g = audit_gateway(pg, "gw-crash").start()
    try:
        token = g.issue("crash", access="read", ttl="30m")
        acknowledged = []
        stop = threading.Event()

        def client():
            try:
                with psycopg.connect(g.dsn(token, identity="crash"), autocommit=True) as c:
                    i = 0
                    while not stop.is_set():
                        marker = f"ack-{threading.get_ident()}-{i}"
                        c.execute(f"SELECT '{marker}'").fetchone()
                        acknowledged.append(marker)
                        i += 1
            except psycopg.Error:
                pass
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        env = dict(os.environ, PGPASSWORD=token)
        script = os.path.join(g.dir, "bench.sql")
        with open(script, "w") as f:
            f.write("\\set id random(1, 200)\nSELECT amount FROM orders WHERE id = :id;\n")
        bench = subprocess.Popen(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(g.port), "-U",
                                  "crash", "-c", "2", "-T", "30", "-f", script, "shop"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                 text=True)
        time.sleep(2.0)
        g.proc.send_signal(signal.SIGKILL)
        g.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
        _, bench_err = bench.communicate(timeout=30)
        # pgbench ran until the gateway died under it.
        assert "aborted" in bench_err, bench_err
        assert len(acknowledged) > 50, len(acknowledged)
        g.start()  # recovers: continues the chain in a new segment
        g.stop()
        p = verify(g)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "resumed the chain" in p.stderr, p.stderr
        texts = {r["body"].get("text") for r in records(g) if r["kind"] == "statement"}
        missing = [m for m in acknowledged if f"SELECT '{m}'" not in texts]
        assert not missing, missing[:5]
    finally:
        g.destroy()


def test_sigterm_while_starting_stops_cleanly_with_nothing_unsealed():
    """A SIGTERM that arrives while the gateway is still starting must not end it outright
    (the default action), and must not wait for a database that does not answer either.
    Start-up is held here by the catalog read (an upstream that accepts and says nothing, so
    the read would last its 10 s timeout). The signal stops the read and the gateway at once,
    before the audit log is opened: it exits 0 and leaves no segment behind, sealed or not.
    (A signal after the log is opened lets start-up finish and drains, as a running gateway
    does: the log is sealed. The signal is caught from the start of start-up on.)"""
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(8)
    accepted = []
    release = threading.Event()

    def hold():
        upstream.settimeout(30)
        try:
            conn, _ = upstream.accept()
        except OSError:
            return
        accepted.append(conn)
        release.wait(30)
        conn.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    g = audit_gateway(types.SimpleNamespace(port=upstream.getsockname()[1]), "gw-early-term")
    try:
        offset = g.launch()
        deadline = time.time() + 20
        while not accepted and time.time() < deadline:
            assert g.proc.poll() is None, g.log()
            time.sleep(0.02)
        assert accepted, "the gateway never connected to read the catalog:\n" + g.log()
        time.sleep(0.5)  # inside the read
        sent = time.time()
        g.proc.send_signal(signal.SIGTERM)
        assert g.proc.wait(15) == 0, g.log()
        assert time.time() - sent < 3, "the stop waited for the catalog read:\n" + g.log()
        log = g.log()[offset:]
        assert "gateway: received signal 15 while reading the catalogs: stopped" in log, log
        assert "listening for PostgreSQL clients" not in log, log
        audit_dir = os.path.join(g.dir, "data", "audit")
        assert not os.path.isdir(audit_dir) or not segments(audit_dir), os.listdir(audit_dir)
    finally:
        release.set()
        try:
            upstream.shutdown(socket.SHUT_RDWR)  # wakes an accept still waiting
        except OSError:
            pass
        holder.join(10)
        upstream.close()
        g.destroy()


def test_an_unwritable_audit_log_refuses_statements(pg):
    blocker = tempfile.NamedTemporaryFile(prefix="sluice-notadir-", delete=False)
    blocker.close()
    g = audit_gateway(pg, "gw-failclosed", extra=f"  dir: {blocker.name}/audit").start()
    try:
        assert "cannot be written" in g.log()
        token = g.issue("failclosed", access="write")
        before = pg.sql("SELECT count(*) FROM orders", db="shop")[0][0]
        p = psql(g.dsn(token, identity="failclosed"),
                 "INSERT INTO orders(customer_id, amount) VALUES (1, 1)")
        assert p.returncode != 0
        assert "audit log cannot record this statement" in p.stderr, p.stderr
        assert pg.sql("SELECT count(*) FROM orders", db="shop")[0][0] == before
        api = AdminClient(g.admin_port)
        status, body, _ = api.call("GET", "/healthz")
        assert status == 503 and "audit" in body["reason"], body
        status, body, _ = api.call("GET", "/readyz")
        assert status == 503
    finally:
        g.destroy()
        os.unlink(blocker.name)


def test_live_tail_of_a_running_session(gw):
    key = gw.cli("apikeys", "create", "--identity", "rec-tail", "--roles",
                 "recorded").stdout.strip().splitlines()[-1]
    token = gw.issue("rec-tail", access="read")
    api = AdminClient(gw.admin_port)
    with psycopg.connect(gw.dsn(token, identity="rec-tail"), autocommit=True) as c:
        c.execute("SELECT 'first'").fetchone()
        sid = session_of(gw, "rec-tail")
        status, body, _ = api.call("GET", f"/v1/sessions/{sid}/events?after=0", key)
        assert status == 200 and not body["ended"], body
        texts = [e["body"].get("text") for e in body["events"] if e["kind"] == "statement"]
        assert texts == ["SELECT 'first'"], body
        # Follow: a waiting poll returns as soon as the next statement is recorded.
        result = {}

        def poll():  # follows the session, as a tail does, until 'second' shows
            after, seen = body["next"], []
            deadline = time.time() + 15
            while time.time() < deadline:
                st, got, _ = api.call("GET", f"/v1/sessions/{sid}/events?after={after}&wait=10",
                                      key)
                seen += got["events"]
                after = got["next"]
                if any(e["body"].get("text") == "SELECT 'second'" for e in got["events"]):
                    break
            result["r"] = (st, {"events": seen}, None)
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        c.execute("SELECT 'second'").fetchone()
        t.join(15)
        status, later, _ = result["r"]
        kinds = [(e["kind"], e["body"].get("text")) for e in later["events"]]
        assert ("statement", "SELECT 'second'") in kinds, kinds
        # Another identity without review rights sees nothing.
        other = gw.cli("apikeys", "create", "--identity", "rec-other", "--roles",
                       "recorded").stdout.strip().splitlines()[-1]
        assert api.call("GET", f"/v1/sessions/{sid}/events", other)[0] == 404
    # The CLI follows until the session ends.
    env = dict(gw.env(), SLUICE_API_KEY=key)
    p = subprocess.run([SLUICE, "sessions", "tail", sid, "--server",
                        f"http://127.0.0.1:{gw.admin_port}"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert lines[0]["kind"] == "session_start" and lines[-1]["kind"] == "session_end"
