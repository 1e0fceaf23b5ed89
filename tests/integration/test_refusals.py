"""Refused logins: each gets a clear error, and nothing reaches the database."""
import time

from harness import psql


def assert_refused(p, *fragments, log=""):
    assert p.returncode != 0, p.stdout
    for f in fragments:
        assert f in p.stderr, p.stderr + log[-4000:]


def test_wrong_token(gateway):
    gateway.issue("alice")
    p = psql(gateway.dsn("slc_" + "A" * 46, "alice"), "select 1")
    assert_refused(p, 'sluice: password authentication failed for user "alice"',
                   "must be a live Sluice token")


def test_token_of_another_identity(gateway):
    token = gateway.issue("carol")
    p = psql(gateway.dsn(token, "mallory"), "select 1")
    assert_refused(p, 'password authentication failed for user "mallory"')


def test_expired_token(gateway):
    token = gateway.issue("dave", ttl="1s")
    time.sleep(1.3)
    p = psql(gateway.dsn(token, "dave"), "select 1")
    assert_refused(p, "sluice: this token's access window", "ended at")


def test_revoked_token(gateway):
    token = gateway.issue("erin")
    gid = gateway.grant_id_of("erin")
    gateway.cli("grants", "revoke", gid, "--as", "security-team")
    p = psql(gateway.dsn(token, "erin"), "select 1")
    assert_refused(p, f"sluice: this token's grant {gid} was revoked", "by security-team")


def test_wrong_database_name(gateway, token):
    p = psql(gateway.dsn(token, db="warehouse"), "select 1")
    assert_refused(p, 'there is no connection named "warehouse"', 'is for connection "shop"')


def test_disallowed_startup_parameters(gateway, token):
    for params, name in (({"options": "'-c search_path=evil'"}, "options"),
                         ({"client_encoding": "LATIN1"}, "client_encoding must be UTF8")):
        p = psql(gateway.dsn(token, **params), "select 1")
        assert_refused(p, name, log=gateway.log())


def test_brute_force_is_throttled(pg):
    from harness import Gateway
    gw = Gateway(pg, limits={"auth_failures_per_minute": 3}).start()
    try:
        gw.issue("frank")
        for _ in range(3):
            assert_refused(psql(gw.dsn("slc_wrong", "frank"), "select 1"), "authentication failed")
        assert_refused(psql(gw.dsn("slc_wrong", "frank"), "select 1"), "too many failed logins")
    finally:
        gw.destroy()
