"""Table locks: bounded waits, so a deploy never freezes production, and the
tables a migration's own LOCK TABLES names. (The deploy lock, one deployer
at a time, is `deploy_lock.py`.)

DDL and LOCK TABLES wait for a table's metadata lock while any transaction
that touched the table is open, and every later query on that table queues
behind the waiting DDL. MySQL lets that wait last a year and MariaDB a day.
The deployer's session waits `lock_wait` seconds at most, then steps back
(readers go on), sleeps, and tries the same statement again; after the last
retry it gives up and names the session that holds the lock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor

from ticketdb.sources import SqlFile, plain

LOCK_WAIT_TIMEOUT = 1205
# LOCK TABLES (group 1 empty) or UNLOCK TABLES (group 1 "UN")
LOCK_TABLES = re.compile(r"^(UN)?LOCK\s+TABLES?\b", re.IGNORECASE)


def bound_lock_waits(conn: Connection, seconds: int) -> None:
    with conn.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = %s", (seconds,))
        cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (seconds,))


def run_with_retries(conn: Connection, cur: Cursor, text: str, run: Callable[[Cursor, str], None],
                     echo: Callable[[str], None], lock_wait: int, retries: int) -> None:
    """Run one statement; when its lock wait runs out, retry with backoff
    (1, 2, 4 … s, at most 30 s); after `retries` retries, raise error 1205
    with the sessions that hold the lock named."""
    attempt = 0
    while True:
        try:
            run(cur, text)
            return
        except pymysql.MySQLError as exc:
            if not exc.args or exc.args[0] != LOCK_WAIT_TIMEOUT:
                raise
            holders = describe_holders(conn)
            if attempt >= retries:
                raise pymysql.err.OperationalError(
                    LOCK_WAIT_TIMEOUT,
                    f"{exc.args[1]} (waited {attempt + 1} time(s) {lock_wait} s for a table "
                    f"lock; held by {holders}: end that transaction, or raise --lock-wait)",
                ) from None
            attempt += 1
            delay = min(2 ** (attempt - 1), 30)
            echo(f"  waited {lock_wait} s for a table lock held by {holders}; "
                 f"retry {attempt} of {retries} in {delay} s")
            time.sleep(delay)


def describe_holders(conn: Connection) -> str:
    """The open transactions of other sessions, oldest first: the usual
    holders of a metadata lock (an idle transaction that read the table)."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT t.trx_mysql_thread_id, p.USER, p.HOST, "
                "TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), p.COMMAND, p.TIME "
                "FROM information_schema.INNODB_TRX AS t "
                "LEFT JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id "
                "WHERE t.trx_mysql_thread_id <> CONNECTION_ID() "
                "ORDER BY t.trx_started LIMIT 3"
            )
            rows = cur.fetchall()
    except pymysql.MySQLError:
        rows = ()
    if not rows:
        return ("a session this account cannot see (the PROCESS privilege shows it; "
                "SHOW PROCESSLIST, then KILL its id)")
    return ", ".join(
        f"connection {tid} ({user or '?'}@{host or '?'}, transaction open {age} s"
        + (f", idle {idle} s" if command == "Sleep" else "") + ")"
        for tid, user, host, age, command, idle in rows
    )


def locked_tables(f: SqlFile) -> list[str]:
    """The tables a migration's own LOCK TABLES names (aliases left out)."""
    names: list[str] = []
    for st in f.statements:
        text = plain(st.text)
        if LOCK_TABLES.match(text) and not text.upper().startswith("UN"):
            body = re.sub(r"^LOCK\s+TABLES?\s+", "", text, flags=re.IGNORECASE)
            body = re.sub(r"\s*--.*$", "", body)
            for part in body.rstrip(";").split(","):
                name = part.strip().split()[0].strip("`")
                if name and name not in names:
                    names.append(name)
    return names
