"""Fixtures: one throwaway server per test session (see ticketdb/server.py for
how it is chosen), a freshly deployed database per test module, and a fresh one
per test where a test needs the whole database to itself.

The suite is in tiers, one folder each (tests/unit, deployer, schema,
reliability, cache, cluster); every test is marked with its folder's name.
A test in tests/unit that asks for a server is an error, so the unit tier
stays runnable on a machine with no server at all."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from support.databases import drop_database, new_database

from ticketdb import server
from ticketdb.connection import Target, connect
from ticketdb.sources import REPEATABLE_DIRS, ROOT

TIERS = ("unit", "deployer", "schema", "reliability", "cache", "cluster")
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier; refuse a unit test that needs a server."""
    needs_server = []
    for item in items:
        parts = Path(item.path).resolve().relative_to(TESTS).parts
        tier = parts[0] if len(parts) > 1 else None
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test belongs in one tier's folder, "
                                    f"tests/<tier>/ for a tier in {', '.join(TIERS)}")
        item.add_marker(tier)
        if tier == "unit" and "mysql_server" in item.fixturenames:
            needs_server.append(item.nodeid)
    if needs_server:
        raise pytest.UsageError("tests/unit needs no server, but these ask for one "
                                "(move them to another tier): " + ", ".join(needs_server))


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[server.ThrowawayServer]:
    srv = server.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def db(mysql_server: server.ThrowawayServer, request: pytest.FixtureRequest) -> Iterator[Target]:
    """A deployed database shared by the tests of one module."""
    target = new_database(mysql_server, request.module.__name__.rsplit(".", 1)[-1])
    yield target
    drop_database(target)


@pytest.fixture
def fresh_db(mysql_server: server.ThrowawayServer,
             request: pytest.FixtureRequest) -> Iterator[Target]:
    """A deployed database for one test alone."""
    target = new_database(mysql_server, request.node.name)
    yield target
    drop_database(target)


@pytest.fixture
def empty_db(mysql_server: server.ThrowawayServer) -> Iterator[Target]:
    """A database name that does not exist yet."""
    target = mysql_server.target.with_database(f"t_empty_{secrets.token_hex(4)}")
    yield target
    drop_database(target)


@pytest.fixture
def conn(db: Target) -> Iterator[pymysql.connections.Connection]:
    c = connect(db)
    yield c
    c.close()


@pytest.fixture
def fresh_conn(fresh_db: Target) -> Iterator[pymysql.connections.Connection]:
    c = connect(fresh_db)
    yield c
    c.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the project's SQL files that a test may edit."""
    for folder in ("sql", *REPEATABLE_DIRS):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def own_server(mysql_server) -> Iterator[server.ThrowawayServer]:
    """A server of the session's kind (local binaries or a container) that this
    test may kill and restart (test_reliability, test_archive)."""
    if mysql_server.kind == "url":
        pytest.skip("a server named by TICKETDB_TEST_URL is not ours to kill")
    srv = server.start(mysql_server.kind)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def scheduler_off(mysql_server: server.ThrowawayServer) -> Iterator[None]:
    """The shipped events run every minute in every test database; tests that
    count alerts or escalations, or compare checksums, turn the scheduler off
    so that a run landing mid-test cannot change what they count."""
    admin = connect(mysql_server.target, database=None)
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL event_scheduler = OFF")
    yield
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL event_scheduler = ON")
    admin.close()
