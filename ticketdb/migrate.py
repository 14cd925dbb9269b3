"""What `plan`, `up` and `status` do: compare the files with the history, then
apply what is missing, one statement per `execute`.

A newcomer's map: statements are split in `splitter.py`, history rows are
written in `history.py`, and this module decides what runs and in what order.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor

from ticketdb import backup, deploy_lock, galera, history, locks, owned, preflight, scope
from ticketdb.connection import COLLATION, SESSION_SETUP, SQL_MODE, Target, connect, reset_session
from ticketdb.errors import TicketdbError
from ticketdb.sources import (
    ROOT,
    SqlFile,
    all_files,
    plain,
    repeatable_files,
    versioned_files,
    wire,
)
from ticketdb.splitter import Statement

Echo = Callable[[str], None]

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


class DeployError(TicketdbError):
    """`up` could not finish: the message names the file and statement (exit 1)."""


@dataclass(frozen=True)
class FileState:
    file: SqlFile
    state: str  # applied / pending / failed / changed / missing
    attempt: history.Attempt | None
    resume_at: int  # index of the first statement `up` would run
    note: str = ""
    owned: tuple[owned.Owned, ...] = ()  # what a migration leaves (owned.py)
    repairs: tuple[owned.Owned, ...] = ()  # of those, what `up` re-creates

    @property
    def needs_work(self) -> bool:
        return self.state not in ("applied", "missing")


@dataclass(frozen=True)
class UpOptions:
    lock_timeout: int = 60  # seconds to wait for another deployer
    lock_wait: int = 10  # seconds one statement may wait for a table lock
    retries: int = 3  # more attempts after a statement's lock wait ran out
    allow_missing: bool = False  # go on although files the history knows are gone
    target: str | None = None  # apply versioned migrations up to this version only
    backup_dir: Path | None = None  # dump the database here before changing anything


def lock_name(database: str) -> str:
    """The GET_LOCK name the deploy lock had before it became a lease row
    (deploy_lock.py); nothing takes it now. Kept for the tools that list the
    deployer's SQL (/work/shared/tools/mysql8/mysql_parse_check.py)."""
    name = f"ticketdb.deploy.{database}"
    if len(name) <= 64:
        return name
    digest = hashlib.sha1(database.encode()).hexdigest()[:12]
    return f"ticketdb.deploy.{database[:64 - 16 - 13]}.{digest}"


def database_exists(conn: Connection, database: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (database,))
        return cur.fetchone()[0] == 1


def file_states(conn: Connection | None, schema: str, root: Path = ROOT,
                files: list[SqlFile] | None = None) -> list[FileState]:
    """The state of every file (of root, or those given), and of every file
    the history knows that is gone (missing); conn=None (no database yet)
    means all pending."""
    files = all_files(root) if files is None else files
    if conn is None:
        return [_state(f, None) for f in files]
    attempts = history.latest(conn, schema)
    live = history.live_objects(conn, schema)
    # up gives the database COLLATION before it applies anything: objects
    # created under another database collation are re-created under that one
    states = [_state(f, attempts.get(f.path), live, COLLATION) for f in files]
    states = with_migration_objects(conn, schema, files, states, live)
    paths = {f.path for f in files}
    for path, a in sorted(attempts.items()):
        if path not in paths and a.state != "deleted":
            gone = SqlFile(path, "versioned" if a.kind == "versioned" else "repeatable",
                           a.version, a.description, "")
            states.append(FileState(gone, "missing", a, 0,
                                    f"{a.state} in the history, but the file is gone: put it "
                                    "back, or `repair` marks it deleted"))
    return states


def with_migration_objects(conn: Connection, schema: str, files: list[SqlFile],
                           states: list[FileState], live: dict[tuple[str, str], str]
                           ) -> list[FileState]:
    """An applied migration whose objects (owned.py) were dropped or changed
    since becomes 'changed' with the objects `up` re-creates; one whose table
    is gone becomes 'changed' with no repair: `up` refuses and says how."""
    objects = owned.migration_objects(files)
    tables = owned.migration_tables(files)
    with conn.cursor() as cur:
        cur.execute("SELECT LOWER(TABLE_NAME) FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s", (schema,))
        live_tables = {r[0] for r in cur.fetchall()}
    result = []
    for s in states:
        mine = tuple(objects.get(s.file.path, ()))
        s = replace(s, owned=mine)
        if s.state != "applied" or s.file.kind != "versioned":
            result.append(s)
            continue
        gone = sorted(t for t, path in tables.items() if path == s.file.path
                      and t not in live_tables)
        if gone:
            result.append(replace(s, state="changed", note=(
                f"table {', '.join(gone)} made by this migration is missing: dropped by hand; "
                "up cannot re-create a table with its rows: restore it from a backup "
                "(up --backup DIR writes one), then run up")))
            continue
        recorded = history.parse_object_state(s.attempt.object_state if s.attempt else None)
        reasons, repairs = [], []
        for o in mine:
            why = object_drift(o.kind, o.name, live.get(o.key), recorded.get(o.key), COLLATION)
            if why:
                reasons += why
                repairs.append(o)
        if repairs:
            s = replace(s, state="changed", repairs=tuple(repairs),
                        note="changed in the database since applied (" + "; ".join(reasons)
                        + "): up re-creates it from the migration")
        result.append(s)
    return result


def object_drift(kind: str, name: str, now_state: str | None,
                 was: dict[str, str] | None, collation: str) -> list[str]:
    """How one object differs from how `up` made it ([] when it does not).
    A body this account cannot read (a routine it did not define, without
    the privilege to read it) is not compared: never re-created for that."""
    if now_state is None:
        return [f"{kind} {name} is missing: dropped by hand"]
    now = history.parse_fields(now_state)
    reasons = []
    if now.get("collation", collation) != collation:
        reasons.append(f"{kind} {name} was created under collation {now['collation']}, "
                       f"the database's is {collation}")
    if was is None:
        return reasons
    for field in ("body", "sql_mode", "time_zone", "definer", "status"):
        if field == "body" and history.UNREADABLE in (was.get(field), now.get(field)):
            continue
        if was.get(field) != now.get(field):
            if field == "body":
                reasons.append(f"{kind} {name}: re-created by hand with another definition")
            else:
                reasons.append(f"{kind} {name}: {field} was {was.get(field)}, "
                               f"is {now.get(field)}")
    return reasons


def _state(f: SqlFile, a: history.Attempt | None,
           live: dict[tuple[str, str], str] | None = None, collation: str = COLLATION
           ) -> FileState:
    if a is None:
        return FileState(f, "pending", None, 0)
    if a.state in ("applied", "resolved"):
        if a.checksum == f.checksum:
            drift = changed_by_hand(f, a, live or {}, collation) if f.kind == "repeatable" else []
            if drift:
                return FileState(f, "changed", a, 0, "changed in the database since applied ("
                                 + "; ".join(drift) + "): up re-applies it")
            note = f"resolved by hand: {a.error_message}" if a.state == "resolved" else ""
            if f.kind == "repeatable" and unreadable_bodies(f, live or {}):
                note = ("body not compared: this account is not the routine's definer and "
                        "may not read it (see docs/api.md)")
            return FileState(f, "applied", a, len(f.statements), note)
        if f.kind == "repeatable":
            return FileState(f, "changed", a, 0, "file changed since applied: up re-applies it")
        return FileState(f, "changed", a, len(f.statements),
                         "edited after it was applied: restore the file and put the change "
                         "in a new migration")
    if a.state == "deleted":  # by repair, when the file was gone; now it is back
        if a.checksum == f.checksum and a.statements_done == a.statements_total:
            return FileState(f, "applied", a, len(f.statements),
                             "marked deleted by repair while the file was gone")
        return FileState(f, "pending", None, 0, "marked deleted by repair while the file was "
                         "gone; up runs it again")
    if a.state == "running":
        where = f"running now, or interrupted at statement {a.statements_done + 1}"
    elif a.state == "interrupted":
        where = f"interrupted at statement {a.statements_done + 1} of {a.statements_total}"
    else:
        where = f"failed at statement {a.statements_done + 1} of {a.statements_total}"
        if a.error_message:
            where += f": {a.error_message}"
    if f.kind == "repeatable":
        return FileState(f, "failed", a, 0, where)
    done = a.statements_done
    if f.statement_checksums[:done] != a.done_checksums[:done]:
        return FileState(
            f, "failed", a, -1,
            f"{where}; statements 1-{done} had been applied and have changed in the file "
            f"since: put them back as they were (fix statement {done + 1} or later only)",
        )
    return FileState(f, "failed", a, done, where)


def unreadable_bodies(f: SqlFile, live: dict[tuple[str, str], str]) -> list[str]:
    """The file's routines whose body the server hides from this account."""
    return [name for kind, name in f.created_objects
            if history.parse_fields(live.get((kind, name.lower()), "")).get("body")
            == history.UNREADABLE]


def changed_by_hand(f: SqlFile, a: history.Attempt, live: dict[tuple[str, str], str],
                    collation: str) -> list[str]:
    """How the objects a repeatable file created differ now from what `up`
    recorded when it created them (dropped, re-created with another body,
    sql_mode, time zone, definer or status), or created under another
    database collation than the one `up` gives the database. [] when they are
    as recorded."""
    recorded = history.parse_object_state(a.object_state)
    reasons = []
    for kind, name in f.created_objects:
        key = (kind, name.lower())
        if key in live and key not in recorded:
            reasons += object_drift(kind, name, live[key], None, collation)
            reasons.append(f"{kind} {name}: no record of how up created it")
            continue
        reasons += object_drift(kind, name, live.get(key), recorded.get(key), collation)
    return reasons


def blocking_problems(states: list[FileState]) -> list[str]:
    """Reasons `up` must refuse before running anything."""
    problems = []
    applied_versions = [int(s.file.version or 0) for s in states
                        if s.file.kind == "versioned" and s.state != "pending"]
    newest = max(applied_versions, default=0)
    for s in states:
        if s.file.kind != "versioned":
            continue
        if (s.state == "changed" and not s.repairs) or s.resume_at < 0:
            problems.append(f"{s.file.path}: {s.note}")
        elif s.state == "pending" and int(s.file.version or 0) < newest:
            problems.append(f"{s.file.path}: pending, but a later version is already applied; "
                            "give it a version above the newest applied one")
    return problems


def made_without_up(conn: Connection, schema: str, states: list[FileState]) -> list[str]:
    """A database with no deploy history that already holds tables the
    migrations create: `up` would stop at the first CREATE TABLE (error 1050).
    It was made without `up`, and `baseline` is how it is adopted."""
    if any(s.attempt is not None for s in states):
        return []
    creates = {name.lower() for s in states if s.file.kind == "versioned"
               for name in s.file.created_tables}
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                    (schema,))
        there = sorted(name for (name,) in cur.fetchall() if name.lower() in creates)
    if not there:
        return []
    shown = ", ".join(there[:5]) + (", …" if len(there) > 5 else "")
    return [f"database {schema} has no deploy history but already holds {len(there)} table(s) "
            f"the migrations create ({shown}): it was made without up (by hand, by piping the "
            "files into mysql, or restored without its history). If it matches the files, "
            "`ticketdb baseline` records them as applied and up goes on from there; "
            "`ticketdb verify` lists where it differs"]


def plan_text(states: list[FileState], database: str, history_upgrades: list[str],
              mariadb: bool = False) -> str:
    """What `up` would run, statement by statement, as a script the `mysql`
    client runs in `database`. It does what `up` does around the files too:
    the deploy lock, the session (sql_mode, time zone, names), the database's
    collation, and the history rows, so that `up` finds the result up to date
    and `verify` finds it clean."""
    work = [s for s in states if s.needs_work and s.resume_at >= 0]
    if not work:
        return "-- nothing to do: the database is up to date\n"
    take_lock, lock_taken, free_lock = deploy_lock.plan_sql()
    out = [
        "-- Pipe into the mysql client connected to this database. It stops at the",
        "-- first error: nothing after it runs, and `status` shows where it stopped.",
        _guard(f"DATABASE() = {history.literal(database)}",
               f"ticketdb: this plan is for database {database}; run it there"),
        *take_lock,
        _guard(lock_taken, "ticketdb: another deploy is running (see ticketdb_deploy_lock); "
               "try again when it has finished"),
        *_session_sql(),
        f"ALTER DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE {COLLATION};",
        history.CREATE_TABLE.strip() + ";",
        *(f"{u};" for u in history_upgrades),
        "",
    ]
    for s in work:
        out += _plan_file(s, mariadb)
    out.append(free_lock)
    return "\n".join(out) + "\n"


def _guard(condition: str, message: str) -> str:
    """A statement that stops the mysql client unless the condition holds
    (setting sql_mode to the message fails with error 1231 and shows it)."""
    return (f"SET SESSION sql_mode = IF({condition}, {history.literal(SQL_MODE)}, "
            f"{history.literal(message)});")


def _session_sql() -> list[str]:
    return [f"{st};" for st in SESSION_SETUP] + ["SET SESSION group_concat_max_len = 1048576;"]


def _plan_statement(text: str) -> str:
    return f"DELIMITER $$\n{text}$$\nDELIMITER ;" if ";" in text else f"{text};"


def _plan_file(s: FileState, mariadb: bool = False) -> list[str]:
    f = s.file
    lit = history.literal
    total = len(f.statements)
    table = history.TABLE
    out = [f"-- {f.path} ({s.state}{': ' + s.note if s.note else ''})"]
    if s.repairs:
        for o in s.repairs:
            out += _session_sql()
            out += [_plan_statement(text) for text in o.statements()]
        out += _session_sql()
        if s.attempt is not None:
            state = history.object_state_sql("DATABASE()", [(o.kind, o.name) for o in s.owned])
            out.append(f"UPDATE {history.TABLE} SET object_state = {state} "
                       f"WHERE history_id = {s.attempt.history_id};")
        return [*out, ""]
    columns = ("script, kind, version, description, checksum, state, statements_total, "
               f"statements_done, done_checksums, installed_by, started_at, "
               f"{history.WRITER_COLUMNS}")
    values = (f"{lit(f.path)}, {lit(f.kind)}, {lit(f.version)}, {lit(f.description[:200])}, "
              f"{lit(f.checksum)}")
    by = f"CONCAT(CURRENT_USER(), ' (plan)'), UTC_TIMESTAMP(3), {history.WRITER_SQL}"
    versioned = f.kind == "versioned"
    if versioned:
        done = " ".join(f.statement_checksums[: s.resume_at])
        out.append(f"INSERT INTO {table} ({columns}) VALUES ({values}, 'running', {total}, "
                   f"{s.resume_at}, {lit(done)}, {by});")
        out.append("SET @ticketdb_history_id = LAST_INSERT_ID();")
    locked = False
    statements = f.run_statements[s.resume_at:] if versioned else f.run_statements_on(mariadb)
    for st in statements:
        if st.number:
            out.append(f"-- statement {st.number} of {total} (line {st.line})")
        out.append(_plan_statement(st.text))
        lock = _LOCK_TABLES.match(plain(st.text))
        if lock:
            locked = not lock.group(1)
        if versioned and st.number and not locked:
            done = " ".join(f.statement_checksums[: st.number])
            out.append(f"UPDATE {table} SET statements_done = {st.number}, "
                       f"done_checksums = {lit(done)} WHERE history_id = @ticketdb_history_id;")
    out += _session_sql()
    if versioned:
        done = " ".join(f.statement_checksums)
        out.append(f"UPDATE {table} SET state = 'applied', statements_done = {total}, "
                   f"done_checksums = {lit(done)}, finished_at = UTC_TIMESTAMP(3), "
                   "execution_ms = TIMESTAMPDIFF(MICROSECOND, started_at, UTC_TIMESTAMP(3)) "
                   "DIV 1000 WHERE history_id = @ticketdb_history_id;")
    else:
        state = history.object_state_sql("DATABASE()", f.created_objects)
        out.append(f"INSERT INTO {table} ({columns}, finished_at, execution_ms, applied_sql, "
                   f"object_state) VALUES ({values}, 'applied', {total}, {total}, '', {by}, "
                   f"UTC_TIMESTAMP(3), 0, {lit(f.text)}, {state});")
    out.append("")
    return out


_statements_run = 0


def _fault_point() -> None:
    """Fault injection for tests/test_reliability.py, called right after each
    statement of a deploy runs and before the history records it.
    TICKETDB_FAULT=kill:K makes this process SIGKILL itself after statement K;
    TICKETDB_FAULT=pause:K:S sleeps S seconds there (time to stop the server)."""
    global _statements_run
    _statements_run += 1
    fault = os.environ.get("TICKETDB_FAULT", "").split(":")
    if len(fault) < 2 or int(fault[1]) != _statements_run:
        return
    if fault[0] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault[0] == "pause":
        print(f"fault injection: pausing after statement {fault[1]}", file=sys.stderr,
              flush=True)
        time.sleep(float(fault[2]))


def _error(f: SqlFile, number: int, line: int, exc: pymysql.MySQLError) -> str:
    code, message = (*exc.args, "")[:2] if exc.args else (0, str(exc))
    where = f"statement {number} (line {line})" if number else "the deployer's LOCK TABLES"
    if number:  # the server counts lines from the statement's start: say the file's line
        message = _SERVER_LINE.sub(lambda m: f"at line {line + int(m.group(1)) - 1} of "
                                             f"{f.path}", str(message))
    return f"{f.path} {where}: error {code}: {message}"


_SERVER_LINE = re.compile(r"at line (\d+)$")


def run_sql(cur: Cursor, text: str) -> None:
    """Run one statement of a file, as the mysql client sends it: a text that
    holds several (`CREATE VIEW …; DROP …` inside one DELIMITER block) is split
    by the server (the deployer's session allows multi-statements), and an
    error in any of them is raised here. Sent as the file's bytes (wire)."""
    cur.execute(wire(text))
    while cur.nextset():
        pass


_LOCK_TABLES = re.compile(r"^(UN)?LOCK\s+TABLES?\b", re.IGNORECASE)


def apply_versioned(conn: Connection, schema: str, s: FileState, echo: Echo,
                    options: UpOptions, galera: bool = False) -> None:
    """Statement by statement, each with its progress row in one transaction.
    Between a file's own LOCK TABLES and UNLOCK TABLES (dumps do that around
    their INSERTs) the history table is not locked and a transaction would
    release the lock: those statements run as they come and are recorded
    together at UNLOCK TABLES, so an interrupted attempt resumes at the LOCK."""
    f = s.file
    done = list(f.statement_checksums[: s.resume_at])
    interrupted = s.attempt is not None and s.attempt.state == "interrupted"
    hid = history.start(conn, schema, f, done)
    started = time.monotonic()
    locked = False
    with conn.cursor() as cur:
        for idx in range(s.resume_at, len(f.statements)):
            st = f.statements[idx]
            lock = _LOCK_TABLES.match(plain(st.text))
            if lock and galera:
                # node-local on Galera (refuse_locking_migration checked the
                # tables are empty): not run, recorded as done
                lock = None
                done = list(f.statement_checksums[: idx + 1])
                with conn.cursor() as c2:
                    c2.execute(history.progress_sql(schema), (len(done), " ".join(done), hid))
                echo(f"  statement {st.number}: {plain(st.text)[:40]}… not run on a Galera node "
                     "(its tables are empty)")
                continue
            try:
                if not locked:
                    conn.begin()
                locks.run_with_retries(conn, cur, st.text, run_sql, echo, options.lock_wait,
                                       options.retries)
                _fault_point()
            except pymysql.MySQLError as exc:
                if lost(exc):
                    raise DeployError(_lost_message(f, st, exc)) from None
                conn.rollback()
                if interrupted and idx == s.resume_at and already_applied(st, exc):
                    echo(f"  statement {st.number}: already applied before the interruption "
                         f"({exc.args[1]})")
                else:
                    message = _error(f, st.number, st.line, exc)
                    cur.execute("UNLOCK TABLES")
                    reset_session(conn)
                    history.finish(conn, schema, hid, "failed", _ms(started), message)
                    raise DeployError(message) from None
            if lock:
                locked = not lock.group(1)
            if locked:
                continue  # recorded at UNLOCK TABLES
            done = list(f.statement_checksums[: idx + 1])
            cur.execute(history.progress_sql(schema), (len(done), " ".join(done), hid))
            conn.commit()
    if locked:
        with conn.cursor() as cur:
            cur.execute("UNLOCK TABLES")
            done = list(f.statement_checksums)
            cur.execute(history.progress_sql(schema), (len(done), " ".join(done), hid))
    reset_session(conn)
    history.finish(conn, schema, hid, "applied", _ms(started))
    if s.owned:
        history.record_object_state(conn, schema, hid, [(o.kind, o.name) for o in s.owned])


def recreate_migration_objects(conn: Connection, schema: str, s: FileState, echo: Echo,
                               options: UpOptions) -> None:
    """Put back what an applied migration made and someone dropped or changed
    (owned.py), from the migration's own CREATE statement, under the
    deployer's session; then record how they stand now on its history row."""
    with conn.cursor() as cur:
        for o in s.repairs:
            reset_session(conn)
            for text in o.statements():
                try:
                    locks.run_with_retries(conn, cur, text, run_sql, echo, options.lock_wait,
                                           options.retries)
                except pymysql.MySQLError as exc:
                    if lost(exc):
                        raise DeployError(_lost_message(s.file, o.create, exc)) from None
                    raise DeployError(
                        f"{_error(s.file, o.create.number, o.create.line, exc)} (re-creating "
                        f"{o.kind} {o.name}, which the database had lost)") from None
            echo(f"  re-created {o.kind} {o.name} from {s.file.path} statement "
                 f"{o.create.number}")
    reset_session(conn)
    if s.attempt is not None:
        history.record_object_state(conn, schema, s.attempt.history_id,
                                    [(o.kind, o.name) for o in s.owned])


def definer_changes(conn: Connection, s: FileState, live: dict[tuple[str, str], str]
                    ) -> list[str]:
    """Objects of the file that `up` is about to re-create under another
    definer than they have now: the deploying account becomes their definer."""
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        me = cur.fetchone()[0]
    lines = []
    for kind, name in s.file.created_objects:
        now = history.parse_fields(live.get((kind, name.lower()), ""))
        if now.get("definer") and now["definer"] != me:
            lines.append(f"note: {kind} {name}: its definer changes from {now['definer']} to "
                         f"{me} (up creates objects as the account it deploys with)")
    return lines


def apply_repeatable(conn: Connection, schema: str, s: FileState, echo: Echo,
                     options: UpOptions, mariadb: bool = False) -> None:
    """Run the whole file. On failure, put the previous version back (inside
    the file's own LOCK TABLES, if it has one) so the object never goes missing."""
    f = s.file
    previous = history.last_applied_sql(conn, schema, f.path)
    hid = history.start(conn, schema, f, [])
    started = time.monotonic()
    with conn.cursor() as cur:
        for st in f.run_statements_on(mariadb):
            try:
                locks.run_with_retries(conn, cur, st.text, run_sql, echo, options.lock_wait,
                                       options.retries)
                _fault_point()
            except pymysql.MySQLError as exc:
                if lost(exc):
                    raise DeployError(_lost_message(f, st, exc)) from None
                message = _error(f, st.number, st.line, exc)
                reset_session(conn)
                restored = _restore(conn, f, previous, mariadb)
                cur.execute("UNLOCK TABLES")
                reset_session(conn)
                if restored:
                    message += " (the previously applied version was put back)"
                history.finish(conn, schema, hid, "failed", _ms(started), message)
                raise DeployError(message) from None
    reset_session(conn)
    history.finish(conn, schema, hid, "applied", _ms(started), applied_sql=f.text)
    history.record_object_state(conn, schema, hid, f.created_objects)


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
            for st in old.run_statements_on(mariadb):
                if not _LOCK_TABLES.match(st.text):  # the swap's lock is held already
                    run_sql(cur, st.text)
        except pymysql.MySQLError:
            return False
    return True


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def acquire_lock(conn: Connection, target: Target, timeout: int, echo: Echo | None = None,
                 command: str = "up") -> deploy_lock.Lease:
    """The deploy lock (ticketdb/deploy_lock.py): a lease row, cluster-wide."""
    try:
        return deploy_lock.acquire(conn, target, target.database, timeout, echo, command)
    except deploy_lock.LockError as exc:
        raise DeployError(str(exc)) from None


def locked_tables(f: SqlFile) -> list[str]:
    """The tables a migration's own LOCK TABLES names (aliases left out)."""
    names: list[str] = []
    for st in f.statements:
        text = plain(st.text)
        if _LOCK_TABLES.match(text) and not text.upper().startswith("UN"):
            body = re.sub(r"^LOCK\s+TABLES?\s+", "", text, flags=re.IGNORECASE)
            body = re.sub(r"\s*--.*$", "", body)
            for part in body.rstrip(";").split(","):
                name = part.strip().split()[0].strip("`")
                if name and name not in names:
                    names.append(name)
    return names


def refuse_locking_migration(conn: Connection, f: SqlFile) -> None:
    """On a Galera node, LOCK TABLES holds on that node only (and DDL under it
    froze the cluster): a migration that locks tables to rewrite their rows
    (V025) runs without its lock only while those tables are empty (a new
    install); with rows, up refuses before the file runs."""
    tables = locked_tables(f)
    with conn.cursor() as cur:
        # a table the migration itself creates before its lock (V030's scratch
        # tables) does not exist yet: it holds none of the rows that matter
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                    "DATABASE()")
        there = {name.lower() for (name,) in cur.fetchall()}
        filled = [t for t in tables if t.lower() in there
                  and cur.execute(f"SELECT 1 FROM `{t}` LIMIT 1")]
    if filled:
        raise DeployError(
            f"{f.path}: refusing on a Galera node: it rewrites rows of {', '.join(filled)} under "
            "LOCK TABLES, which holds on one node only. Apply it with one node running: stop "
            "the others, `up` on that node (bootstrapped), then start the others (they rejoin "
            "by SST); see docs/cluster.md")


def refuse_unfit_server(conn: Connection) -> None:
    """Before anything is created: a read-only server, a version below the floor."""
    problems = [preflight.read_only_refusal(conn),
                preflight.version_refusal(preflight.server_version(conn))]
    problems = [p for p in problems if p]
    if problems:
        raise DeployError("refusing to deploy: " + "; ".join(problems))


def refuse_unfit_galera_node(conn: Connection, database: str) -> None:
    """What Galera needs, one line each (ticketdb/preflight.py)."""
    problems = preflight.galera_problems(conn, database)
    if problems:
        raise DeployError("refusing to deploy on this Galera node, nothing was changed:\n  "
                          + "\n  ".join(problems))


def refuse_what_cannot_be_created(conn: Connection, work: list[FileState]) -> None:
    """Before the first file: can this account create the triggers, functions,
    procedures and events the work holds (migrations' own included)? Else `up`
    would stop halfway through."""
    kinds = {kind for s in work for kind, _ in s.file.created_objects if kind in _KINDS}
    problem = preflight.creation_refusal(conn, kinds)
    if problem:
        raise DeployError(f"refusing to deploy, nothing was changed: {problem}")


_KINDS = {"trigger", "function", "procedure", "event"}  # views need no probe


def align_default_collation(conn: Connection, database: str, echo: Echo) -> None:
    """Give the database the project's default collation. A database created
    before `up` has the server's (MySQL 8: utf8mb4_0900_ai_ci); routines and
    triggers take it for anything that does not name its own collation."""
    with conn.cursor() as cur:
        cur.execute("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                    "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        charset, collation = cur.fetchone()
        if (charset, collation) == ("utf8mb4", COLLATION):
            return
        cur.execute(f"ALTER DATABASE `{database}` "
                    f"DEFAULT CHARACTER SET utf8mb4 COLLATE {COLLATION}")
    echo(f"note: database {database}: default collation {collation} changed to {COLLATION} "
         "(existing tables keep theirs)")


def up(target: Target, echo: Echo, options: UpOptions | None = None, root: Path = ROOT,
       after: Callable[[Connection], None] | None = None) -> int:
    """Apply everything pending. Returns the number of files applied.
    `after` runs on the deployer's connection while it still holds the
    deploy lock (the roles are granted there)."""
    options = options or UpOptions()
    scope.checked_files(root)
    conn = connect(target, database=None, multi_statements=True)
    progress: list[FileState | None] = []  # each file as it starts; None: all applied
    lease = None
    try:
        refuse_unfit_server(conn)
        mariadb = preflight.server_version(conn).mariadb
        on_galera = preflight.galera_node(conn)
        refuse_unfit_galera_node(conn, target.database)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{target.database}` "
                        f"DEFAULT CHARACTER SET utf8mb4 COLLATE {COLLATION}")
            cur.execute(f"USE `{target.database}`")
        lease = acquire_lock(conn, target, options.lock_timeout, echo)
        locks.bound_lock_waits(conn, options.lock_wait)
        history.ensure_table(conn, target.database)
        if history.mark_interrupted(conn, target.database):
            echo("note: an earlier deploy was interrupted; resuming where it stopped")
        events = [name for f in all_files(root) for kind, name in f.created_objects
                  if kind == "event"]
        cluster_warnings = []
        if on_galera:  # before the states: a replicated event is no drift to re-create
            cluster_warnings = galera.enable_events_on_every_node(conn, target, events,
                                                                       echo)
        states = file_states(conn, target.database, root)
        problems = blocking_problems(states)
        problems += missing_problems(states, options.allow_missing, echo)
        problems += made_without_up(conn, target.database, states)
        work, held_back = select_work(states, options.target)
        if problems:
            raise DeployError("refusing to deploy:\n  " + "\n  ".join(problems))
        refuse_what_cannot_be_created(conn, work)
        if options.backup_dir is not None:
            if work:
                try:
                    echo(f"backup: {backup.dump(target, conn, options.backup_dir, echo)}")
                except backup.BackupError as exc:
                    raise DeployError(str(exc)) from None
            else:
                echo("backup: not needed, nothing to change")
        align_default_collation(conn, target.database, echo)
        if not work:
            echo("nothing to do: the database is up to date")
        live = history.live_objects(conn, target.database) if work else {}
        for s in work:
            progress.append(s)
            started = time.monotonic()
            count = len(s.file.statements) - s.resume_at
            if s.state == "changed" and s.attempt and s.attempt.checksum == s.file.checksum:
                echo(f"re-applying {s.file.path}: {s.note.removesuffix(': up re-applies it')}")
            if s.repairs:
                recreate_migration_objects(conn, target.database, s, echo, options)
                echo(f"applied {s.file.path} ({len(s.repairs)} object(s) re-created, "
                     f"{_ms(started)} ms)")
                continue
            if s.file.kind == "versioned":
                if on_galera:
                    refuse_locking_migration(conn, s.file)
                apply_versioned(conn, target.database, s, echo, options, on_galera)
            else:
                for line in definer_changes(conn, s, live):
                    echo(line)
                apply_repeatable(conn, target.database, s, echo, options, mariadb)
            how = f"resumed at statement {s.resume_at + 1}, " if s.resume_at else ""
            echo(f"applied {s.file.path} ({how}{count} statement(s), {_ms(started)} ms)")
        progress.append(None)
        if work:
            echo(f"done: {len(work)} file(s) applied")
        if held_back:
            echo(f"stopped at {options.target}: {held_back} file(s) left pending "
                 "(repeatable objects wait until every migration is applied)")
        if after is not None:
            after(conn)
        if on_galera and work:  # what this up created replicated SLAVESIDE_DISABLED
            cluster_warnings = galera.enable_events_on_every_node(conn, target, events,
                                                                       echo)
        for warning in preflight.settings_warnings(conn, target.database) + cluster_warnings:
            echo(f"warning: {warning}")
        return len(work)
    except KeyboardInterrupt:
        raise DeployError(interrupted(progress), exit_code=130) from None
    finally:
        if lease is not None:
            lease.release()
        conn.close()


def interrupted(progress: list[FileState | None]) -> str:
    """What a Ctrl-C left, from the files `up` had started (progress)."""
    if not progress:
        return "up was interrupted before it applied anything; no file was changed"
    done = len(progress) - 1
    current = progress[-1]
    if current is None:
        return (f"up was interrupted after applying all {done} file(s) (while granting roles "
                "or checking settings); the next up finishes that")
    f = current.file
    if f.kind == "versioned":
        where = (f"{f.path} was being applied: its statements are recorded in the history as "
                 "each one commits, and the statement that was running may or may not have "
                 "finished on the server; the next up marks the attempt interrupted and resumes "
                 "at the first statement not recorded (accepting it if it had finished)")
    else:
        objects = ", ".join(f"{kind} {name}" for kind, name in f.created_objects) or "its object"
        where = (f"{f.path} was being applied: {objects} may be missing or still the old version "
                 "until the next up, which applies the file again whole")
    return (f"up was interrupted: {done} file(s) were applied before it; {where}. "
            "`ticketdb status` shows where it stopped; run `ticketdb up` again: it resumes")


def missing_problems(states: list[FileState], allow: bool, echo: Echo) -> list[str]:
    """Files the history knows that are gone: a refusal, or (allowed) a warning."""
    missing = [f"{s.file.path}: {s.note}" for s in states if s.state == "missing"]
    if allow:
        for line in missing:
            echo(f"warning: missing file allowed (--allow-missing): {line}")
        return []
    if missing:
        missing.append("up --allow-missing goes on without them")
    return missing


_TARGET = re.compile(r"^V?(\d+)$", re.IGNORECASE)


def select_work(states: list[FileState], target: str | None) -> tuple[list[FileState], int]:
    """What `up` runs, and how many pending files `--target` holds back.
    With a target, versioned migrations run up to it; repeatable objects only
    when no migration is left pending after it (a trigger may need a table a
    later migration creates)."""
    work = [s for s in states if s.needs_work]
    if target is None:
        return work, 0
    m = _TARGET.match(target.strip())
    versions = {int(s.file.version or 0) for s in states if s.file.kind == "versioned"}
    if not m or int(m.group(1)) not in versions:
        raise DeployError(f"--target {target}: no migration has that version "
                          f"(V{min(versions, default=1):03d} to V{max(versions, default=1):03d})")
    limit = int(m.group(1))
    applied = [int(s.file.version or 0) for s in states
               if s.file.kind == "versioned" and s.state != "pending"]
    if applied and max(applied) > limit:
        raise DeployError(f"--target {target}: V{max(applied):03d} is already applied, and up "
                          "never undoes a migration")
    kept = [s for s in work if s.file.kind == "versioned" and int(s.file.version or 0) <= limit]
    later = [s for s in work if s.file.kind == "versioned" and int(s.file.version or 0) > limit]
    if not later:
        kept += [s for s in work if s.file.kind == "repeatable"]
    return kept, len(work) - len(kept)


def read_plan(target: Target, root: Path = ROOT) -> tuple[list[FileState], str]:
    """The states, and the plan's script (read only)."""
    conn = open_existing(target)
    try:
        states = file_states(conn, target.database, root)
        upgrades = history.upgrades_needed(conn, target.database) if conn else []
        probe = conn or connect(target, database=None)
        mariadb = preflight.server_version(probe).mariadb
        if probe is not conn:
            probe.close()
    finally:
        if conn:
            conn.close()
    return states, plan_text(states, target.database, upgrades, mariadb)


def read_states(target: Target, root: Path = ROOT) -> list[FileState]:
    """The state of every file, read without writing anything (status). A file
    that `up` refuses (it cannot be split, or reaches outside its database) is
    listed as "refused", with the reason, among the others."""
    files = versioned_files(root) + repeatable_files(root)
    refused = scope.refusals(files)
    conn = open_existing(target)
    try:
        states = file_states(conn, target.database, root,
                             [f for f in files if f.path not in refused])
    finally:
        if conn:
            conn.close()
    # a refused file the history knows comes back from file_states as missing
    known = {s.file.path: s for s in states if s.state != "missing"}
    history_of = {s.file.path: s.attempt for s in states if s.state == "missing"}
    listed = [known.get(f.path)
              or FileState(f, "refused", history_of.get(f.path), 0, refused[f.path])
              for f in files]
    return listed + [s for s in states if s.state == "missing" and s.file.path not in refused]


def open_existing(target: Target) -> Connection | None:
    """A connection to the target database, or None when it does not exist yet."""
    conn = connect(target, database=None)
    if not database_exists(conn, target.database):
        conn.close()
        return None
    with conn.cursor() as cur:
        cur.execute(f"USE `{target.database}`")
    return conn
