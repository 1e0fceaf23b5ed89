"""TLS on both sides: clients to the gateway, and the gateway to its upstream, including the
rule that a password is never sent where a network attacker could be asking for it."""
import os
import shutil
import socket
import ssl
import struct
import tempfile

import psycopg
import pytest

from harness import (AGENT_PASSWORD, Gateway, PgServer, RawClient, make_certs, nonloopback_ipv4,
                     psql)


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="sluice-certs-")
    ip = nonloopback_ipv4()
    ca, crt, key = make_certs(d, names=("localhost",), ips=("127.0.0.1", ip))
    yield {"dir": d, "ca": ca, "crt": crt, "key": key, "ip": ip}
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_pg(certs):
    """A PostgreSQL that listens on loopback and a non-loopback address, with TLS, and that
    asks the gateway's role for a cleartext password."""
    pg = PgServer("tls", ssl=True, listen=f"127.0.0.1,{certs['ip']}").init()
    for name in ("crt", "key"):
        dst = os.path.join(pg.data, "server." + name)
        shutil.copy(certs[name], dst)
        shutil.chown(dst, "postgres", "postgres")
        os.chmod(dst, 0o600)
    with open(os.path.join(pg.data, "pg_hba.conf"), "w") as f:
        f.write("local all all trust\n"
                "host all postgres 127.0.0.1/32 scram-sha-256\n"
                "host all sluice_agent 0.0.0.0/0 password\n")
    pg.start().setup_shop()
    yield pg
    pg.destroy()


def upstream_gateway(pg, host, tls, ca=None, server_name=None):
    extra = []
    if ca:
        extra.append(f"ca_file: {ca}")
    if server_name:
        extra.append(f"server_name: {server_name}")
    gw = Gateway(pg, upstream_extra="\n".join(extra))
    gw.config_text = open(gw.config).read()
    text = gw.config_text.replace("host: 127.0.0.1", f"host: {host}", 1).replace(
        "tls: disable", f"tls: {tls}")
    with open(gw.config, "w") as f:
        f.write(text)
    return gw.start()


def connect_error(gw):
    token = gw.issue("alice")
    raw = RawClient(gw.port)
    err = raw.login(token)
    raw.close()
    return err


def test_verify_full_with_the_right_ca(tls_pg, certs):
    gw = upstream_gateway(tls_pg, "127.0.0.1", "verify-full", ca=certs["ca"])
    try:
        token = gw.issue("alice")
        p = psql(gw.dsn(token), "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                 check=True)
        assert p.stdout.strip() == "t"
    finally:
        gw.destroy()


def test_verify_full_rejects_an_unknown_ca(tls_pg, certs):
    other = tempfile.mkdtemp(prefix="sluice-otherca-")
    other_ca, _, _ = make_certs(other)
    gw = upstream_gateway(tls_pg, "127.0.0.1", "verify-full", ca=other_ca)
    try:
        err = connect_error(gw)
        assert err["C"] == "08001" and "TLS handshake failed" in err["M"], err
        assert "certificate verify failed" in err["M"], err
    finally:
        gw.destroy()
        shutil.rmtree(other, ignore_errors=True)


def test_verify_full_rejects_a_certificate_for_another_name(tls_pg, certs):
    gw = upstream_gateway(tls_pg, "127.0.0.1", "verify-full", ca=certs["ca"],
                          server_name="db.example.com")
    try:
        err = connect_error(gw)
        assert "TLS handshake failed" in err["M"], err
    finally:
        gw.destroy()


@pytest.mark.parametrize("mode", ["disable", "prefer", "require"])
def test_no_password_off_loopback_without_verified_tls(tls_pg, certs, mode):
    gw = upstream_gateway(tls_pg, certs["ip"], mode)
    try:
        err = connect_error(gw)
        assert "will not send its password" in err["M"], err
        assert "cleartext" in err["M"], err
    finally:
        gw.destroy()


def test_password_off_loopback_over_verified_tls(tls_pg, certs):
    gw = upstream_gateway(tls_pg, certs["ip"], "verify-full", ca=certs["ca"])
    try:
        token = gw.issue("alice")
        assert psql(gw.dsn(token), "select 1", check=True).stdout.strip() == "1"
    finally:
        gw.destroy()


@pytest.fixture(scope="module")
def tls_gateway(pg, certs):
    gw = Gateway(pg, tls={"cert": certs["crt"], "key": certs["key"]}).start()
    yield gw
    gw.destroy()


def test_client_tls_verify_full(tls_gateway, certs):
    token = tls_gateway.issue("alice")
    dsn = (f"host=localhost port={tls_gateway.port} dbname=shop user=alice password={token} "
           f"sslmode=verify-full sslrootcert={certs['ca']}")
    with psycopg.connect(dsn) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("select 1").fetchone()[0] == 1


def test_client_tls_is_optional_unless_required(tls_gateway, pg, certs):
    token = tls_gateway.issue("alice")
    assert psql(tls_gateway.dsn(token), "select 1", check=True).stdout.strip() == "1"
    gw = Gateway(pg, tls={"cert": certs["crt"], "key": certs["key"], "require": "true"}).start()
    try:
        token = gw.issue("alice")
        p = psql(gw.dsn(token), "select 1")
        assert p.returncode != 0 and "accepts only TLS connections" in p.stderr, p.stderr
        ok = psql(gw.dsn(token).replace("sslmode=disable", "sslmode=require"), "select 1",
                  check=True)
        assert ok.stdout.strip() == "1"
    finally:
        gw.destroy()


def tls_raw(port, ca):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(struct.pack("!ii", 8, 80877103))
    assert s.recv(1) == b"S"
    ctx = ssl.create_default_context(cafile=ca)
    return ctx.wrap_socket(s, server_hostname="localhost")


def test_cleartext_password_only_over_tls(pg, certs):
    gw = Gateway(pg, tls={"cert": certs["crt"], "key": certs["key"],
                          "allow_cleartext_password": "true"}).start()
    try:
        token = gw.issue("alice")
        # Over TLS the gateway asks for the token as a cleartext password ...
        s = tls_raw(gw.port, certs["ca"])
        s.sendall(RawClient.startup_packet())
        hdr = s.recv(9)
        assert hdr[:1] == b"R" and struct.unpack("!i", hdr[5:9])[0] == 3, hdr
        s.close()
        assert psql(gw.dsn(token).replace("sslmode=disable", "sslmode=require"), "select 1",
                    check=True).stdout.strip() == "1"
        # ... but without TLS it still insists on SCRAM.
        raw = RawClient(gw.port)
        raw.send(RawClient.startup_packet())
        t, body = raw.read_msg()
        assert t == b"R" and struct.unpack("!i", body[:4])[0] == 10
        raw.close()
    finally:
        gw.destroy()


def test_gssencrequest_is_declined_and_the_client_continues(tls_gateway):
    token = tls_gateway.issue("alice")
    raw = RawClient(tls_gateway.port)
    raw.send(struct.pack("!ii", 8, 80877104))
    assert raw.sock.recv(1) == b"N"
    assert raw.login(token) is None
    assert any(t == b"D" for t, _ in raw.query("select 1"))
    raw.close()


def test_newer_protocol_minor_and_pq_options_are_negotiated(tls_gateway):
    token = tls_gateway.issue("alice")
    raw = RawClient(tls_gateway.port)
    body = struct.pack("!i", (3 << 16) | 2) + b"user\0alice\0database\0shop\0_pq_.compress\0on\0\0"
    raw.send(struct.pack("!i", len(body) + 4) + body)
    t, msg = raw.read_msg()
    assert t == b"v", (t, msg)
    newest, n = struct.unpack("!ii", msg[:8])
    assert newest == 0 and n == 1 and msg[8:] == b"_pq_.compress\0"
    t, msg = raw.read_msg()
    assert t == b"R"
    raw.close()
