"""Small helpers the tests share: make rows, run a statement, expect an error."""

from __future__ import annotations

import itertools
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pymysql
import pytest
from pymysql.connections import Connection

from ticketdb import roles
from ticketdb.connection import Target, connect, fetch_dicts
from ticketdb.sources import ROOT

_seq = itertools.count(1)


def utcnow(conn: Connection) -> datetime:
    return query(conn, "SELECT UTC_TIMESTAMP()")[0][0]


def query(conn: Connection, sql: str, args: Any = None) -> tuple:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def one(conn: Connection, sql: str, args: Any = None) -> Any:
    rows = query(conn, sql, args)
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


def execute(conn: Connection, sql: str, args: Any = None) -> int:
    with conn.cursor() as cur:
        return cur.execute(sql, args)


def call(conn: Connection, proc: str, *args: Any) -> list[dict]:
    """CALL a procedure; returns the rows of its first result set as dicts."""
    return fetch_dicts(conn, f"CALL {proc}({', '.join(['%s'] * len(args))})", args)


def customer(conn: Connection, tier: str = "standard") -> int:
    n = next(_seq)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO customers (name, email, tier) VALUES (%s, %s, %s)",
                    (f"Customer {n}", f"customer{n}.{id(conn)}@example.com", tier))
        return cur.lastrowid


def agent(conn: Connection, active: bool = True, name: str | None = None) -> int:
    n = next(_seq)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO agents (name, email, is_active) VALUES (%s, %s, %s)",
                    (name or f"Agent {n}", f"agent{n}.{id(conn)}@example.com", active))
        return cur.lastrowid


def bind_login(conn: Connection, agent_id: int, user: str | None = None) -> None:
    """Bind a login (by user name; default: this connection's own) to an
    agent in agent_logins, as an admin does (V037)."""
    with conn.cursor() as cur:
        if user is None:
            cur.execute("SELECT SUBSTRING_INDEX(SESSION_USER(), '@', 1)")
            user = cur.fetchone()[0]
        cur.execute("INSERT INTO agent_logins (login_user, agent_id) VALUES (%s, %s) "
                    "ON DUPLICATE KEY UPDATE agent_id = VALUES(agent_id)", (user, agent_id))


def ticket(conn: Connection, priority: str = "medium", age: timedelta = timedelta(0),
           customer_id: int | None = None, subject: str = "Cannot log in") -> int:
    cid = customer_id or customer(conn)
    created = utcnow(conn) - age
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO service_tickets (customer_id, subject, priority, created_at) "
            "VALUES (%s, %s, %s, %s)", (cid, subject, priority, created))
        return cur.lastrowid


def log(conn: Connection, ticket_id: int, action: str, agent_id: int | None = None,
        at: datetime | None = None, **extra: Any) -> int:
    """Insert a log row. A given `at` goes through the import path (staged in
    ticket_log_imports first), since the flow refuses other backdated rows."""
    cols = ["ticket_id", "action_type", "agent_id", *extra]
    vals = [ticket_id, action, agent_id, *extra.values()]
    with conn.cursor() as cur:
        if at is not None:
            cols.append("action_time")
            vals.append(at)
            cur.execute("INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
                        "VALUES (%s, %s, %s)", (ticket_id, action, at))
        try:
            cur.execute(f"INSERT INTO ticket_logs ({', '.join(cols)}) "
                        f"VALUES ({', '.join(['%s'] * len(vals))})", vals)
            return cur.lastrowid
        finally:
            if at is not None:  # a recent row does not consume its staged twin
                cur.execute("DELETE FROM ticket_log_imports WHERE ticket_id = %s", (ticket_id,))


def state(conn: Connection, ticket_id: int) -> dict:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT * FROM service_tickets WHERE ticket_id = %s", (ticket_id,))
        return cur.fetchone()


def log_count(conn: Connection, ticket_id: int | None = None) -> int:
    if ticket_id is None:
        return one(conn, "SELECT COUNT(*) FROM ticket_logs")
    return one(conn, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (ticket_id,))


def expect_error(conn: Connection, sql: str, args: Any = None, *,
                 code: int | tuple[int, ...] | None = None,
                 match: str | None = None) -> str:
    """Run sql, which must fail; returns the server's message."""
    with pytest.raises(pymysql.MySQLError) as info, conn.cursor() as cur:
        cur.execute(sql, args)
        while cur.nextset():
            pass
    err_code, message = info.value.args[0], info.value.args[1]
    if code is not None:
        codes = code if isinstance(code, tuple) else (code,)
        assert err_code in codes, f"expected error {code}, got {err_code}: {message}"
    if match is not None:
        assert re.search(match, message), f"{message!r} does not match {match!r}"
    return message


def flow_error(conn: Connection, sql: str, args: Any = None, match: str | None = None) -> str:
    """A rule violation: SQLSTATE 45000 (error 1644) with a ticketdb: message."""
    message = expect_error(conn, sql, args, code=1644, match=match)
    assert message.startswith("ticketdb: "), message
    return message


class Background:
    """Runs fn in a thread; join() re-raises whatever it raised."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.result: object = None

        def body() -> None:
            try:
                self.result = fn()
            except BaseException as exc:  # re-raised in join()
                self.error = exc

        self.thread = threading.Thread(target=body)
        self.thread.start()

    def join(self, timeout: float = 120) -> object:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the background call did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def month_start(day: datetime, months_back: int = 0) -> datetime:
    """Midnight of the first day of the month `months_back` months before day's."""
    index = day.year * 12 + day.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1)


def old_history(conn: Connection, months: int, tickets: int = 1, per_month: int = 1,
                agent_id: int | None = None) -> list[int]:
    """Tickets created `months` months ago (UTC), each assigned at once and
    then replied to `per_month` times in every month since, the current one
    excepted: history old enough to archive, written through the import path
    (staged in ticket_log_imports), as the flow requires of backdated rows."""
    aid = agent_id or agent(conn)
    now = utcnow(conn)
    created = month_start(now, months) + timedelta(days=2)
    cid = customer(conn)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO service_tickets (customer_id, subject, created_at) "
                        "VALUES (%s, %s, %s)",
                        [(cid, f"Old ticket {n}", created) for n in range(tickets)])
        first = cur.lastrowid  # a multi-row INSERT reports its first id
    ids = list(range(first, first + tickets))
    rows = [(tid, "assign", aid, created + timedelta(hours=1)) for tid in ids]
    for m in range(months, 0, -1):
        start = max(month_start(now, m), created) + timedelta(days=3)
        rows += [(tid, "reply", aid, start + timedelta(hours=k, seconds=tid % 3000))
                 for tid in ids for k in range(per_month)]
    rows.sort(key=lambda r: (r[3], r[0]))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
                        "VALUES (%s, %s, %s)", [(r[0], r[1], r[3]) for r in rows])
        cur.executemany("INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
                        "VALUES (%s, %s, %s, %s)", rows)
    return ids


@contextmanager
def role_logins(db: Target) -> Iterator[dict[str, Target]]:
    """`up --roles`, then one real login per role (agent, supervisor,
    reporting, app), each with only its role; dropped afterwards."""
    result = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "--url", db.url(), "up",
                             "--roles"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for kind in ("agent", "supervisor", "reporting", "app"):
        assert f"role {db.database}_{kind}:" in result.stdout
    admin = connect(db)
    made = {}
    try:
        for kind in ("agent", "supervisor", "reporting", "app"):
            user, password = f"u_{kind}_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
            execute(admin, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            roles.grant_role(admin, f"{db.database}_{kind}", user)
            made[kind] = Target(host=db.host, port=db.port, user=user, password=password,
                                database=db.database)
        yield made
    finally:
        for t in made.values():
            execute(admin, f"DROP USER '{t.user}'@'%'")
        admin.close()
