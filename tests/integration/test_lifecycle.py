"""Session lifetime: upstream outages, token expiry, revocation, cancel, drain, idle timeouts."""
import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import types

import psycopg
import pytest

from harness import Gateway, PgServer, RawClient, psql


@contextlib.contextmanager
def paused(gateway):
    """Stops the gateway's process while the block runs, and 0.3 s more for what the block
    did to reach the gateway's sockets, so that it finds all of it at once when it wakes: one
    readiness event."""
    os.kill(gateway.proc.pid, signal.SIGSTOP)
    try:
        yield
        time.sleep(0.3)
    finally:
        os.kill(gateway.proc.pid, signal.SIGCONT)


@contextlib.contextmanager
def raw_session(gateway, pg, identity):
    """A raw protocol client logged in as `identity`, with its one server connection open."""
    raw = RawClient(gateway.port, timeout=5.0)
    try:
        assert raw.login(gateway.issue(identity), user=identity) is None
        assert upstream_backends(pg, identity) == 1
        yield raw
    finally:
        raw.close()


def upstream_backends(pg, identity):
    rows = pg.sql("select count(*) from pg_stat_activity where application_name like "
                  f"'{identity}/%' or application_name = '{identity}'")
    return rows[0][0]


def test_upstream_down_then_back():
    pg = PgServer("outage").init().start().setup_shop()
    gw = Gateway(pg, limits={"upstream_connect_timeout": "2s"}).start()
    try:
        token = gw.issue("alice")
        assert psql(gw.dsn(token), "select 1", check=True).stdout.strip() == "1"
        pg.stop()
        p = psql(gw.dsn(token), "select 1")
        assert p.returncode != 0
        assert 'sluice: cannot connect to the database of connection "shop"' in p.stderr, p.stderr
        raw = RawClient(gw.port)
        err = raw.login(token)
        raw.close()
        assert err["C"] == "08001" and err["S"] == "FATAL", err
        pg.start()
        assert psql(gw.dsn(token), "select 2", check=True).stdout.strip() == "2"
    finally:
        gw.destroy()
        pg.destroy()


def test_token_expiry_ends_a_live_session_mid_transaction(gateway, pg):
    pg.sql("create table if not exists expiry_probe(a int); "
           "grant all on expiry_probe to sluice_agent", db="shop")
    token = gateway.issue("gina", ttl="3s", access="write")
    c = psycopg.connect(gateway.dsn(token, "gina", application_name="expiry"))
    c.execute("insert into expiry_probe values (42)")  # in an open transaction
    assert upstream_backends(pg, "gina") == 1
    time.sleep(3.6)
    # The gateway ended the session at expiry, without waiting for the client: the upstream
    # backend is gone and its transaction rolled back.
    assert upstream_backends(pg, "gina") == 0
    assert pg.sql("select count(*) from expiry_probe where a = 42", db="shop")[0][0] == 0
    with pytest.raises(psycopg.OperationalError) as e:
        c.execute("select 1")
    assert "access window of grant" in str(e.value)
    c.close()


def test_token_expiry_during_interactive_psql(gateway):
    token = gateway.issue("hank", ttl="2s")
    p = subprocess.Popen(["psql", "-X", "-At", gateway.dsn(token, "hank")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("select 'before';\n")
    p.stdin.flush()
    time.sleep(2.5)
    out, err = p.communicate("select 'after';\n", timeout=10)
    assert "before" in out and "after" not in out, out
    assert "sluice: the access window of grant" in err, err


def test_revoke_ends_a_live_session_within_a_second(gateway, pg):
    token = gateway.issue("ivan")
    gid = gateway.grant_id_of("ivan")
    result = {}

    def run():
        try:
            with psycopg.connect(gateway.dsn(token, "ivan")) as c:
                c.execute("select pg_sleep(20)")
        except psycopg.Error as e:
            result["error"] = str(e)
            result["at"] = time.time()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.8)
    revoked_at = time.time()
    gateway.cli("grants", "revoke", gid)
    t.join(10)
    assert "was revoked" in result.get("error", ""), result
    assert result["at"] - revoked_at < 1.0, result["at"] - revoked_at
    # The running statement was cancelled upstream, not left to run for 20 seconds.
    time.sleep(0.3)
    assert upstream_backends(pg, "ivan") == 0


def test_the_server_closing_an_idle_session_ends_it_at_once(gateway, pg):
    """The server's FATAL and its close often reach the gateway together, in one readiness
    event; the gateway passes the FATAL on and closes the client's connection without waiting
    for the client to send anything."""
    with raw_session(gateway, pg, "olga") as raw:
        # Paused, the gateway finds the FATAL and the close already there when it wakes.
        with paused(gateway):
            pg.sql("select pg_terminate_backend(pid) from pg_stat_activity "
                   "where application_name like 'olga/%' or application_name = 'olga'")
        t, body = raw.read_msg()
        assert t == b"E", (t, body)
        assert raw.fields(body)["C"] == "57P01", raw.fields(body)
        started = time.time()
        assert raw.read_msg() == (None, None)  # closed by the gateway
        assert time.time() - started < 2


def test_a_client_that_closes_mid_message_ends_its_session_at_once(gateway, pg):
    """Half a message and the client's close reach the gateway together, in one readiness
    event. The half message leaves the gateway waiting for more bytes, and no further event
    comes, so only the event itself can say that the client has gone."""
    with raw_session(gateway, pg, "petra") as raw:
        with paused(gateway):
            raw.send(b"Q" + struct.pack("!i", 100) + b"select ")  # 93 bytes short
            raw.sock.shutdown(socket.SHUT_WR)
        deadline = time.time() + 3
        while upstream_backends(pg, "petra") and time.time() < deadline:
            time.sleep(0.05)
        assert upstream_backends(pg, "petra") == 0
        raw.read_all_until_close()  # returns: the gateway closed the client's side too


def test_cancel_request_cancels_pg_sleep(gateway, token):
    with psycopg.connect(gateway.dsn(token)) as c:
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        started = time.time()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(10)")
        assert time.time() - started < 5
        c.rollback()
        assert c.execute("select 'usable'").fetchone()[0] == "usable"


def test_a_cancel_with_the_wrong_key_does_nothing(gateway, token):
    with psycopg.connect(gateway.dsn(token), autocommit=True) as c:
        info = c.pgconn.backend_pid
        # Forge a CancelRequest with the right pid but a wrong secret.
        import socket
        import struct
        s = socket.create_connection(("127.0.0.1", gateway.port))
        s.sendall(struct.pack("!iiii", 16, 80877102, info, 12345))
        s.close()
        assert c.execute("select pg_sleep(0.3), 'not cancelled'").fetchone()[1] == "not cancelled"


def test_idle_in_transaction_timeout(pg):
    gw = Gateway(pg, limits={"idle_in_transaction_timeout": "1s"}).start()
    try:
        token = gw.issue("judy")
        c = psycopg.connect(gw.dsn(token, "judy"))
        # Regression: statements that follow each other inside a transaction used to leave the
        # idle deadline unarmed when the next one arrived before the supervisor ran.
        for i in range(20):
            c.execute("select %s", (i,))  # the first opens a transaction
        time.sleep(1.6)
        with pytest.raises(psycopg.OperationalError) as e:
            c.execute("select 2")
        assert "idle in a transaction" in str(e.value)
        # Outside a transaction, idling is fine.
        c2 = psycopg.connect(gw.dsn(token, "judy"), autocommit=True)
        time.sleep(1.5)
        assert c2.execute("select 3").fetchone()[0] == 3
        c2.close()
    finally:
        gw.destroy()


def test_sigterm_drains(pg):
    gw = Gateway(pg).start()
    token = gw.issue("kim")
    result = {}

    def long_statement():
        with psycopg.connect(gw.dsn(token, "kim"), autocommit=True) as c:
            result["value"] = c.execute("select pg_sleep(1.5), 'finished'").fetchone()[1]

    idle = psycopg.connect(gw.dsn(token, "kim"), autocommit=True)
    t = threading.Thread(target=long_statement)
    t.start()
    time.sleep(0.5)
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # No new sessions while draining.
    assert psql(gw.dsn(token, "kim"), "select 1").returncode != 0
    t.join(10)
    assert result.get("value") == "finished"  # the running statement finished
    assert gw.proc.wait(10) == 0
    with pytest.raises(psycopg.OperationalError):
        idle.execute("select 1")
    idle.close()
    gw.destroy()


def silent_upstream():
    """A server that accepts connections and never answers (a database that hangs), with the
    number of connections it has accepted so far."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()

    def close():
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        for conn in accepted:
            conn.close()

    return listener.getsockname()[1], accepted, close


def test_a_catalog_refresh_in_progress_does_not_hold_up_the_stop():
    """Serving, with a catalog that could not be read (the upstream never answers), the gateway
    retries the read every 5 s; a SIGTERM during such a retry stops it at once instead of
    after the retry's 10 s timeout."""
    port, accepted, close = silent_upstream()
    gw = Gateway(types.SimpleNamespace(port=port))
    try:
        offset = gw.launch()
        deadline = time.time() + 30  # the first read waits out its 10 s
        while "listening for PostgreSQL clients" not in gw.log()[offset:]:
            assert gw.proc.poll() is None and time.time() < deadline, gw.log()
            time.sleep(0.1)
        while len(accepted) < 2:  # the retry, 5 s after serving begins, has connected
            assert gw.proc.poll() is None and time.time() < deadline, gw.log()
            time.sleep(0.1)
        time.sleep(0.5)
        sent = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(15) == 0, gw.log()
        assert time.time() - sent < 3, gw.log()
        assert "catalog refresh failed" not in gw.log()[offset:], gw.log()
    finally:
        gw.destroy()
        close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_busy_polling_serves_then_sleeps_and_stops(pg):
    """busy_poll_us: workers poll without blocking while sessions are active, serve them as
    before, go back to sleeping once idle (no core spent on nothing) and stop on SIGTERM."""
    gw = Gateway(pg, config_extra="busy_poll_us: 1000").start()
    idle_sessions = []
    try:
        assert "busy polling 1000us" in gw.log()
        token = gw.issue("lena")
        errors = []

        def session(k):
            try:
                with psycopg.connect(gw.dsn(token, "lena"), autocommit=True) as c:
                    for i in range(300):
                        got = c.execute("select %s::int * 2", (k * 1000 + i,)).fetchone()[0]
                        if got != 2 * (k * 1000 + i):
                            errors.append((k, i, got))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((k, repr(e)))

        threads = [threading.Thread(target=session, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        # Idle, with sessions connected: the workers block again. Over a second, the process
        # uses a small fraction of a core (polling would use one per worker: 2 here).
        for _ in range(20):
            idle_sessions.append(psycopg.connect(gw.dsn(token, "lena"), autocommit=True))
        time.sleep(0.5)
        before = cpu_seconds(gw.proc.pid)
        time.sleep(1.0)
        idle_cpu = cpu_seconds(gw.proc.pid) - before
        assert idle_cpu < 0.2, f"the idle gateway used {idle_cpu:.2f} s of CPU in 1 s"
        assert psql(gw.dsn(token, "lena"), "select 'after'", check=True).stdout.strip() == "after"
        for c in idle_sessions:
            c.close()
        assert gw.stop() == 0
    finally:
        for c in idle_sessions:
            c.close()
        gw.destroy()
