"""The policy corpus (tests/corpus/postgres.yaml), decided by `sluice policy check --live` and
end to end through psql against a real server. For every refusal the database is shown to be
unchanged: same rows, same schema, same roles and settings, no file written."""
import json
import os
import subprocess

import pytest
import yaml

from harness import REPO, SLUICE, Gateway, PgServer

CORPUS = os.path.join(REPO, "tests", "corpus")
PROBE_FILE = "/tmp/sluice-corpus-probe"

with open(os.path.join(CORPUS, "postgres.yaml")) as f:
    ENTRIES = yaml.safe_load(f)


@pytest.fixture(scope="module")
def env():
    pg = PgServer("corpus").init().start().setup_shop()
    import psycopg
    with psycopg.connect(pg.dsn("shop", "sluice_agent", "agent-pw-7f3e"), autocommit=True) as c:
        c.execute(open(os.path.join(CORPUS, "setup.sql")).read())
    with open(os.path.join(CORPUS, "policy.yaml")) as f:
        rules = f.read()
    gw = Gateway(pg, config_extra=rules).start()
    tokens = {"read": gw.issue("agent-r", access="read"), "write": gw.issue("agent-w", access="write")}
    yield pg, gw, tokens
    gw.destroy()
    pg.destroy()


def snapshot(pg):
    """Everything a refused statement could have changed."""
    rows = pg.sql("""
        select
          (select md5(string_agg(t::text, ',' order by t::text)) from customers t),
          (select md5(string_agg(t::text, ',' order by t::text)) from orders t),
          (select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from audit_probe t),
          (select md5(string_agg(t::text, ',' order by t::text)) from events t),
          (select string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ','
                             order by n.nspname || '.' || c.relname)
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')),
          (select string_agg(p.proname || ':' || md5(p.prosrc), ',' order by p.proname)
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'),
          (select string_agg(rolname || ':' || rolsuper || ':' || coalesce(array_to_string(rolconfig, ';'), ''),
                             ',' order by rolname) from pg_roles),
          (select coalesce(string_agg(array_to_string(setconfig, ';'), ','), '') from pg_db_role_setting),
          (select string_agg(grantee || ':' || privilege_type, ',' order by grantee || privilege_type)
             from information_schema.role_table_grants where table_schema = 'public'),
          (select last_value from ticket_seq),
          (select count(*) from pg_largeobject_metadata),
          (select count(*) from pg_trigger where not tgisinternal)
    """, db="shop")
    return rows[0] + (os.path.exists(PROBE_FILE),)


def message_decision(lines):
    """The message's decision from per-statement decisions: a deny wins, then an approval."""
    decisions = [json.loads(l) for l in lines if l.strip()]
    for want in ("deny", "approval"):
        for d in decisions:
            if d["action"] == want:
                return want, d["rule"]
    return "allow", ""


@pytest.mark.parametrize("entry", ENTRIES,
                         ids=[f"{i}:{e['sql'][:50]}" for i, e in enumerate(ENTRIES)])
def test_corpus(env, entry):
    pg, gw, tokens = env
    access = entry.get("access", "read")
    expect, rule = entry["expect"], entry.get("rule", "")
    identity = "agent-r" if access == "read" else "agent-w"

    # 1. sluice policy check, against the live catalog.
    p = subprocess.run([SLUICE, "policy", "check", "-c", gw.config, "--identity", identity,
                        "--connection", "shop", "--access", access, "--live", "--sql", entry["sql"]],
                       capture_output=True, text=True, env=gw.env(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert message_decision(p.stdout.splitlines()) == (expect, rule), p.stdout

    # 2. End to end through psql.
    before = snapshot(pg) if expect != "allow" else None
    r = subprocess.run(["psql", "-X", "-q", "-At", gw.dsn(tokens[access], identity), "-c", entry["sql"]],
                       capture_output=True, text=True, input="", timeout=60)
    if expect == "allow":
        assert r.returncode == 0 and "sluice:" not in r.stderr, r.stderr
        return
    word = "denied by rule" if expect == "deny" else "approval required by rule"
    if rule == "parser":
        assert "sluice: the gateway could not parse this statement" in r.stderr, r.stderr
    else:
        assert f"sluice: {word} {rule}" in r.stderr, r.stderr
    # The statement did not run: nothing changed.
    assert snapshot(pg) == before
    # And the session is still usable afterwards (the gateway did not lose its place).
    ok = subprocess.run(["psql", "-X", "-q", "-At", gw.dsn(tokens[access], identity), "-c",
                         "select 1"], capture_output=True, text=True, timeout=30)
    assert ok.stdout.strip() == "1", ok.stderr
