"""Malformed and hostile input: each gets an error and a closed connection, while a parallel
healthy session keeps working (SECURITY.md §6)."""
import socket
import struct
import threading
import time

import psycopg
import pytest

from harness import RawClient


def raw(gateway, payload, read_timeout=3.0):
    """Sends bytes on a fresh connection and returns everything the gateway answered before
    closing."""
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.settimeout(read_timeout)
    try:
        s.sendall(payload)
    except OSError:
        pass
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        s.close()
        raise AssertionError(f"connection left open; got {data!r}")
    except ConnectionResetError:
        pass
    s.close()
    return data


def startup(user="alice", db="shop"):
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0" + \
        db.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


def error_message(data):
    assert data[:1] == b"E", data
    fields = data[5:].split(b"\0")
    return {f[:1]: f[1:].decode() for f in fields if f}


@pytest.fixture
def healthy(gateway, token):
    """A session that runs statements throughout the test and must never fail."""
    stop = threading.Event()
    errors = []
    conn = psycopg.connect(gateway.dsn(token), autocommit=True)

    def loop():
        i = 0
        while not stop.is_set():
            try:
                assert conn.execute("select %s::int", (i,)).fetchone()[0] == i
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                return
            i += 1
            time.sleep(0.01)

    t = threading.Thread(target=loop)
    t.start()
    yield
    stop.set()
    t.join()
    conn.close()
    assert not errors, errors


def test_length_below_four(gateway, healthy):
    e = error_message(raw(gateway, struct.pack("!i", 3) + b"\0\0\0\0"))
    assert e[b"C"] == "08P01" and "below 8" in e[b"M"], e


def test_huge_startup_length(gateway, healthy):
    e = error_message(raw(gateway, struct.pack("!i", 0x7FFFFFF0) + b"\0\0\0\0"))
    assert "exceeds the size limit" in e[b"M"], e


def test_startup_packet_over_the_limit(gateway, healthy):
    body = struct.pack("!i", 196608) + b"user\0alice\0application_name\0" + b"x" * 20000 + b"\0\0"
    e = error_message(raw(gateway, struct.pack("!i", len(body) + 4) + body))
    assert "exceeds the size limit" in e[b"M"], e


def test_bytes_pipelined_after_sslrequest(gateway, healthy):
    data = raw(gateway, struct.pack("!ii", 8, 80877103) + startup())
    e = error_message(data)
    assert "unencrypted data after an encryption request" in e[b"M"], e


def test_unsupported_protocol_version(gateway, healthy):
    body = struct.pack("!i", 2 << 16) + b"user\0alice\0\0"
    e = error_message(raw(gateway, struct.pack("!i", len(body) + 4) + body))
    assert e[b"C"] == "0A000" and "protocol" in e[b"M"], e


def authenticated_socket(gateway, token):
    raw = RawClient(gateway.port)
    assert raw.login(token) is None
    return raw.sock


@pytest.mark.parametrize("payload,expect", [
    (b"\x01\0\0\0\x04", "unknown frontend message type"),
    (b"Q\0\0\0\x02", "below the minimum"),
    (b"Q\x7f\xff\xff\xff", "exceeds the limit"),
    (b"S\0\0\0\x09xxxxx", "exceeds the limit"),
    (b"p\0\0\0\x08abcd", "PasswordMessage"),
])
def test_bad_messages_after_login(gateway, token, healthy, payload, expect):
    s = authenticated_socket(gateway, token)
    s.sendall(payload)
    s.settimeout(3)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    assert expect.encode() in data, data


def test_function_call_message_is_refused_and_the_session_continues(gateway, token, healthy):
    s = authenticated_socket(gateway, token)
    # FunctionCall for oid 1 with no arguments: it would run a function with no SQL to check.
    s.sendall(b"F" + struct.pack("!iihhh", 14, 1, 0, 0, 0))
    data = b""
    while not data.endswith(b"Z\0\0\0\x05I"):
        data += s.recv(65536)
    e = error_message(data)
    assert e[b"C"] == "42501" and "FunctionCall" in e[b"M"], e
    q = b"select 'alive'\0"
    s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)
    data = b""
    while not data.endswith(b"Z\0\0\0\x05I"):
        data += s.recv(65536)
    assert b"alive" in data
    s.close()
