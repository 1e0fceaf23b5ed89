"""Enforcement on the data path: what a refusal does to the server's state, in pipelines and
transactions, and the limits that apply to what runs."""
import struct
import threading
import time

import psycopg
import pytest

from harness import Gateway, PgServer, RawClient, psql

RULES = """
rules:
  - include: agent-baseline
  - { name: no-bare-delete, when: { kind: [delete, update], has_where: false }, action: deny }
  - { name: big-reads, when: { reads: ["public.big"] }, action: limit, max_rows: 100 }
"""


@pytest.fixture(scope="module")
def env():
    pg = PgServer("enforce").init().start().setup_shop()
    pg.sql("create table big as select g as id, md5(g::text) as v from generate_series(1, 2000000) g",
           db="shop")
    pg.sql("alter table big owner to sluice_agent; create table probe(x int); "
           "alter table probe owner to sluice_agent", db="shop")
    gw = Gateway(pg, config_extra=RULES).start()
    yield pg, gw
    gw.destroy()
    pg.destroy()


def probe_rows(pg):
    return [r[0] for r in pg.sql("select x from probe order by x", db="shop")]


def test_pinned_lexing_settings_cannot_be_changed_by_any_route(env):
    pg, gw = env
    token = gw.issue("lexer", access="write")
    attempts = [
        "set standard_conforming_strings = off",
        "set session standard_conforming_strings to off",
        "begin; set local standard_conforming_strings = off; commit",
        "set \"standard_conforming_strings\" = off",
        "set U&\"standard\\005fconforming\\005fstrings\" = off",
        "reset standard_conforming_strings",
        "reset all",
        "discard all",
        "select set_config('standard_conforming_strings', 'off', false)",
        "select 1 from (select set_config('standard_conforming_strings', 'off', true)) s",
        "with x as (select set_config('backslash_quote', 'on', false)) select * from x",
        "prepare p as select set_config('standard_conforming_strings', 'off', false)",
        "set client_encoding = 'SQL_ASCII'",
        "set names 'LATIN1'",
        "set backslash_quote = on",
        "update pg_settings set setting = 'off' where name = 'standard_conforming_strings'",
        "alter role sluice_agent set standard_conforming_strings = off",
        "alter database shop set standard_conforming_strings = off",
        "alter system set standard_conforming_strings = off",
        "do $$ begin perform set_config('standard_conforming_strings', 'off', false); end $$",
        "select query_to_xml('set standard_conforming_strings = off', true, true, '')",
    ]
    for sql in attempts:
        p = psql(gw.dsn(token, "lexer"), sql)
        assert p.returncode != 0 and "sluice: denied by rule" in p.stderr, (sql, p.stderr)
    # Through the extended protocol too.
    with psycopg.connect(gw.dsn(token, "lexer"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select set_config(%s, 'off', false)", ("standard_conforming_strings",))
    # Startup parameters are refused before a session exists.
    p = psql(gw.dsn(token, "lexer", options="'-c standard_conforming_strings=off'"), "select 1")
    assert "not allowed" in p.stderr
    # The server still lexes as the gateway does: backslashes are literal.
    out = psql(gw.dsn(token, "lexer"), "show standard_conforming_strings", "show backslash_quote",
               "select length('a\\b')", check=True).stdout
    assert out.split() == ["on", "safe_encoding", "3"], out
    roles = pg.sql("select rolconfig from pg_roles where rolname = 'sluice_agent'")
    assert roles[0][0] is None


def test_reparsed_statement_name_is_checked_again(env):
    pg, gw = env
    token = gw.issue("parser", access="write")
    raw = RawClient(gw.port)
    assert raw.login(token, user="parser") is None

    def parse(name, sql):
        return b"P" + struct.pack("!i", 4 + len(name) + 1 + len(sql) + 1 + 2) + name + b"\0" + \
            sql + b"\0\0\0"

    def close(name):
        return b"C" + struct.pack("!i", 4 + 1 + len(name) + 1) + b"S" + name + b"\0"

    sync = b"S\0\0\0\x04"
    raw.send(parse(b"s1", b"select id from orders where id = 1") + sync)
    types = []
    while True:
        t, _ = raw.read_msg()
        types.append(t)
        if t == b"Z":
            break
    assert types == [b"1", b"Z"]
    # Close it and parse the same name with a different text: checked again, refused.
    raw.send(close(b"s1") + parse(b"s1", b"delete from orders") + sync)
    got = []
    while True:
        t, body = raw.read_msg()
        got.append((t, body))
        if t == b"Z":
            break
    assert [t for t, _ in got] == [b"3", b"E", b"Z"], got
    err = RawClient.fields(got[1][1])
    assert err["C"] == "42501" and "no-bare-delete" in err["M"], err
    # The session is in step: a new statement works.
    assert any(t == b"D" for t, _ in raw.query("select 1"))
    raw.close()
    assert pg.sql("select count(*) from orders", db="shop")[0][0] == 200


def test_refusal_in_a_pipeline_aborts_what_came_before(env):
    pg, gw = env
    token = gw.issue("piper", access="write")
    pg.sql("delete from probe", db="shop")
    with psycopg.connect(gw.dsn(token, "piper"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            with c.pipeline():
                c.execute("insert into probe values (%s)", (1,))
                c.execute("insert into probe values (%s)", (2,))
                c.execute("delete from orders")  # refused: no WHERE
                c.execute("insert into probe values (%s)", (3,))
        assert "no-bare-delete" in str(e.value)
        # Nothing before the refusal committed, nothing after it ran.
        assert probe_rows(pg) == []
        # The client is in step: the next pipeline works.
        with c.pipeline():
            c.execute("insert into probe values (%s)", (4,))
        assert c.execute("select x from probe").fetchall() == [(4,)]
    assert probe_rows(pg) == [4]


def test_refusal_inside_a_transaction_aborts_it(env):
    pg, gw = env
    token = gw.issue("txn", access="write")
    pg.sql("delete from probe", db="shop")
    raw = RawClient(gw.port)
    assert raw.login(token, user="txn") is None
    raw.query("begin")
    raw.query("insert into probe values (10)")
    refused = raw.query("drop table probe")
    assert refused[0][0] == b"E" and b"baseline-ddl" in refused[0][1]
    assert refused[-1] == (b"Z", b"E")  # the client is told its transaction failed
    after = raw.query("insert into probe values (11)")
    assert b"25P02" in after[0][1]  # current transaction is aborted: the server agrees
    commit = raw.query("commit")
    assert commit[0] == (b"C", b"ROLLBACK\0")
    raw.close()
    assert probe_rows(pg) == []


def test_row_cap_cuts_the_result_and_cancels_the_statement(env):
    pg, gw = env
    token = gw.issue("capper", access="read")
    raw = RawClient(gw.port, timeout=30)
    assert raw.login(token, user="capper") is None
    started = time.time()
    msgs = raw.query("select id, v from big order by id")
    elapsed = time.time() - started
    rows = [b for t, b in msgs if t == b"D"]
    errors = [RawClient.fields(b) for t, b in msgs if t == b"E"]
    assert len(rows) == 100, len(rows)
    assert errors and errors[0]["C"] == "54000" and "max_rows=100" in errors[0]["M"], errors
    assert msgs[-1][0] == b"Z"
    # The statement was cancelled on the server, not left to send 2 million rows.
    assert not pg.sql("select count(*) from pg_stat_activity where query like 'select id, v from big%' "
                      "and state = 'active'", db="shop")[0][0]
    assert elapsed < 10
    # The session still works.
    assert any(t == b"D" for t, _ in raw.query("select 1"))
    raw.close()


def test_a_capped_statement_cannot_share_a_message_with_a_write(env):
    pg, gw = env
    token = gw.issue("mixer", access="write")
    p = psql(gw.dsn(token, "mixer"), "select id from big; insert into probe values (99)")
    assert "cannot share a message with a write" in p.stderr, p.stderr
    assert 99 not in probe_rows(pg)


def test_statement_timeout_is_set_upstream():
    pg = PgServer("timeout").init().start().setup_shop()
    gw = Gateway(pg, limits={"statement_timeout": "1s"}).start()
    try:
        token = gw.issue("slow")
        started = time.time()
        p = psql(gw.dsn(token, "slow"), "select pg_sleep(5)")
        assert "canceling statement due to statement timeout" in p.stderr, p.stderr
        assert time.time() - started < 4
        # Raising it is refused by the baseline; without the baseline the server still has it.
        out = psql(gw.dsn(token, "slow"), "show statement_timeout", check=True).stdout.strip()
        assert out == "1s"
    finally:
        gw.destroy()
        pg.destroy()


def test_a_statement_far_past_statement_timeout_is_cancelled_by_the_gateway():
    """The backstop: when the server-side limit is lifted (no baseline policy here, so SET is
    allowed), the gateway cancels a statement busy for more than twice statement_timeout
    plus a second, even though the session was idle long enough for the gateway to look at
    it only once per statement_timeout."""
    pg = PgServer("backstop").init().start().setup_shop()
    gw = Gateway(pg, limits={"statement_timeout": "1s"}).start()
    try:
        token = gw.issue("stuck")
        with psycopg.connect(gw.dsn(token, "stuck"), autocommit=True) as c:
            c.execute("set statement_timeout = 0")
            time.sleep(1.5)  # idle across a check
            started = time.time()
            with pytest.raises(psycopg.errors.QueryCanceled) as e:
                c.execute("select pg_sleep(10)")
            took = time.time() - started
        assert "user request" in str(e.value), str(e.value)
        assert 2.5 < took < 5.5, took  # 2 x 1 s + 1 s after it started, not 10 s
        assert "busy for more than twice statement_timeout" in gw.log()
    finally:
        gw.destroy()
        pg.destroy()


def test_read_grants_run_read_only_upstream_as_well():
    """Defence in depth: a write hidden where the analyzer cannot see it (inside a function)
    still fails, because the server runs read grants' transactions read-only."""
    pg = PgServer("readonly").init().start().setup_shop()
    pg.sql("create table hidden(x int); alter table hidden owner to sluice_agent; "
           "create function sneaky() returns int language sql as "
           "'insert into hidden values (1) returning 1'; alter function sneaky() owner to sluice_agent",
           db="shop")
    gw = Gateway(pg).start()  # no baseline: the function is allowed by policy
    try:
        token = gw.issue("reader", access="read")
        p = psql(gw.dsn(token, "reader"), "select sneaky()")
        assert "read-only transaction" in p.stderr, p.stderr
        assert pg.sql("select count(*) from hidden", db="shop")[0][0] == 0
    finally:
        gw.destroy()
        pg.destroy()
