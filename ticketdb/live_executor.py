"""The live executor: `up`'s steps (executor.py) run on the server.

Each statement is sent as the file's bytes, one `execute` each, with bounded
lock waits and retries (locks.py); the history row is written through
history.py as it goes. A migration's statement and its progress row commit
in one transaction. On an error the attempt's row says 'failed' with the
file's line; a repeatable file's previous version is put back first, so the
object never goes missing. A lost connection leaves the row 'running': the
next `up` marks it interrupted and resumes it, accepting a statement that had
in fact finished (`already_applied`).
"""

from __future__ import annotations

import re
import time

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor

from ticketdb import history, locks, what_runs
from ticketdb.connection import reset_session
from ticketdb.errors import DeployError
from ticketdb.faults import AfterStatement
from ticketdb.locks import LOCK_TABLES
from ticketdb.owned import Owned
from ticketdb.sources import SqlFile, plain, wire
from ticketdb.splitter import Statement
from ticketdb.state import Echo, FileState

# Errors that mean "this is already there". After an interrupted attempt the
# statement it was running may have committed (DDL commits as it goes); when
# re-running exactly that statement reports one of these, it had.
ALREADY_DONE = {
    1007,  # database exists
    1022,  # duplicate key
    1050,  # table exists
    1060,  # duplicate column
    1061,  # duplicate key name
    1091,  # can't drop: does not exist
    1304,  # routine exists
    1359,  # trigger exists
    1537,  # event exists
    1826,  # duplicate foreign key constraint
}
# The same for a DROP: re-running a DROP that had run reports the object gone.
ALREADY_DROPPED = {
    1051,  # unknown table
    1305,  # routine does not exist
    1360,  # trigger does not exist
    1539,  # unknown event
}
_DROP = re.compile(r"^\s*DROP\b", re.IGNORECASE)


def already_applied(st: Statement, exc: pymysql.MySQLError) -> bool:
    """Whether exc, raised by re-running st after an interruption, says st had run."""
    code = exc.args[0] if exc.args else None
    return code in ALREADY_DONE or (code in ALREADY_DROPPED and bool(_DROP.match(st.text)))




class LiveExecutor:
    """Runs the steps on `conn` (the deployer's session, in `schema`)."""

    def __init__(self, conn: Connection, schema: str, echo: Echo, lock_wait: int, retries: int,
                 mariadb: bool = False, fault: AfterStatement | None = None) -> None:
        self.conn, self.schema, self.echo = conn, schema, echo
        self.lock_wait, self.retries, self.mariadb = lock_wait, retries, mariadb
        self.fault = fault  # called after each statement runs (faults.py)
        self.history_id = 0
        self.started = 0.0
        self.previous: str | None = None  # a repeatable file's last applied text

    def _run(self, cur: Cursor, text: str) -> None:
        locks.run_with_retries(self.conn, cur, text, run_sql, self.echo, self.lock_wait,
                               self.retries)

    def start(self, s: FileState) -> None:
        f = s.file
        if f.kind == "repeatable":
            self.previous = history.last_applied_sql(self.conn, self.schema, f.path)
        done = list(f.statement_checksums[: s.resume_at]) if f.kind == "versioned" else []
        self.history_id = history.start(self.conn, self.schema, f, done)
        self.started = time.monotonic()

    def run(self, s: FileState, st: Statement, in_lock: bool) -> None:
        f, conn = s.file, self.conn
        with conn.cursor() as cur:
            try:
                if f.kind == "versioned" and not in_lock:
                    conn.begin()
                self._run(cur, st.text)
                if self.fault is not None:
                    self.fault()
            except pymysql.MySQLError as exc:
                if lost(exc):
                    raise DeployError(_lost_message(f, st, exc)) from None
                if f.kind == "versioned":
                    self._migration_failed(s, st, cur, exc)
                else:
                    self._repeatable_failed(f, st, cur, exc)

    def _migration_failed(self, s: FileState, st: Statement, cur: Cursor,
                          exc: pymysql.MySQLError) -> None:
        self.conn.rollback()
        interrupted = s.attempt is not None and s.attempt.state == "interrupted"
        if interrupted and st.number == s.resume_at + 1 and already_applied(st, exc):
            self.echo(f"  statement {st.number}: already applied before the interruption "
                      f"({exc.args[1]})")
            return
        message = _error(s.file, st.number, st.line, exc)
        cur.execute("UNLOCK TABLES")
        reset_session(self.conn)
        history.finish(self.conn, self.schema, self.history_id, "failed", ms_since(self.started),
                       message)
        raise DeployError(message) from None

    def _repeatable_failed(self, f: SqlFile, st: Statement, cur: Cursor,
                           exc: pymysql.MySQLError) -> None:
        message = _error(f, st.number, st.line, exc)
        reset_session(self.conn)
        restored = _restore(self.conn, f, self.previous, self.mariadb)
        cur.execute("UNLOCK TABLES")
        reset_session(self.conn)
        if restored:
            message += " (the previously applied version was put back)"
        history.finish(self.conn, self.schema, self.history_id, "failed", ms_since(self.started),
                       message)
        raise DeployError(message) from None

    def skip(self, s: FileState, st: Statement) -> None:
        self.echo(f"  statement {st.number}: {plain(st.text)[:40]}… not run on a Galera node "
                  "(its tables are empty)")

    def progress(self, s: FileState, done: int) -> None:
        checksums = " ".join(s.file.statement_checksums[:done])
        with self.conn.cursor() as cur:
            cur.execute(history.progress_sql(self.schema), (done, checksums, self.history_id))
        self.conn.commit()

    def unlock(self, s: FileState) -> None:
        with self.conn.cursor() as cur:
            cur.execute("UNLOCK TABLES")

    def reset_session(self) -> None:
        reset_session(self.conn)

    def finish(self, s: FileState, objects: list[tuple[str, str]]) -> None:
        repeatable = s.file.kind == "repeatable"
        history.finish(self.conn, self.schema, self.history_id, "applied", ms_since(self.started),
                       applied_sql=s.file.text if repeatable else None)
        if repeatable or objects:
            history.record_object_state(self.conn, self.schema, self.history_id, objects)

    def recreate(self, s: FileState, o: Owned) -> None:
        reset_session(self.conn)
        with self.conn.cursor() as cur:
            for text in o.statements():
                try:
                    self._run(cur, text)
                except pymysql.MySQLError as exc:
                    if lost(exc):
                        raise DeployError(_lost_message(s.file, o.create, exc)) from None
                    raise DeployError(
                        f"{_error(s.file, o.create.number, o.create.line, exc)} (re-creating "
                        f"{o.kind} {o.name}, which the database had lost)") from None
        self.echo(f"  re-created {o.kind} {o.name} from {s.file.path} statement "
                  f"{o.create.number}")

    def record_objects(self, history_id: int, objects: list[tuple[str, str]]) -> None:
        history.record_object_state(self.conn, self.schema, history_id, objects)


def run_sql(cur: Cursor, text: str) -> None:
    """Run one statement of a file, as the mysql client sends it: a text that
    holds several (`CREATE VIEW …; DROP …` inside one DELIMITER block) is split
    by the server (the deployer's session allows multi-statements), and an
    error in any of them is raised here. Sent as the file's bytes (wire)."""
    cur.execute(wire(text))
    while cur.nextset():
        pass


def _error(f: SqlFile, number: int, line: int, exc: pymysql.MySQLError) -> str:
    code, message = (*exc.args, "")[:2] if exc.args else (0, str(exc))
    where = f"statement {number} (line {line})" if number else "the deployer's LOCK TABLES"
    if number:  # the server counts lines from the statement's start: say the file's line
        message = _SERVER_LINE.sub(lambda m: f"at line {line + int(m.group(1)) - 1} of "
                                             f"{f.path}", str(message))
    return f"{f.path} {where}: error {code}: {message}"


_SERVER_LINE = re.compile(r"at line (\d+)$")


# server gone away, lost connection, connection killed (MariaDB), and
# pymysql's own "the connection is closed"
LOST = {2006, 2013, 1927, 4031, 0}


def lost(exc: pymysql.MySQLError) -> bool:
    """The connection died: nothing more can be written on it."""
    return isinstance(exc, pymysql.err.InterfaceError) or bool(exc.args and exc.args[0] in LOST)


def _lost_message(f: SqlFile, st: Statement, exc: pymysql.MySQLError) -> str:
    code, text = (*exc.args, "")[:2] if exc.args else (0, "")
    what = f"error {code}: {text}" if code else "the server closed the connection"
    where = f"statement {st.number} (line {st.line})" if st.number else "the deployer's LOCK TABLES"
    return (f"{f.path} {where}: the connection was lost "
            f"({what}); the next up finds this attempt interrupted and resumes it")


def _restore(conn: Connection, f: SqlFile, previous: str | None, mariadb: bool = False) -> bool:
    if not previous:
        return False
    old = SqlFile(f.path, f.kind, f.version, f.description, previous)
    with conn.cursor() as cur:
        try:
            for st in what_runs.statements(old, mariadb):
                if not LOCK_TABLES.match(st.text):  # the swap's lock is held already
                    run_sql(cur, st.text)
        except pymysql.MySQLError:
            return False
    return True


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
