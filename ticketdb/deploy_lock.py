"""The deploy lock: one deployer at a time per database, on one server or a cluster.

A lease row in `ticketdb_deploy_lock`, not `GET_LOCK`: GET_LOCK is local to
one server (two `up` on two Galera nodes both got it) and any login can take
a name it can compute. The row is taken by an UPDATE that names the holder it
replaces (compare and set), so on Galera certification decides between two
nodes: the loser's UPDATE is aborted (1213) or, retried, finds the row taken.
Only accounts that can write the table (the deployer's) can take it.

The holder is a node (`@@hostname:@@port`) and a connection id. The lease
expires `LEASE_SECONDS` after its last heartbeat (a thread renews it every
`HEARTBEAT_SECONDS` on a second connection), so a deployer that dies, or whose
node dies, frees it within that time; on the holder's own node a holder whose
connection is gone is free at once (when this account can see that
connection: its own, or every one with PROCESS).

`plan | mysql` takes the same row for `PLAN_LEASE_SECONDS` (a script cannot
send heartbeats) and frees it at its end.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pymysql
from pymysql.connections import Connection

from ticketdb.connection import Target, connect
from ticketdb.errors import DeployError

TABLE = "ticketdb_deploy_lock"
NAME = "deploy"
NODE_SQL = "CONCAT(@@hostname, ':', @@port)"
LEASE_SECONDS = 60
HEARTBEAT_SECONDS = 5
PLAN_LEASE_SECONDS = 1800
_RACE = {1213, 1205}  # lost a certification race (Galera) or a row lock wait

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    lock_name VARCHAR(32) NOT NULL,
    holder_node VARCHAR(300) NULL,
    holder_connection BIGINT UNSIGNED NULL,
    holder_user VARCHAR(300) NULL,
    holder_command VARCHAR(40) NULL,
    acquired_at DATETIME(3) NULL,
    expires_at DATETIME(3) NULL,
    PRIMARY KEY (lock_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
"""
SEED = f"INSERT IGNORE INTO {TABLE} (lock_name) VALUES ('{NAME}')"


class LockError(DeployError):
    """Another deploy holds the lock and did not let go in time (exit 1)."""


@dataclass(frozen=True)
class Holder:
    node: str | None
    connection: int | None
    user: str | None
    command: str | None
    acquired_at: datetime | None
    expires_at: datetime | None
    seconds_left: float

    @property
    def free(self) -> bool:
        return self.connection is None or self.seconds_left <= 0

    def describe(self) -> str:
        return (f"`{self.command or '?'}` on node {self.node}, connection {self.connection} "
                f"({self.user}), since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC; its lease "
                f"runs {max(self.seconds_left, 0):.0f} s more unless renewed")


def ensure_table(conn: Connection, schema: str) -> None:
    """Created by the deployer like the history table; one row, seeded free."""
    with conn.cursor() as cur:
        cur.execute(CREATE_TABLE.replace(f"EXISTS {TABLE}", f"EXISTS `{schema}`.{TABLE}", 1))
        for attempt in range(5):
            try:
                cur.execute(SEED.replace(f"INTO {TABLE}", f"INTO `{schema}`.{TABLE}", 1))
                break
            except pymysql.MySQLError as exc:  # two nodes seeding at once
                if exc.args[0] not in _RACE or attempt == 4:
                    raise
                time.sleep(0.2)


def read_holder(conn: Connection, schema: str) -> Holder:
    with conn.cursor() as cur:
        cur.execute(f"SELECT holder_node, holder_connection, holder_user, holder_command, "
                    f"acquired_at, expires_at, "
                    f"TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) / 1000000 "
                    f"FROM `{schema}`.{TABLE} WHERE lock_name = %s", (NAME,))
        row = cur.fetchone()
    if row is None:
        return Holder(None, None, None, None, None, None, 0)
    return Holder(*row[:6], float(row[6] or 0))


def _me(conn: Connection) -> tuple[str, int, str, bool]:
    """This session's node, connection id, account, and whether it sees every
    session of the server (PROCESS) or only its own account's."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {NODE_SQL}, CONNECTION_ID(), CURRENT_USER()")
        node, connection, user = cur.fetchone()
        cur.execute("SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
                    "WHERE PRIVILEGE_TYPE = 'PROCESS'")
        sees_all = cur.fetchone()[0] > 0
    return node, int(connection), user, sees_all


def _dead_here(conn: Connection, h: Holder, node: str, user: str, sees_all: bool) -> bool:
    """The holder is on this node and its connection is gone."""
    if h.connection is None or h.node != node or not (sees_all or h.user == user):
        return False
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                    (h.connection,))
        return cur.fetchone()[0] == 0


class Lease:
    """A held deploy lock; `release()` frees it (also stops the heartbeat)."""

    def __init__(self, target: Target | None, conn: Connection, schema: str, node: str,
                 connection: int, heartbeat: bool) -> None:
        self.conn, self.schema, self.node, self.connection = conn, schema, node, connection
        self.lost = False
        self._stop = threading.Event()
        self._thread = None
        if heartbeat and target is not None:
            self._thread = threading.Thread(target=self._beat, args=(target,), daemon=True,
                                            name="ticketdb-deploy-lease")
            self._thread.start()

    def _beat(self, target: Target) -> None:
        beat = None
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                try:
                    if beat is None:
                        beat = connect(target, database=None, connect_timeout=5)
                    with beat.cursor() as cur:
                        cur.execute("SET SESSION innodb_lock_wait_timeout = %s",
                                    (HEARTBEAT_SECONDS,))
                        renewed = cur.execute(
                            f"UPDATE `{self.schema}`.{TABLE} SET expires_at = UTC_TIMESTAMP(3) "
                            f"+ INTERVAL %s SECOND WHERE lock_name = %s AND holder_node = %s "
                            f"AND holder_connection = %s",
                            (LEASE_SECONDS, NAME, self.node, self.connection))
                    if renewed == 0:
                        self.lost = True
                        return
                except pymysql.MySQLError:
                    if beat is not None:
                        beat.close()
                    beat = None  # next beat reconnects; the lease has LEASE_SECONDS
        finally:
            if beat is not None:
                beat.close()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HEARTBEAT_SECONDS + 10)
        try:
            with self.conn.cursor() as cur:
                cur.execute(
                    f"UPDATE `{self.schema}`.{TABLE} SET holder_node = NULL, "
                    f"holder_connection = NULL, holder_user = NULL, holder_command = NULL, "
                    f"acquired_at = NULL, expires_at = NULL WHERE lock_name = %s "
                    f"AND holder_node = %s AND holder_connection = %s",
                    (NAME, self.node, self.connection))
            self.conn.commit()
        except pymysql.MySQLError:
            pass  # the connection is gone: the lease expires, or is seen dead here


def acquire(conn: Connection, target: Target | None, schema: str, timeout: int,
            echo: Callable[[str], None] | None = None, command: str = "up",
            heartbeat: bool = True) -> Lease:
    """Take the deploy lock of `schema` on `conn` (autocommit), waiting up to
    `timeout` seconds for a holder to finish; say once who holds it."""
    ensure_table(conn, schema)
    with conn.cursor() as cur:  # a session holding the row cannot stretch the bound
        cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (max(1, min(timeout, 10)),))
    node, connection, user, sees_all = _me(conn)
    deadline = time.monotonic() + timeout
    told = False
    while True:
        h = read_holder(conn, schema)
        if h.free or _dead_here(conn, h, node, user, sees_all):
            try:
                with conn.cursor() as cur:
                    taken = cur.execute(
                        f"UPDATE `{schema}`.{TABLE} SET holder_node = %s, "
                        f"holder_connection = %s, holder_user = %s, holder_command = %s, "
                        f"acquired_at = UTC_TIMESTAMP(3), "
                        f"expires_at = UTC_TIMESTAMP(3) + INTERVAL %s SECOND "
                        f"WHERE lock_name = %s AND holder_node <=> %s "
                        f"AND holder_connection <=> %s AND expires_at <=> %s",
                        (node, connection, user, command, LEASE_SECONDS, NAME, h.node,
                         h.connection, h.expires_at))
                conn.commit()
                if taken == 1:
                    return Lease(target, conn, schema, node, connection, heartbeat)
            except pymysql.MySQLError as exc:
                if exc.args[0] not in _RACE:
                    raise
                conn.rollback()  # another node took it first: certification decided
            if time.monotonic() < deadline:
                continue
        if time.monotonic() >= deadline:
            raise LockError(f"another deploy is running on {schema}: the deploy lock is held "
                            f"by {h.describe()}; waited {timeout} s (--lock-timeout)")
        if echo is not None and not told:
            echo(f"waiting for the deploy lock of {schema}, held by {h.describe()}; "
                 f"waiting up to {timeout} s (--lock-timeout)")
            told = True
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.05)))


def lock_name(database: str) -> str:
    """The GET_LOCK name the deploy lock had before it became a lease row;
    nothing takes it now. Kept for the tools that list the deployer's SQL
    (/work/shared/tools/mysql8/mysql_parse_check.py reads it as
    `migrate.lock_name`)."""
    name = f"ticketdb.deploy.{database}"
    if len(name) <= 64:
        return name
    digest = hashlib.sha1(database.encode()).hexdigest()[:12]
    return f"ticketdb.deploy.{database[:64 - 16 - 13]}.{digest}"


def plan_sql() -> tuple[list[str], str, str]:
    """For `plan | mysql`: the statements that take the lease (the last one,
    its check, is given the guard by the caller as a condition), the
    condition, and the statement that frees it at the script's end."""
    take = [
        CREATE_TABLE.strip() + ";",
        SEED + ";",
        f"UPDATE {TABLE} SET holder_node = {NODE_SQL}, holder_connection = CONNECTION_ID(), "
        f"holder_user = CURRENT_USER(), holder_command = 'plan | mysql', "
        f"acquired_at = UTC_TIMESTAMP(3), expires_at = UTC_TIMESTAMP(3) + INTERVAL "
        f"{PLAN_LEASE_SECONDS} SECOND WHERE lock_name = '{NAME}' AND (holder_connection IS NULL "
        f"OR expires_at < UTC_TIMESTAMP(3));",
    ]
    condition = "ROW_COUNT() = 1"
    free = (f"UPDATE {TABLE} SET holder_node = NULL, holder_connection = NULL, "
            f"holder_user = NULL, holder_command = NULL, acquired_at = NULL, expires_at = NULL "
            f"WHERE lock_name = '{NAME}' AND holder_node = {NODE_SQL} "
            f"AND holder_connection = CONNECTION_ID();")
    return take, condition, free
