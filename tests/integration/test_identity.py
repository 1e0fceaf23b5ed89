"""Identity and just-in-time grants against a real OpenID provider (npm oidc-provider).

The IdP issues client-credentials access tokens; the gateway's admin API accepts them, maps
their groups to roles, and runs the grant lifecycle. Forged tokens are built here with the
IdP's own private keys (so only the one thing under test is wrong) or with an attacker's key.
"""
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLUICE, AdminClient, Gateway, IdP  # noqa: E402

AGENT = "agent-rs"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_int(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, _ = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p))


def rsa_private_from_jwk(k):
    n = lambda name: int.from_bytes(unb64(k[name]), "big")  # noqa: E731
    pub = rsa.RSAPublicNumbers(n("e"), n("n"))
    return rsa.RSAPrivateNumbers(n("p"), n("q"), n("d"), n("dp"), n("dq"), n("qi"),
                                 pub).private_key()


def sign_rs256(header, claims, key):
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64url(sig)


@pytest.fixture(scope="module")
def idp():
    server = IdP().start()
    yield server
    server.destroy()


ROLES = """
roles:
  - name: agents
    match: {groups: [ai-agents]}
    connections: [shop]
    max_ttl: 1h
    access: write
    max_sessions: 2
    auto_approve: {access: read, max_ttl: 15m}
    reviewers: {groups: [dba], identities: [carol]}
  - name: dbas
    match: {groups: [dba]}
    connections: [shop]
    max_ttl: 8h
    access: write
    reviewers: {groups: [dba]}
"""


@pytest.fixture(scope="module")
def gw(pg, idp):
    identity = f"""
identity:
  oidc:
    - issuer: {idp.issuer}
      audience: sluice
      algorithms: [RS256, ES256, EdDSA]
      groups_claim: groups
      jwks_min_refresh: 1s
"""
    g = Gateway(pg, name="gw-identity", admin=True, config_extra=identity + ROLES).start()
    # Readiness waits for the issuer's keys (fetched at start-up).
    api = AdminClient(g.admin_port)
    deadline = time.time() + 15
    while api.call("GET", "/readyz")[0] != 200 and time.time() < deadline:
        time.sleep(0.1)
    yield g
    g.destroy()


@pytest.fixture
def api(gw):
    return AdminClient(gw.admin_port)


def request_grant(api, credential, ttl="10m", access="read", tables=None, reason="test"):
    scope = {"access": access}
    if tables:
        scope["tables"] = tables
    status, body, _ = api.call("POST", "/v1/grants", credential,
                               {"connection": "shop", "ttl": ttl, "scope": scope,
                                "reason": reason})
    assert status == 201, body
    return body


def fetch_token(api, credential, grant_id):
    status, body, _ = api.call("GET", f"/v1/grants/{grant_id}/token", credential)
    assert status == 200, body
    assert re.fullmatch(r"slc_[0-9A-Za-z]{46}", body["token"]), body
    return body["token"]


def connect(gw, identity, token):
    return psycopg.connect(gw.dsn(token, identity=identity), autocommit=True)


# ---- tokens ------------------------------------------------------------------------------------

@pytest.mark.parametrize("client", ["agent-rs", "agent-es", "agent-ed"])
def test_real_provider_tokens_are_accepted(api, idp, client):
    token = idp.token(client)
    header, _ = jwt_parts(token)
    assert header["alg"] == {"agent-rs": "RS256", "agent-es": "ES256", "agent-ed": "EdDSA"}[client]
    status, body, _ = api.call("GET", "/v1/whoami", token)
    assert status == 200, body
    assert body["identity"] == client
    assert body["issuer"] == idp.issuer
    assert body["groups"] == ["ai-agents"]
    assert body["roles"] == ["agents"]


def forged_tokens(idp):
    """(name, token, expected reason fragment)."""
    real = idp.token(AGENT)
    header, claims = jwt_parts(real)
    keys = json.load(open(idp.keys))["keys"]
    rs = next(k for k in keys if k["kid"] == header["kid"])
    key = rsa_private_from_jwk(rs)
    now = int(time.time())
    out = []

    none_header = {"alg": "none", "typ": "at+jwt", "kid": header["kid"]}
    out.append(("alg none", b64url(json.dumps(none_header).encode()) + "." +
                b64url(json.dumps(claims).encode()) + ".", "algorithm \"none\""))

    # HS256 keyed with the issuer's public key: the classic key-confusion attack.
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = {"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]}
    si = (b64url(json.dumps(hs_header).encode()) + "." + b64url(json.dumps(claims).encode()))
    mac = hmac.HMAC(pem, hashes.SHA256())
    mac.update(si.encode())
    out.append(("HS256 with the public key", si + "." + b64url(mac.finalize()),
                "algorithm \"HS256\""))

    out.append(("unknown kid", sign_rs256({**header, "kid": "not-a-key"}, claims, key),
                "(kid) \"not-a-key\" is not among"))
    out.append(("expired", sign_rs256(header, {**claims, "iat": now - 900, "exp": now - 600},
                                      key), "expired"))
    out.append(("wrong audience", sign_rs256(header, {**claims, "aud": "someone-else"}, key),
                "audience"))
    out.append(("wrong issuer", sign_rs256(header, {**claims, "iss": "http://127.0.0.1:1"},
                                           key), "issuer"))
    out.append(("future nbf", sign_rs256(header, {**claims, "nbf": now + 3600}, key),
                "not valid yet"))

    # Signed by an attacker's key that the header carries along.
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = attacker.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64url_int(nums.n), "e": b64url_int(nums.e)}
    out.append(("embedded jwk", sign_rs256({**header, "jwk": jwk}, claims, attacker),
                "carries its own key"))
    out.append(("oversized", sign_rs256(header, {**claims, "pad": "x" * 20000}, key),
                "over the limit"))
    out.append(("tampered payload", real.split(".")[0] + "." +
                b64url(json.dumps({**claims, "sub": "dba-bot", "groups": ["dba"]}).encode()) +
                "." + real.split(".")[2], "signature does not verify"))
    out.append(("another resource's token", idp.token("other-aud"), "audience"))
    return out


def test_forged_and_invalid_tokens_are_rejected_with_a_reason(api, idp, gw):
    for name, token, reason in forged_tokens(idp):
        status, body, headers = api.call("GET", "/v1/whoami", token)
        assert status == 401, (name, body)
        assert reason in body["reason"], (name, body)
        assert headers["WWW-Authenticate"].startswith("Bearer "), name
        # A forged token cannot request access either.
        status, body, _ = api.call("POST", "/v1/grants", token,
                                   {"connection": "shop", "ttl": "5m"})
        assert status == 401, (name, body)
    assert api.call("GET", "/v1/whoami")[0] == 401
    assert api.call("GET", "/v1/whoami", "slk_notakey")[0] == 401


def test_key_rotation_at_the_provider_is_honoured(api, idp):
    before = idp.token(AGENT)
    old_kid = jwt_parts(before)[0]["kid"]
    assert api.call("GET", "/v1/whoami", before)[0] == 200
    idp.restart(rotate=True)
    time.sleep(1.1)  # jwks_min_refresh
    after = idp.token(AGENT)
    assert jwt_parts(after)[0]["kid"] != old_kid
    status, body, _ = api.call("GET", "/v1/whoami", after)
    assert status == 200, body
    # The retired key is gone from the refreshed JWKS: tokens it signed no longer pass.
    status, body, _ = api.call("GET", "/v1/whoami", before)
    assert status == 401 and "key id" in body["reason"], body


# ---- grant flows -------------------------------------------------------------------------------

def test_auto_approved_read_only_grant_works_in_psql(api, idp, gw, pg):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="10m", access="read")
    assert g["status"] == "approved", g
    assert "automatically" in g["decision_reason"]
    token = fetch_token(api, cred, g["id"])
    p = subprocess.run(["psql", gw.url(token, identity=AGENT), "-XAtc",
                        "SELECT count(*) FROM customers"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and p.stdout.strip() == "4", p.stdout + p.stderr
    p = subprocess.run(["psql", gw.url(token, identity=AGENT), "-XAtc",
                        "DELETE FROM orders WHERE id = 1"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0 and "read" in p.stderr, p.stderr
    assert pg.sql("SELECT count(*) FROM orders WHERE id = 1", db="shop")[0][0] == 1


def test_pending_then_approved_by_a_reviewer_then_the_token_works(api, idp, gw):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="20m", access="write", reason="fix order 7")
    assert g["status"] == "pending", g
    # Not yet: the token is not handed out while pending.
    status, body, _ = api.call("GET", f"/v1/grants/{g['id']}/token", cred)
    assert status == 409 and "pending" in body["reason"], body
    # The requester's own group cannot approve; a dba can, and sees it in the review list.
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/approve", idp.token("agent-es"))
    assert status == 403 and "not a reviewer" in body["reason"], body
    reviewer = idp.token("dba-bot")
    status, listing, _ = api.call("GET", "/v1/grants?status=pending&review=true", reviewer)
    assert status == 200 and g["id"] in [x["id"] for x in listing], listing
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/approve", reviewer)
    assert status == 200 and body["status"] == "approved", body
    assert body["decided_by"] == "dba-bot"
    token = fetch_token(api, cred, g["id"])
    p = subprocess.run(["psql", gw.url(token, identity=AGENT), "-XAtc",
                        "BEGIN; UPDATE orders SET status = status WHERE id = 7; ROLLBACK"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_window_runs_from_approval_not_from_request(api, idp, gw):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="30m", access="write")
    time.sleep(1.2)
    _, body, _ = api.call("POST", f"/v1/grants/{g['id']}/approve", idp.token("dba-bot"))
    start, end = body["starts_at"], body["expires_at"]
    assert start > g["created_at"], (start, g["created_at"])
    from datetime import datetime
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    assert (parse(end) - parse(start)).total_seconds() == pytest.approx(1800, abs=1)


def test_denied_by_a_reviewer_with_a_reason(api, idp):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, access="write")
    reviewer = idp.token("dba-bot")
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/deny", reviewer)
    assert status == 400 and "reason" in body["reason"], body  # a denial needs a reason
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/deny", reviewer,
                               {"reason": "use the replica"})
    assert status == 200 and body["status"] == "denied", body
    status, body, _ = api.call("GET", f"/v1/grants/{g['id']}/token", cred)
    assert status == 403 and "use the replica" in body["reason"], body


def test_requests_beyond_the_role_are_denied_by_policy(api, idp):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="2h")
    assert g["status"] == "denied" and "windows up to 1h" in g["decision_reason"], g
    status, body, _ = api.call("POST", "/v1/grants", cred, {"connection": "nope", "ttl": "5m"})
    assert status == 400 and "nope" in body["reason"], body
    status, body, _ = api.call("POST", "/v1/grants", cred, {"connection": "shop", "ttl": "5m",
                                                            "scope": {"acess": "read"}})
    assert status == 400 and "acess" in body["reason"], body


def test_self_approval_is_refused(api, idp, gw):
    cred = idp.token("dba-bot")
    g = request_grant(api, cred, access="write")
    assert g["status"] == "pending", g
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/approve", cred)
    assert status == 403 and "own request" in body["reason"], body
    p = gw.cli("grants", "approve", g["id"], "--as", "dba-bot", check=False)
    assert p.returncode != 0 and "own request" in p.stderr, p.stderr
    p = gw.cli("grants", "approve", g["id"], "--as", "carol")
    assert "approved by carol" in p.stdout


def test_the_token_is_fetched_only_once(api, idp):
    cred = idp.token(AGENT)
    g = request_grant(api, cred)
    fetch_token(api, cred, g["id"])
    status, body, _ = api.call("GET", f"/v1/grants/{g['id']}/token", cred)
    assert status == 410 and "once" in body["reason"], body
    # Nobody else can fetch it either, nor learn whether it exists.
    status, body, _ = api.call("GET", f"/v1/grants/{g['id']}/token", idp.token("agent-es"))
    assert status == 404, body


def read_until(stream, pattern, timeout):
    """Lines from a text stream until one matches; returns everything read."""
    out = []
    done = threading.Event()

    def reader():
        for line in stream:
            out.append(line)
            if re.search(pattern, line):
                break
        done.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    done.wait(timeout)
    return "".join(out)


def live_psql(gw, identity, token):
    return subprocess.Popen(["psql", gw.url(token, identity=identity), "-XAt", "-v",
                             "ON_ERROR_STOP=0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)


def test_window_ending_during_a_live_psql_transaction_ends_the_session(api, idp, gw, pg):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="4s")
    token = fetch_token(api, cred, g["id"])
    p = live_psql(gw, AGENT, token)
    p.stdin.write("BEGIN;\nSELECT 'in-tx-' || count(*) FROM orders;\n")
    p.stdin.flush()
    out = read_until(p.stdout, r"in-tx-\d+", 10)
    assert "in-tx-" in out, out
    time.sleep(4.5)
    p.stdin.write("SELECT 'after-' || 1;\n")
    p.stdin.flush()
    p.stdin.close()
    rest = p.stdout.read()
    p.wait(10)
    assert "after-1" not in rest, rest
    assert "access window" in rest and "ended" in rest, rest
    # No session of this agent is left on the server.
    rows = pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                  f"'%{AGENT}%' AND state = 'idle in transaction'")
    assert rows[0][0] == 0


def test_a_revoke_ends_the_live_session_within_a_second(api, idp, gw):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, ttl="10m")
    token = fetch_token(api, cred, g["id"])
    p = live_psql(gw, AGENT, token)
    p.stdin.write("SELECT 'ready-' || 1;\n")
    p.stdin.flush()
    assert "ready-1" in read_until(p.stdout, r"ready-1", 10)
    status, body, _ = api.call("POST", f"/v1/grants/{g['id']}/revoke", cred)
    assert status == 200 and body["status"] == "revoked", body
    started = time.time()
    p.stdin.write("SELECT pg_sleep(0.2);\n" * 10)
    p.stdin.flush()
    p.stdin.close()
    rest = p.stdout.read()
    p.wait(10)
    assert "revoked" in rest, rest
    assert time.time() - started < 2.5
    # And the token no longer logs in.
    with pytest.raises(psycopg.OperationalError, match="revoked"):
        connect(gw, AGENT, token)


def test_a_grant_scoped_to_orders_cannot_read_customers(api, idp, gw, pg):
    cred = idp.token(AGENT)
    g = request_grant(api, cred, tables=["orders"])
    assert g["status"] == "approved" and g["tables"] == ["orders"], g
    token = fetch_token(api, cred, g["id"])
    with connect(gw, AGENT, token) as c:
        assert c.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="customers"):
            c.execute("SELECT name FROM customers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id")


def test_max_sessions_per_grant(api, idp, gw):
    cred = idp.token(AGENT)
    g = request_grant(api, cred)
    token = fetch_token(api, cred, g["id"])
    with connect(gw, AGENT, token), connect(gw, AGENT, token):
        with pytest.raises(psycopg.OperationalError, match="at most 2 concurrent"):
            connect(gw, AGENT, token)
    # Once they close, a new one opens.
    deadline = time.time() + 5
    while True:
        try:
            connect(gw, AGENT, token).close()
            break
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


# ---- API keys and the requester CLI ------------------------------------------------------------

def run_request(gw, key, *args, wait=None):
    env = dict(gw.env())
    env["SLUICE_API_KEY"] = key
    cmd = [SLUICE, "grants", "request", "--server", f"http://127.0.0.1:{gw.admin_port}",
           "--connection", "shop", *args]
    if wait:
        cmd += ["--wait", wait]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def wait_pending(gw, identity, timeout=10):
    """The identity's pending grants, once the CLI's request has been filed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pending = [g for g in json.loads(gw.cli("grants", "list", "--json", "--status",
                                                "pending").stdout)
                   if g["identity"] == identity]
        if pending:
            return pending
        time.sleep(0.2)
    raise AssertionError(f"no pending grant of {identity} after {timeout}s")


def test_api_key_and_the_request_cli(api, gw):
    out = gw.cli("apikeys", "create", "--identity", "svc-bot", "--roles", "agents").stdout
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"slk_[0-9A-Za-z]{40,}", key), out
    status, body, _ = api.call("GET", "/v1/whoami", key)
    assert status == 200 and body["identity"] == "svc-bot" and body["roles"] == ["agents"], body
    # The key is stored hashed: it is nowhere in the state database.
    db = open(os.path.join(gw.dir, "data", "state.db"), "rb").read()
    assert key.encode() not in db

    # Auto-approved: the token is the last (only) line on stdout and works.
    p = run_request(gw, key, "--ttl", "5m", "--reason", "nightly report")
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    token = stdout.strip().splitlines()[-1]
    with connect(gw, "svc-bot", token) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)

    # Pending: the CLI waits, a human approves on the host, the CLI prints the token.
    p = run_request(gw, key, "--ttl", "5m", "--access", "write", wait="30s")
    pending = wait_pending(gw, "svc-bot")
    gw.cli("grants", "approve", pending[0]["id"], "--as", "carol")
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    with connect(gw, "svc-bot", stdout.strip().splitlines()[-1]) as c:
        assert c.execute("SELECT 2").fetchone() == (2,)

    # Denied: exit code 3 and the reason.
    p = run_request(gw, key, "--ttl", "5m", "--access", "write", wait="30s")
    pending = wait_pending(gw, "svc-bot")
    gw.cli("grants", "deny", pending[0]["id"], "--as", "carol", "--reason", "not tonight")
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 3 and "not tonight" in stderr and stdout == "", (stdout, stderr)

    # Still pending when the wait ends: exit code 4.
    p = run_request(gw, key, "--ttl", "5m", "--access", "write", wait="1s")
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 4 and "still pending" in stderr, stderr

    # A revoked key no longer authenticates.
    keys = json.loads(gw.cli("apikeys", "list", "--json").stdout)
    kid = next(k["id"] for k in keys if k["identity"] == "svc-bot")
    gw.cli("apikeys", "revoke", kid)
    status, body, _ = api.call("GET", "/v1/whoami", key)
    assert status == 401 and "revoked" in body["reason"], body
    p = run_request(gw, key, "--ttl", "5m")
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == 2 and "401" in stderr, stderr


def test_health_readiness_and_metrics(api, gw):
    status, body, _ = api.call("GET", "/healthz")
    assert status == 200 and body["status"] == "ok"
    status, body, _ = api.call("GET", "/readyz")
    assert status == 200 and body["status"] == "ready", body
    status, text, headers = api.call("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = dict(re.findall(r"^(sluice_[a-z_]+) (\d+(?:\.\d+)?)$", text, re.M))
    assert float(values["sluice_grants_requested_total"]) >= 1, text
    assert float(values["sluice_jwt_rejected_total"]) >= 1, text
    assert "sluice_sessions_active" in values
    assert api.call("GET", "/nope")[0] == 404
    # Garbage on the admin port costs nothing but that connection.
    status, body, _ = api.call("POST", "/v1/grants", "slk_x", raw=b"\xff" * 100)
    assert status == 401
