"""Test databases on the session's throwaway server: one deployed by `up`
under a name made from a label, and dropped afterwards (conftest.py's `db`,
`fresh_db` and `empty_db` fixtures use these)."""

from __future__ import annotations

import secrets

from ticketdb import migrate
from ticketdb.connection import Target, connect
from ticketdb.server import ThrowawayServer


def new_database(srv: ThrowawayServer, label: str) -> Target:
    """A database deployed by `up`, named t_<label>_<random>."""
    name = f"t_{label[:30]}_{secrets.token_hex(3)}".lower()
    target = srv.target.with_database("".join(c if c.isalnum() else "_" for c in name))
    migrate.up(target, echo=lambda _line: None)
    return target


def drop_database(target: Target) -> None:
    conn = connect(target, database=None)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    conn.close()
