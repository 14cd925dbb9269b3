"""The deploy history: one row per attempt to apply one file.

Every statement that writes a history row is built here: `up` runs them with
parameters (the `start`, `progress`, `finish` … functions), `plan` writes the
same statements into its script (`render`, with `PLAN_BY` and `PLAN_ID`).

The latest row of a file is its state. A versioned migration writes its
progress after every statement, in the same transaction as the statement
when the statement is DML, so an attempt that fails or is killed halfway
says exactly how far it got and what the finished statements were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymysql.connections import Connection
from pymysql.converters import escape_string

from ticketdb.sources import SqlFile

TABLE = "ticketdb_schema_history"


def qualified(schema: str) -> str:
    """The history table named with its schema: every statement about the
    history names it, so nothing a file does to the session (a USE) can move
    the deployer's writes elsewhere."""
    return f"`{schema}`.{TABLE}"

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    history_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    script VARCHAR(255) NOT NULL,
    kind ENUM('versioned', 'repeatable') NOT NULL,
    version VARCHAR(20) NULL,
    description VARCHAR(200) NOT NULL,
    checksum CHAR(64) NOT NULL,
    state ENUM('running', 'applied', 'failed', 'interrupted', 'resolved', 'deleted') NOT NULL,
    statements_total INT UNSIGNED NOT NULL,
    statements_done INT UNSIGNED NOT NULL DEFAULT 0,
    done_checksums TEXT NOT NULL,
    error_message VARCHAR(2000) NULL,
    applied_sql MEDIUMTEXT NULL,
    installed_by VARCHAR(300) NOT NULL,
    started_at DATETIME(3) NOT NULL,
    finished_at DATETIME(3) NULL,
    execution_ms INT UNSIGNED NULL,
    object_state TEXT NULL,
    node VARCHAR(300) NULL,
    connection_id BIGINT UNSIGNED NULL,
    PRIMARY KEY (history_id),
    KEY ix_history_script (script, history_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
"""


@dataclass(frozen=True)
class Attempt:
    history_id: int
    script: str
    kind: str
    version: str | None
    description: str
    checksum: str
    state: str  # running / applied / failed / interrupted
    statements_total: int
    statements_done: int
    done_checksums: list[str]
    error_message: str | None
    applied_sql: str | None
    installed_by: str
    started_at: datetime
    execution_ms: int | None
    object_state: str | None = None


# Added after the first release: `repair` writes 'resolved' and 'deleted'
# rows, `up` records each object's state. A table made before gets them.
UPGRADES = (
    f"ALTER TABLE {TABLE} MODIFY COLUMN state ENUM('running', 'applied', 'failed', "
    "'interrupted', 'resolved', 'deleted') NOT NULL",
    f"ALTER TABLE {TABLE} ADD COLUMN object_state TEXT NULL",
    # which node and connection wrote the row (a cluster has several writers)
    f"ALTER TABLE {TABLE} ADD COLUMN node VARCHAR(300) NULL, "
    "ADD COLUMN connection_id BIGINT UNSIGNED NULL",
)
# Written into every row: the server (cluster node) and session that wrote it.
WRITER_COLUMNS = "node, connection_id"
WRITER_SQL = "CONCAT(@@hostname, ':', @@port), CONNECTION_ID()"
# The columns a new attempt's row is written with (start_row, applied_row).
START_COLUMNS = ("script, kind, version, description, checksum, state, statements_total, "
                 f"statements_done, done_checksums, installed_by, started_at, {WRITER_COLUMNS}")


class Sql(str):
    """SQL text that `render` writes as it is, not as a quoted value."""


# In a plan: who wrote the row (the history names the plan), and the row the
# script's own INSERT made.
PLAN_BY = "CONCAT(CURRENT_USER(), ' (plan)')"
PLAN_ID = Sql("@ticketdb_history_id")


def ensure_table(conn: Connection, schema: str) -> None:
    with conn.cursor() as cur:
        cur.execute(CREATE_TABLE.replace(f"EXISTS {TABLE}", f"EXISTS {qualified(schema)}", 1))
        for statement in upgrades_needed(conn, schema):
            cur.execute(statement.replace(TABLE, qualified(schema), 1))


def upgrades_needed(conn: Connection, schema: str) -> list[str]:
    """The UPGRADES an existing history table still needs ([] for a new one)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (schema, TABLE))
        columns = dict(cur.fetchall())
    if not columns:
        return []
    needed = []
    if "deleted" not in columns.get("state", ""):
        needed.append(UPGRADES[0])
    if "object_state" not in columns:
        needed.append(UPGRADES[1])
    if "connection_id" not in columns:
        needed.append(UPGRADES[2])
    return needed


def has_object_state(conn: Connection, schema: str) -> bool:
    return UPGRADES[1] not in upgrades_needed(conn, schema)


def table_exists(conn: Connection, schema: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, TABLE),
        )
        return cur.fetchone()[0] == 1


def latest(conn: Connection, schema: str) -> dict[str, Attempt]:
    """The newest attempt of every script, by script path."""
    if not table_exists(conn, schema):
        return {}
    table = qualified(schema)
    state = "h.object_state" if has_object_state(conn, schema) else "NULL"
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT h.history_id, h.script, h.kind, h.version, h.description, h.checksum, "
            f"h.state, h.statements_total, "
            f"h.statements_done, h.done_checksums, h.error_message, h.applied_sql, "
            f"h.installed_by, h.started_at, h.execution_ms, {state} FROM {table} AS h "
            f"JOIN (SELECT script, MAX(history_id) AS history_id FROM {table} GROUP BY script) "
            f"AS newest ON newest.history_id = h.history_id"
        )
        rows = cur.fetchall()
    return {
        r[1]: Attempt(*r[:9], r[9].split(), *r[10:])
        for r in rows
    }


def last_applied_sql(conn: Connection, schema: str, script: str) -> str | None:
    """The text of the newest successful apply of a repeatable file."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT applied_sql FROM {qualified(schema)} WHERE script = %s "
            f"AND state = 'applied' AND applied_sql IS NOT NULL "
            f"ORDER BY history_id DESC LIMIT 1",
            (script,),
        )
        row = cur.fetchone()
    return row[0] if row else None


def start_row(table: str, f: SqlFile, done: list[str], by: str = "CURRENT_USER()"
              ) -> tuple[str, tuple[object, ...]]:
    """The INSERT of a 'running' row for a new attempt that starts after
    `done` (statement checksums), and its parameters."""
    return (f"INSERT INTO {table} ({START_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 'running', "
            f"%s, %s, %s, {by}, UTC_TIMESTAMP(3), {WRITER_SQL})",
            (*_file_values(f), len(f.statements), len(done), " ".join(done)))


def _file_values(f: SqlFile) -> tuple[object, ...]:
    return (f.path, f.kind, f.version, f.description[:200], f.checksum)


def start(conn: Connection, schema: str, f: SqlFile, done: list[str]) -> int:
    """Write a 'running' row for a new attempt that starts after `done`."""
    with conn.cursor() as cur:
        cur.execute(*start_row(qualified(schema), f, done))
        return cur.lastrowid


def mark_interrupted(conn: Connection, schema: str) -> int:
    """Attempts still 'running' while we hold the deploy lock belong to a deployer
    that died (killed, or its server went away): say so. Returns how many."""
    with conn.cursor() as cur:
        return cur.execute(
            f"UPDATE {qualified(schema)} SET state = 'interrupted', "
            f"finished_at = UTC_TIMESTAMP(3), "
            f"error_message = CONCAT('interrupted: the deployer stopped after statement ', "
            f"statements_done, ' of ', statements_total, ' was recorded') "
            f"WHERE state = 'running'"
        )


def progress_sql(schema: str | None = None) -> str:
    """The UPDATE that records one more finished statement (run by the caller,
    inside the statement's own transaction)."""
    return (
        f"UPDATE {qualified(schema) if schema else TABLE} SET statements_done = %s, "
        f"done_checksums = %s WHERE history_id = %s"
    )


def script_finish_row(f: SqlFile) -> tuple[str, tuple[object, ...]]:
    """A plan's last UPDATE of a versioned file's row: applied, every
    statement done, the time since its INSERT."""
    return (f"UPDATE {TABLE} SET state = 'applied', statements_done = %s, done_checksums = %s, "
            "finished_at = UTC_TIMESTAMP(3), execution_ms = TIMESTAMPDIFF(MICROSECOND, "
            "started_at, UTC_TIMESTAMP(3)) DIV 1000 WHERE history_id = %s",
            (len(f.statements), " ".join(f.statement_checksums), PLAN_ID))


def script_applied_row(f: SqlFile, object_state: str) -> tuple[str, tuple[object, ...]]:
    """A plan's one row for a repeatable file, written once the file has run
    (the mysql client stops at the first error, so no 'running' row could be
    finished): applied, its text and its objects' state (object_state_sql)."""
    total = len(f.statements)
    return (f"INSERT INTO {TABLE} ({START_COLUMNS}, finished_at, execution_ms, applied_sql, "
            f"object_state) VALUES (%s, %s, %s, %s, %s, 'applied', %s, %s, %s, {PLAN_BY}, "
            f"UTC_TIMESTAMP(3), {WRITER_SQL}, UTC_TIMESTAMP(3), 0, %s, %s)",
            (*_file_values(f), total, total, "", f.text, Sql(object_state)))


def render(sql: str, params: tuple[object, ...]) -> str:
    """A statement with its parameters written in, for a script (the plan)."""
    return sql % tuple(literal(p) for p in params)


def finish(conn: Connection, schema: str, history_id: int, state: str, elapsed_ms: int,
           error: str | None = None, applied_sql: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {qualified(schema)} SET state = %s, error_message = %s, applied_sql = %s, "
            f"statements_done = IF(state = 'applied', statements_total, statements_done), "
            f"finished_at = UTC_TIMESTAMP(3), execution_ms = %s WHERE history_id = %s",
            (state, error[:2000] if error else None, applied_sql, elapsed_ms, history_id),
        )


# How each routine, trigger, event and view stands in the database, one line
# per object: "kind<TAB>name<TAB>field=value<TAB>…". `up` records it after it
# creates a file's objects and compares it with the database on every run, so
# an object dropped or re-created by hand is noticed. The body (with what else
# defines the object) is a digest; the rest is shown as it is. The same SQL
# is used by `plan`, so a plan piped into `mysql` records what `up` would.
UNREADABLE = "unreadable"  # a routine body this account may not read (not its definer)


def _objects_sql(schema: str) -> str:
    def digest(*parts: str) -> str:
        return f"LEFT(SHA2(CONCAT_WS('|', {', '.join(parts)}), 256), 16)"

    params = ("COALESCE((SELECT GROUP_CONCAT(CONCAT_WS(' ', p.PARAMETER_MODE, p.PARAMETER_NAME, "
              "p.DTD_IDENTIFIER, p.COLLATION_NAME) ORDER BY p.ORDINAL_POSITION SEPARATOR ',') "
              "FROM information_schema.PARAMETERS AS p WHERE p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA "
              "AND p.SPECIFIC_NAME = r.ROUTINE_NAME AND p.ROUTINE_TYPE = r.ROUTINE_TYPE), '')")
    # ROUTINE_DEFINITION is NULL for an account that did not define the
    # routine and may not read it (MariaDB: SELECT on mysql.proc; MySQL:
    # SHOW_ROUTINE): say so instead of digesting what is left.
    routine = (f"IF(r.ROUTINE_DEFINITION IS NULL, '{UNREADABLE}', "
               + digest("r.ROUTINE_DEFINITION", "r.ROUTINE_COMMENT", "r.SECURITY_TYPE",
                        "r.IS_DETERMINISTIC", "r.SQL_DATA_ACCESS",
                        "COALESCE(r.DTD_IDENTIFIER, '')", params) + ")")
    trigger = digest("t.EVENT_OBJECT_TABLE", "t.ACTION_TIMING", "t.EVENT_MANIPULATION",
                     "t.ACTION_STATEMENT")
    event = digest("e.EVENT_DEFINITION", "COALESCE(e.INTERVAL_VALUE, '')",
                   "COALESCE(e.INTERVAL_FIELD, '')", "e.ON_COMPLETION", "e.EVENT_COMMENT")
    view = digest("v.VIEW_DEFINITION", "v.CHECK_OPTION", "v.SECURITY_TYPE")
    return (
        f"SELECT LOWER(r.ROUTINE_TYPE) AS kind, r.ROUTINE_NAME AS name, CONCAT('body=', {routine}, "
        "'\\tsql_mode=', r.SQL_MODE, '\\tdefiner=', r.DEFINER, "
        "'\\tcollation=', r.DATABASE_COLLATION) AS state "
        f"FROM information_schema.ROUTINES AS r WHERE r.ROUTINE_SCHEMA = {schema} "
        f"UNION ALL SELECT 'trigger', t.TRIGGER_NAME, CONCAT('body=', {trigger}, "
        "'\\tsql_mode=', t.SQL_MODE, '\\tdefiner=', t.DEFINER, "
        "'\\tcollation=', t.DATABASE_COLLATION) "
        f"FROM information_schema.TRIGGERS AS t WHERE t.TRIGGER_SCHEMA = {schema} "
        f"UNION ALL SELECT 'event', e.EVENT_NAME, CONCAT('body=', {event}, "
        "'\\tstatus=', e.STATUS, '\\tsql_mode=', e.SQL_MODE, '\\ttime_zone=', e.TIME_ZONE, "
        "'\\tdefiner=', e.DEFINER, '\\tcollation=', e.DATABASE_COLLATION) "
        f"FROM information_schema.EVENTS AS e WHERE e.EVENT_SCHEMA = {schema} "
        f"UNION ALL SELECT 'view', v.TABLE_NAME, CONCAT('body=', {view}, "
        "'\\tdefiner=', v.DEFINER) "
        f"FROM information_schema.VIEWS AS v WHERE v.TABLE_SCHEMA = {schema}"
    )


def live_objects(conn: Connection, schema: str) -> dict[tuple[str, str], str]:
    """(kind, lower-case name) -> state line of every object in the schema."""
    with conn.cursor() as cur:
        cur.execute(_objects_sql("%s").replace("%s", "%(schema)s"), {"schema": schema})
        return {(kind, name.lower()): state for kind, name, state in cur.fetchall()}


def object_state_sql(schema: str, objects: list[tuple[str, str]]) -> str:
    """A scalar subquery: the state lines of these objects, sorted, one per line.
    `schema` is SQL: a quoted name, or DATABASE() in a plan."""
    if not objects:
        return "NULL"
    wanted = " OR ".join(f"(o.kind = {literal(k)} AND o.name = {literal(n)})" for k, n in objects)
    return (f"(SELECT GROUP_CONCAT(CONCAT(o.kind, '\t', o.name, '\t', o.state) "
            f"ORDER BY o.kind, o.name SEPARATOR '\n') "
            f"FROM ({_objects_sql(schema)}) AS o WHERE {wanted})")


def parse_object_state(text: str | None) -> dict[tuple[str, str], dict[str, str]]:
    """A recorded object_state, as (kind, lower-case name) -> {field: value}."""
    result = {}
    for line in (text or "").splitlines():
        kind, name, *fields = line.split("\t")
        result[(kind, name.lower())] = parse_fields("\t".join(fields))
    return result


def parse_fields(state: str) -> dict[str, str]:
    return dict(f.split("=", 1) for f in state.split("\t") if "=" in f)


def object_state_row(table: str, schema: str, objects: list[tuple[str, str]],
                     history_id: object) -> tuple[str, tuple[object, ...]]:
    """The UPDATE that records how these objects stand on a row (schema is
    SQL: a quoted name, or DATABASE() in a plan)."""
    return (f"UPDATE {table} SET object_state = {object_state_sql(schema, objects)} "
            "WHERE history_id = %s", (history_id,))


def record_object_state(conn: Connection, schema: str, history_id: int,
                        objects: list[tuple[str, str]]) -> None:
    with conn.cursor() as cur:
        cur.execute("SET SESSION group_concat_max_len = 1048576")
        cur.execute(*object_state_row(qualified(schema), literal(schema), objects, history_id))


def literal(value: object) -> str:
    """A value written into SQL text (for the plan, which runs elsewhere)."""
    if isinstance(value, Sql):
        return str(value)
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + escape_string(str(value)) + "'"


def record(conn: Connection, schema: str, a: Attempt, state: str, checksum: str,
           note: str) -> None:
    """A finished row written by a person's decision (`repair`, `baseline`)
    rather than by running the file: the note says whose and why."""
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {qualified(schema)} (script, kind, version, description, checksum, "
            f"state, statements_total, statements_done, done_checksums, error_message, "
            f"installed_by, started_at, finished_at, execution_ms, {WRITER_COLUMNS}) VALUES "
            f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CURRENT_USER(), UTC_TIMESTAMP(3), "
            f"UTC_TIMESTAMP(3), 0, {WRITER_SQL})",
            (a.script, a.kind, a.version, a.description[:200], checksum, state,
             a.statements_total, a.statements_total if state != "deleted" else a.statements_done,
             " ".join(a.done_checksums), note[:2000]),
        )


def note(conn: Connection, schema: str, history_id: int, text: str) -> None:
    """Why a row was written other than by running its file."""
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {qualified(schema)} SET error_message = %s WHERE history_id = %s",
                    (text[:2000], history_id))
