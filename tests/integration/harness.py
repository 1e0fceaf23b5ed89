"""Test harness: real PostgreSQL servers and Sluice gateways, started on free loopback ports in
temporary directories and torn down afterwards.

PostgreSQL refuses to run as root, so servers run as the `postgres` OS user with their data in
a directory that user owns. Nothing here uses fixed ports.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, os.environ.get("SLUICE_BUILD", "build-asan"))
SLUICE = os.path.join(BUILD, "sluice")

SUPERUSER_PASSWORD = "super-secret-pw"
AGENT_PASSWORD = "agent-pw-7f3e"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PgServer:
    """A throwaway PostgreSQL 15 cluster."""

    def __init__(self, name="pg", ssl=False, listen="127.0.0.1"):
        self.dir = tempfile.mkdtemp(prefix=f"sluice-{name}-")
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.ssl = ssl
        self.listen = listen
        self.started = False

    def _as_postgres(self, args, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + args, check=True,
                              capture_output=True, text=True, **kw)

    def init(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(SUPERUSER_PASSWORD + "\n")
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                           "-A", "scram-sha-256", f"--pwfile={pwfile}", "--no-sync",
                           "-E", "UTF8", "--locale=C"])
        conf = os.path.join(self.data, "postgresql.conf")
        with open(conf, "a") as f:
            f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            f.write("max_connections = 200\nshared_buffers = 64MB\n")
            if self.ssl:
                f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        return self

    def start(self):
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-w", "-l",
                           os.path.join(self.dir, "log"), "-o",
                           f"-p {self.port} -k {self.dir} -c listen_addresses={self.listen}",
                           "start"])
        self.started = True
        return self

    def stop(self, mode="fast"):
        if self.started:
            subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D",
                            self.data, "-w", "-m", mode, "stop"], capture_output=True)
            self.started = False

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, db="postgres", user="postgres", password=SUPERUSER_PASSWORD):
        return f"host=127.0.0.1 port={self.port} dbname={db} user={user} password={password}"

    def sql(self, query, db="postgres"):
        """Runs SQL as the superuser, directly (not through the gateway)."""
        import psycopg
        with psycopg.connect(self.dsn(db), autocommit=True) as c:
            cur = c.execute(query)
            return cur.fetchall() if cur.description else None

    def setup_shop(self):
        """The sample database: an agent role the gateway logs in as, and shop data."""
        self.sql(f"CREATE ROLE sluice_agent LOGIN PASSWORD '{AGENT_PASSWORD}'")
        self.sql("CREATE DATABASE shop OWNER sluice_agent")
        import psycopg
        with psycopg.connect(self.dsn("shop", "sluice_agent", AGENT_PASSWORD),
                             autocommit=True) as c:
            c.execute(open(os.path.join(REPO, "examples", "shop.sql")).read())
        return self


class Gateway:
    """A `sluice serve` process with its own data_dir and configuration."""

    def __init__(self, pg, name="gw", config_extra="", connections_extra="", upstream_extra="",
                 tls=None, limits=None, admin=False):
        self.pg = pg
        self.admin_port = free_port() if admin else None
        self.dir = tempfile.mkdtemp(prefix=f"sluice-{name}-")
        self.port = free_port()
        self.config = os.path.join(self.dir, "sluice.yaml")
        self.log_path = os.path.join(self.dir, "gateway.log")
        self.proc = None
        lines = [
            "data_dir: ./data",
            "workers: 2",
            "listen:",
            f"  postgres: 127.0.0.1:{self.port}",
        ]
        if admin:
            lines.append(f"  admin: 127.0.0.1:{self.admin_port}")
        if tls:
            lines += ["tls:"] + [f"  {k}: {v}" for k, v in tls.items()]
        if limits:
            lines += ["limits:"] + [f"  {k}: {v}" for k, v in limits.items()]
        lines += [
            "connections:",
            "  - name: shop",
            "    type: postgres",
            "    upstream:",
            "      host: 127.0.0.1",
            f"      port: {pg.port if pg else 1}",
            "      database: shop",
            "      user: sluice_agent",
            '      password: "${env:SHOP_PASSWORD}"',
            "      tls: disable",
        ]
        if upstream_extra:
            lines += ["      " + l for l in upstream_extra.strip().splitlines()]
        if connections_extra:
            lines += [connections_extra.rstrip()]
        if config_extra:
            lines += [config_extra.rstrip()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def env(self):
        e = dict(os.environ)
        e["SHOP_PASSWORD"] = AGENT_PASSWORD
        e.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        return e

    def launch(self):
        """Starts `sluice serve` without waiting for it; returns the log offset of this run."""
        # A restart appends to the same log: only what this run writes counts.
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SLUICE, "serve", "-c", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env(), cwd=self.dir)
        return offset

    def start(self):
        offset = self.launch()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log()}")
            log = self.log()[offset:]
            if "listening for PostgreSQL clients" in log and (
                    not self.admin_port or "admin API listening" in log):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"gateway did not start:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def destroy(self):
        self.stop()
        # A sanitizer report in the gateway's log is a failure even if every client was happy.
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cli(self, *args, check=True):
        p = subprocess.run([SLUICE, *args, "-c", self.config], capture_output=True, text=True,
                           env=self.env(), cwd=self.dir)
        if check and p.returncode != 0:
            raise AssertionError(f"sluice {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def issue(self, identity="alice", connection="shop", ttl="15m", access=None, tables=None):
        args = ["token", "issue", "--identity", identity, "--connection", connection,
                "--ttl", ttl]
        if access:
            args += ["--access", access]
        if tables:
            args += ["--tables", tables]
        out = self.cli(*args).stdout
        token = out.strip().splitlines()[-1]
        assert re.fullmatch(r"slc_[0-9A-Za-z]{46}", token), out
        return token

    def grant_id_of(self, identity):
        import json
        grants = json.loads(self.cli("grants", "list", "--json").stdout)
        return next(g["id"] for g in grants if g["identity"] == identity)

    def dsn(self, token, identity="alice", db="shop", **extra):
        parts = [f"host=127.0.0.1 port={self.port} dbname={db} user={identity}",
                 f"password={token}", "sslmode=disable"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def url(self, token, identity="alice", db="shop"):
        return f"postgresql://{identity}:{token}@127.0.0.1:{self.port}/{db}?sslmode=disable"


def psql(dsn, *commands, input=None, timeout=30, check=False):
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", dsn]
    for c in commands:
        args += ["-c", c]
    p = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"psql failed ({p.returncode}): {p.stdout}\n{p.stderr}")
    return p


class RawClient:
    """A PostgreSQL protocol client over a raw socket, for asserting on the exact bytes the
    gateway sends. Drives SCRAM-SHA-256 by hand."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.buf = b""

    @staticmethod
    def startup_packet(user="alice", db="shop", **params):
        import struct
        body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0" + \
            db.encode() + b"\0"
        for k, v in params.items():
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        return struct.pack("!i", len(body) + 4) + body

    def send(self, data):
        self.sock.sendall(data)

    def send_msg(self, type_byte, body=b""):
        import struct
        self.sock.sendall(type_byte + struct.pack("!i", len(body) + 4) + body)

    def read_msg(self):
        """Returns (type, body), or (None, None) when the connection closed."""
        import struct
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!i", self.buf[1:5])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None, None
            self.buf += chunk
        n = struct.unpack("!i", self.buf[1:5])[0]
        t, body, self.buf = self.buf[:1], self.buf[5:1 + n], self.buf[1 + n:]
        return t, body

    @staticmethod
    def fields(body):
        return {f[:1].decode(): f[1:].decode() for f in body.split(b"\0") if f}

    def login(self, token, user="alice", db="shop", **params):
        """Returns None once ReadyForQuery arrives, or the ErrorResponse fields."""
        import base64
        import hashlib
        import hmac
        import struct
        self.send(self.startup_packet(user, db, **params))
        t, body = self.read_msg()
        if t == b"E":
            return self.fields(body)
        assert t == b"R" and struct.unpack("!i", body[:4])[0] == 10, (t, body)
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        self.send_msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
        t, body = self.read_msg()
        if t == b"E":
            return self.fields(body)
        server_first = body[4:].decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", token.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth = f"{first_bare},{server_first},{without_proof}".encode()
        sig = hmac.new(stored, auth, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
        self.send_msg(b"p", f"{without_proof},p={proof}".encode())
        while True:
            t, body = self.read_msg()
            if t is None:
                raise AssertionError("connection closed during login")
            if t == b"E":
                return self.fields(body)
            if t == b"Z":
                return None

    def query(self, sql):
        """Runs a simple query; returns the list of (type, body) up to ReadyForQuery."""
        self.send_msg(b"Q", sql.encode() + b"\0")
        out = []
        while True:
            t, body = self.read_msg()
            if t is None:
                return out
            out.append((t, body))
            if t == b"Z":
                return out

    def read_all_until_close(self):
        data = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        return data

    def close(self):
        self.sock.close()


def make_certs(directory, names=("localhost",), ips=("127.0.0.1",), prefix="server"):
    """A throwaway CA and a server certificate for `names` and `ips`, via the openssl CLI.
    Returns (ca_cert, cert, key) paths."""
    ca_key = os.path.join(directory, "ca.key")
    ca_crt = os.path.join(directory, "ca.crt")
    if not os.path.exists(ca_crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=Sluice Test CA", "-keyout", ca_key, "-out", ca_crt],
                       check=True, capture_output=True)
    key = os.path.join(directory, f"{prefix}.key")
    csr = os.path.join(directory, f"{prefix}.csr")
    crt = os.path.join(directory, f"{prefix}.crt")
    ext = os.path.join(directory, f"{prefix}.ext")
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                    f"/CN={names[0]}", "-keyout", key, "-out", csr], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt], check=True,
                   capture_output=True)
    os.chmod(key, 0o600)
    return ca_crt, crt, key


def nonloopback_ipv4():
    """A local IPv4 address that is not loopback, so tests can exercise rules that depend on
    it. Uses an existing interface, or adds a dummy one (the tests run as root)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        addr = parts[parts.index("inet") + 1].split("/")[0]
        return addr
    subprocess.run(["ip", "link", "add", "sluicetest0", "type", "dummy"], capture_output=True)
    subprocess.run(["ip", "addr", "add", "10.213.0.1/32", "dev", "sluicetest0"],
                   capture_output=True)
    subprocess.run(["ip", "link", "set", "sluicetest0", "up"], capture_output=True)
    return "10.213.0.1"


class IdP:
    """A real OpenID provider (npm oidc-provider, tests/idp/idp.js) on a free loopback port.

    It issues client-credentials access tokens (JWTs, audience "sluice") for the clients listed
    in idp.js. `restart(rotate=True)` brings it back on the same port with new signing keys."""

    DIR = os.path.join(REPO, "tests", "idp")

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-idp-")
        self.port = free_port()
        self.keys = os.path.join(self.dir, "keys.json")
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc = None
        if not os.path.isdir(os.path.join(self.DIR, "node_modules", "oidc-provider")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=self.DIR, check=True,
                           capture_output=True, timeout=300)

    def start(self, rotate=False):
        args = ["node", os.path.join(self.DIR, "idp.js"), "--port", str(self.port),
                "--keys", self.keys]
        if rotate:
            args.append("--gen-keys")
        self.logf = open(os.path.join(self.dir, "idp.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.logf, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the test IdP did not start: {line!r}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self, rotate=False):
        self.stop()
        return self.start(rotate=rotate)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def token(self, client="agent-rs"):
        import json
        import urllib.parse
        import urllib.request
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client,
                                       "client_secret": f"{client}-secret",
                                       "resource": "urn:sluice", "scope": "grants"}).encode()
        with urllib.request.urlopen(f"{self.issuer}/token", data=body, timeout=10) as r:
            return json.loads(r.read())["access_token"]

    def jwks(self):
        import json
        import urllib.request
        with urllib.request.urlopen(f"{self.issuer}/jwks", timeout=10) as r:
            return json.loads(r.read())


class AdminClient:
    """HTTP calls to a gateway's admin API; returns (status, parsed JSON or text, headers)."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, credential=None, body=None, raw=None):
        import json
        import urllib.error
        import urllib.request
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if credential:
            req.add_header("Authorization", f"Bearer {credential}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text, headers = r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            status, text, headers = e.code, e.read().decode(), e.headers
        try:
            return status, json.loads(text), headers
        except ValueError:
            return status, text, headers
