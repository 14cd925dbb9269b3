"""`deploy.py verify`: does the live database match the files?

The expected state is not parsed out of the SQL: the files are applied to a
scratch database on the same server (same version, same sql_mode), and the
two are compared through information_schema. Anything changed by hand shows:
a column, an index, a constraint, a trigger body, a routine, an event, a view,
and the sql_mode each object was created with.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from pathlib import Path

import pymysql
from pymysql.connections import Connection

from ticketdb import deploy_lock, history, preflight, scope, state, what_runs
from ticketdb.connection import COLLATION, Target, connect, open_existing, reset_session
from ticketdb.errors import TicketdbError
from ticketdb.live_executor import run_sql
from ticketdb.sources import ROOT, SqlFile

Snapshot = dict[str, dict[tuple, tuple]]

# category -> (query with %(schema)s, number of leading key columns)
_QUERIES: dict[str, tuple[str, int]] = {
    # Routines, triggers and events take the database's default collation for
    # anything that does not name its own; the project's is utf8mb4_unicode_ci.
    "database": (
        "SELECT 'default', DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(schema)s", 1),
    "table": (
        "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION, TABLE_TYPE FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %(schema)s AND TABLE_TYPE = 'BASE TABLE'", 1),
    "column": (
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
        "COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(schema)s", 2),
    "index": (
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE, "
        "GROUP_CONCAT(COLUMN_NAME, COALESCE(CONCAT('(', SUB_PART, ')'), '') "
        "ORDER BY SEQ_IN_INDEX SEPARATOR ', ') "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %(schema)s "
        "GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE", 2),
    "check constraint": (
        "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE "
        "FROM information_schema.TABLE_CONSTRAINTS AS tc "
        "JOIN information_schema.CHECK_CONSTRAINTS AS cc "
        "ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA "
        "AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "
        "WHERE tc.CONSTRAINT_SCHEMA = %(schema)s AND tc.CONSTRAINT_TYPE = 'CHECK'", 2),
    "foreign key": (
        "SELECT rc.TABLE_NAME, rc.CONSTRAINT_NAME, rc.REFERENCED_TABLE_NAME, rc.UPDATE_RULE, "
        "rc.DELETE_RULE, GROUP_CONCAT(k.COLUMN_NAME, '->', k.REFERENCED_COLUMN_NAME "
        "ORDER BY k.ORDINAL_POSITION SEPARATOR ', ') "
        "FROM information_schema.REFERENTIAL_CONSTRAINTS AS rc "
        "JOIN information_schema.KEY_COLUMN_USAGE AS k "
        "ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME "
        "AND k.TABLE_NAME = rc.TABLE_NAME "
        "WHERE rc.CONSTRAINT_SCHEMA = %(schema)s "
        "GROUP BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, rc.REFERENCED_TABLE_NAME, rc.UPDATE_RULE, "
        "rc.DELETE_RULE", 2),
    "trigger": (
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, "
        "ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DATABASE_COLLATION "
        "FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = %(schema)s", 1),
    "routine": (
        "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, SECURITY_TYPE, SQL_DATA_ACCESS, "
        "IS_DETERMINISTIC, SQL_MODE, ROUTINE_COMMENT, DATABASE_COLLATION "
        "FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %(schema)s", 1),
    "routine parameter": (
        "SELECT SPECIFIC_NAME, COALESCE(PARAMETER_NAME, '(returns)'), ORDINAL_POSITION, "
        "PARAMETER_MODE, DTD_IDENTIFIER, COLLATION_NAME FROM information_schema.PARAMETERS "
        "WHERE SPECIFIC_SCHEMA = %(schema)s", 2),
    "event": (
        "SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, STARTS, ENDS, "
        "STATUS, ON_COMPLETION, SQL_MODE, TIME_ZONE, EVENT_COMMENT, DATABASE_COLLATION "
        "FROM information_schema.EVENTS "
        "WHERE EVENT_SCHEMA = %(schema)s", 1),
    "view": (
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE "
        "FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %(schema)s", 1),
}

_FIELDS = {
    "database": ("character set", "collation"),
    "table": ("engine", "collation", "type"),
    "column": ("position", "type", "nullable", "default", "extra", "generated as", "collation"),
    "index": ("non_unique", "type", "columns"),
    "check constraint": ("clause",),
    "foreign key": ("references", "on update", "on delete", "columns"),
    "trigger": ("table", "timing", "event", "order", "body", "sql_mode", "database collation"),
    "routine": ("type", "body", "security", "data access", "deterministic", "sql_mode",
                "comment", "database collation"),
    "routine parameter": ("position", "mode", "type", "collation"),
    "event": ("body", "every", "unit", "starts", "ends", "status", "on completion", "sql_mode",
              "time_zone", "comment", "database collation"),
    "view": ("definition", "check option", "security"),
}


_SHOW = 64  # longest value printed in a difference


def snapshot(conn: Connection, schema: str) -> Snapshot:
    """Everything verify compares, keyed by category and object name."""
    result: Snapshot = {}
    with conn.cursor() as cur:
        for category, (query, keys) in _QUERIES.items():
            cur.execute(query, {"schema": schema})
            objects = {}
            for row in cur.fetchall():
                key = tuple(row[:keys])
                if key[0] in (history.TABLE, deploy_lock.TABLE):
                    continue
                values = tuple(
                    str(v).replace(f"`{schema}`.", "") if v is not None else None
                    for v in row[keys:]
                )
                objects[key] = values
            result[category] = objects
    return result


def compare(expected: Snapshot, live: Snapshot) -> list[str]:
    differences = []
    for category, want in expected.items():
        have = live.get(category, {})
        for key in sorted(set(want) | set(have), key=str):
            name = ".".join(str(k) for k in key)
            if key not in have:
                differences.append(f"{category} {name}: in the files, missing from the database")
            elif key not in want:
                differences.append(f"{category} {name}: in the database, not in the files")
            elif want[key] != have[key]:
                fields = [(f, a, b) for f, a, b in
                          zip(_FIELDS[category], want[key], have[key], strict=True) if a != b]
                names = ", ".join(f for f, _, _ in fields)
                shown = "; ".join(f"{f}: files {_value(a, b)}, database {_value(b, a)}"
                                  for f, a, b in fields)
                differences.append(f"{category} {name}: {names} differ from the files"
                                   f" ({shown})")
    return differences


# The monthly archives of the audit trail (sp_archive_ticket_logs): made at
# run time, each with CREATE TABLE ... LIKE ticket_logs.
ARCHIVE = re.compile(r"^ticket_logs_[0-9]{6}$")
# What an archive shares with ticket_logs: LIKE copies no foreign keys, and
# MySQL renames the CHECK constraints it copies.
_ARCHIVE_SHAPE = ("table", "column", "index")


def archive_tables(live: Snapshot) -> list[str]:
    return sorted(k[0] for k in live["table"] if ARCHIVE.match(str(k[0])))


def with_archives(expected: Snapshot, live: Snapshot, archives: list[str]
                  ) -> tuple[Snapshot, Snapshot]:
    """(expected, live) to compare when the database has archives: expected
    gains, for each, the shape it must have (ticket_logs' table options,
    columns and indexes under its name), and live loses what an archive has
    of no interest (the CHECK constraints LIKE copied). So an archive is no
    drift, and an archive that differs from ticket_logs (a column missing, an
    index dropped) is."""
    if not archives:
        return expected, live
    want = {category: dict(objects) for category, objects in expected.items()}
    for category in _ARCHIVE_SHAPE:
        logs = {k: v for k, v in expected[category].items() if k[0] == "ticket_logs"}
        for name in archives:
            want[category].update({(name, *k[1:]): v for k, v in logs.items()})
    have = {category: {k: v for k, v in objects.items()
                       if category in _ARCHIVE_SHAPE or k[0] not in archives}
            for category, objects in live.items()}
    return want, have


def catalogue_differences(conn: Connection, schema: str, live: Snapshot,
                          archives: list[str]) -> list[str]:
    """Archives and ticket_log_archives, the list the readers follow, must agree."""
    if ("ticket_log_archives",) not in live["table"]:
        return []
    with conn.cursor() as cur:
        cur.execute(f"SELECT table_name FROM `{schema}`.ticket_log_archives")
        listed = {r[0] for r in cur.fetchall()}
    return ([f"archive {t}: in the database, not listed in ticket_log_archives (sp_ticket_trace "
             "and sp_verify_audit_trail do not read it)" for t in archives if t not in listed]
            + [f"archive {t}: listed in ticket_log_archives, missing from the database"
               for t in sorted(listed - set(archives))])


def _value(value: object, other: object) -> str:
    """A value as a difference shows it: short ones whole, long ones (a body)
    as the stretch around the first character where the two differ."""
    text, against = str(value), str(other)
    if len(text) <= _SHOW and len(against) <= _SHOW:
        return text
    at = next((i for i, (x, y) in enumerate(zip(text, against, strict=False)) if x != y),
              min(len(text), len(against)))
    start = max(0, at - 24)
    piece = " ".join(text[start:at + 40].split())
    return f"'{'…' if start else ''}{piece}{'…' if at + 40 < len(text) else ''}' (at {at})"


def accepted_differences(path: Path) -> list[str]:
    """The names in an accept file, one per line (`index customers.ix_by_hand`),
    `#` starting a comment: differences a DBA made on purpose."""
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def split_accepted(differences: list[str], accepted: list[str]
                   ) -> tuple[list[str], list[str], list[str]]:
    """(differences still reported, differences accepted, accept entries that
    matched nothing: stale)."""
    kept, taken, used = [], [], set()
    for d in differences:
        match = next((a for a in accepted if d.startswith(f"{a}:")), None)
        if match is None:
            kept.append(d)
        else:
            taken.append(d)
            used.add(match)
    return kept, taken, [a for a in accepted if a not in used]


def build_reference(conn: Connection, schema: str, files: list[SqlFile]) -> None:
    """Apply the files (checked by scope.checked_files: none reaches outside
    the scratch database) to an empty scratch database, exactly as `up` runs
    them (the deployer's added statements, a fresh session for each file)."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{schema}` DEFAULT CHARACTER SET utf8mb4 COLLATE {COLLATION}")
        cur.execute(f"USE `{schema}`")
        for f in files:
            for st in what_runs.statements(f):
                run_sql(cur, st.text)
            reset_session(conn)


def history_problems(conn: Connection, schema: str, root: Path) -> Iterable[str]:
    for s in state.file_states(conn, schema, root):
        if s.state != "applied":
            yield f"file {s.file.path}: {s.state}{' (' + s.note + ')' if s.note else ''}"


def drop_abandoned_scratch(conn: Connection, database: str) -> list[str]:
    """Scratch databases of verify runs that were killed: each live run holds
    a lock named after its scratch database, so a free lock means nobody is
    building it any more."""
    prefix = database[:40].replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    dropped = []
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME LIKE %s", (prefix + "\\_verify\\_%",))
        for (name,) in cur.fetchall():
            if not _SCRATCH.match(name[len(database[:40]):]):
                continue
            cur.execute("SELECT IS_FREE_LOCK(%s)", (name,))
            if cur.fetchone()[0] == 1:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                dropped.append(name)
    return dropped


_SCRATCH = re.compile(r"^_verify_[0-9a-f]{8}$")


def verify(target: Target, root: Path = ROOT) -> list[str]:
    """Differences between the live database and the files; [] when none."""
    files = scope.checked_files(root)  # before anything runs
    live_conn = open_existing(target)
    if live_conn is None:
        raise TicketdbError(f"database {target.database} does not exist (run up)", exit_code=2)
    try:
        differences = schema_differences(target, live_conn, files)
        differences += list(history_problems(live_conn, target.database, root))
    finally:
        live_conn.close()
    return differences


def schema_differences(target: Target, live_conn: Connection, files: list[SqlFile]) -> list[str]:
    """The live database against a scratch database built from the files."""
    refuse_replica(live_conn)
    scratch = f"{target.database[:40]}_verify_{secrets.token_hex(4)}"
    ref_conn = connect(target, database=None, multi_statements=True)
    try:
        if preflight.galera_node(ref_conn):
            keep_on_this_node(ref_conn)
        elif not unreplicated(ref_conn) and is_replica(ref_conn):
            raise ReplicaError(
                "the server replicates from another and this account may not keep the "
                "scratch database out of its binary log (SET sql_log_bin needs SUPER or "
                "SYSTEM_VARIABLES_ADMIN): verify would create errant transactions there; "
                "run verify against the primary")
        with ref_conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0)", (scratch,))  # "this scratch is in use"
        drop_abandoned_scratch(ref_conn, target.database)
        build_reference(ref_conn, scratch, files)
        live = snapshot(live_conn, target.database)
        archives = archive_tables(live)
        expected, live = with_archives(snapshot(ref_conn, scratch), live, archives)
        hidden = unreadable_bodies(expected, live)
        differences = compare(expected, live) + catalogue_differences(
            live_conn, target.database, live, archives)
        if hidden:
            problem = unreadable_problem(live_conn, hidden)
            if not differences:
                raise UncheckedError(problem)
            differences.append(problem)
        return differences
    finally:
        with ref_conn.cursor() as cur:
            cur.execute("UNLOCK TABLES")
            cur.execute(f"DROP DATABASE IF EXISTS `{scratch}`")
        ref_conn.close()


class UncheckedError(TicketdbError):
    """Something verify must compare is not readable by this account (exit 2)."""

    exit_code = 2


_BODY = _FIELDS["routine"].index("body")


def unreadable_bodies(expected: Snapshot, live: Snapshot) -> list[str]:
    """Routines whose body the server hides from this account (it did not
    define them and may not read them): their body is left out of the
    comparison on both sides (never reported as 'None'); returns their names."""
    hidden = []
    for key, values in live["routine"].items():
        if values[_BODY] is None and key in expected["routine"]:
            want = list(expected["routine"][key])
            want[_BODY] = None
            expected["routine"][key] = tuple(want)
            hidden.append(str(key[0]))
    return sorted(hidden)


def unreadable_problem(conn: Connection, hidden: list[str]) -> str:
    """Which privilege reads routine bodies one did not define, on this server."""
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), VERSION()")
        me, version = cur.fetchone()
        cur.execute("SELECT DISTINCT DEFINER FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_DEFINITION IS NULL")
        definers = ", ".join(sorted(r[0] for r in cur.fetchall()))
    user, _, host = me.partition("@")
    account = f"'{user}'@'{host}'"
    grant = (f"GRANT SELECT ON mysql.proc TO {account} (MariaDB up to 11.2; from 11.3: "
             f"GRANT SHOW CREATE ROUTINE ON *.* TO {account})"
             if "mariadb" in version.lower() else f"GRANT SHOW_ROUTINE ON *.* TO {account}")
    shown = ", ".join(hidden[:5]) + (f" and {len(hidden) - 5} more" if len(hidden) > 5 else "")
    return (f"routine bodies not compared: {len(hidden)} routine(s) ({shown}) were defined by "
            f"{definers}, and {me} may not read their bodies; {grant}, or verify as their "
            "definer")


class ReplicaError(TicketdbError):
    """verify would write to a replica (exit 2)."""

    exit_code = 2


def keep_on_this_node(conn: Connection) -> None:
    """On a Galera node every node is writable (the read-only refusal never
    applies) and sql_log_bin = 0 does not stop a write set: the scratch
    database is built with wsrep_on = OFF for this session, so it exists on
    this node only and its DROP stays here too. Without the privilege for
    that, verify refuses rather than make every node build it (exit 2)."""
    with conn.cursor() as cur:
        try:
            cur.execute("SET SESSION wsrep_on = OFF")
            cur.execute("SET SESSION sql_log_bin = 0")
        except pymysql.MySQLError as exc:
            raise ReplicaError(
                f"this is a Galera node and this account may not keep verify's scratch "
                f"database on it (SET SESSION wsrep_on = OFF: error {exc.args[0]}: "
                f"{exc.args[1]}); it needs SUPER. Without it the scratch would be built "
                "and dropped on every node") from None


def refuse_replica(conn: Connection) -> None:
    """verify writes its scratch database on the server it checks. On a
    replica that write would be an errant transaction (an extra GTID the
    primary never had), so a read-only server is refused outright."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.read_only")
        if int(cur.fetchone()[0]):
            raise ReplicaError(
                "the server is read-only (a replica?): verify builds a scratch database "
                "from the files and will not write there; run verify against the primary")


def unreplicated(conn: Connection) -> bool:
    """Keep the scratch database out of the binary log where this account
    may (SUPER, or SYSTEM_VARIABLES_ADMIN on MySQL): replicas never see it.
    Without the privilege, a primary's scratch writes replicate as any do."""
    with conn.cursor() as cur:
        try:
            cur.execute("SET SESSION sql_log_bin = 0")
        except pymysql.MySQLError:
            return False
    return True


def is_replica(conn: Connection) -> bool:
    """Does this server replicate from another? An account that may not ask
    (REPLICATION CLIENT) gets False: the read-only check is what stops it."""
    with conn.cursor() as cur:
        for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
            try:
                cur.execute(statement)
                return cur.fetchone() is not None
            except pymysql.MySQLError:
                continue
    return False
