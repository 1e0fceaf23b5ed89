import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, PgServer  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    """One PostgreSQL 15 server with the shop database for the whole run."""
    server = PgServer("shared").init().start().setup_shop()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def gateway(pg):
    gw = Gateway(pg).start()
    yield gw
    gw.destroy()


@pytest.fixture
def token(gateway):
    """A write grant: the client tests create temporary tables and copy into them."""
    return gateway.issue("alice", access="write")
