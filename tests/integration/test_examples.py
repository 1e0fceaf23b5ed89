"""The shipped example policies load and decide what their comments promise
(`sluice policy check`, offline: these statements need no catalog)."""
import json
import os
import subprocess

import pytest

from harness import REPO, SLUICE

EXAMPLES = os.path.join(REPO, "examples", "policies")


def check(policy, sql, identity="bot", access="read", now=None):
    env = dict(os.environ, SHOP_PASSWORD="unused")
    p = subprocess.run([SLUICE, "policy", "check", "-c", os.path.join(EXAMPLES, policy),
                        "--identity", identity, "--connection", "shop", "--access", access,
                        "--sql", sql], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_every_example_loads():
    names = sorted(os.listdir(EXAMPLES))
    assert names, "no example policies"
    for name in names:
        assert check(name, "select 1")[0]["action"] in ("allow", "deny")


@pytest.mark.parametrize("sql,access,action,rule", [
    ("select name from public.customers where id = 1", "read", "allow", ""),
    ("select ssn from public.customers", "read", "deny", "no-secret-columns"),
    ("select name from public.customers where card like '4%'", "read", "deny", "no-secret-columns"),
    ("delete from public.orders where id = 1", "write", "deny", "no-writes"),
    ("drop table public.orders", "write", "deny", "baseline-ddl"),
    ("select * from information_schema.tables", "read", "allow", ""),
    ("select * from pg_catalog.pg_shadow", "read", "deny", "baseline-catalog"),
])
def test_agent_read_only(sql, access, action, rule):
    d = check("agent-read-only.yaml", sql, access=access)[0]
    assert (d["action"], d["rule"]) == (action, rule), d
    if action == "allow" and sql.startswith("select name"):
        assert d["max_rows"] == 5000


@pytest.mark.parametrize("sql,action,rule", [
    ("update public.orders set status = 'shipped' where id = 3", "allow", "orders-by-key"),
    ("update public.orders set status = 'shipped'", "deny", "no-unbounded-writes"),
    ("update public.customers set email = 'x' where id = 1", "deny", "customers-are-append-only"),
    ("insert into public.orders (customer_id, amount) values (1, 2)", "allow", "reads-and-inserts"),
    ("truncate public.orders", "deny", "baseline-ddl"),
    ("copy public.orders from program 'id'", "deny", "baseline-server-files"),
    ("select pg_catalog.pg_sleep(5)", "deny", "baseline-functions"),
])
def test_agent_read_write(sql, action, rule):
    d = check("agent-read-write.yaml", sql, access="write")[0]
    assert (d["action"], d["rule"]) == (action, rule), d


def test_business_hours_sensitive_columns_need_review():
    d = check("business-hours.yaml", "select ssn from public.customers", identity="ann@example.com")[0]
    assert (d["action"], d["rule"]) == ("approval", "sensitive-columns-need-review")
    d = check("business-hours.yaml", "select name from public.customers", identity="bot")[0]
    assert d["action"] == "allow" and d["max_rows"] == 500
    d = check("business-hours.yaml", "alter table public.orders add x int", identity="bot",
              access="write")[0]
    assert d["rule"] == "baseline-ddl"
    d = check("business-hours.yaml", "update public.orders set status = 'x' where id = 1",
              identity="ann@example.com", access="write")[0]
    assert d["rule"] in ("engineers-in-office-hours", "engineers-out-of-hours")
