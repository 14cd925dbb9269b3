"""The deploy history: one row per attempt to apply one file.

The latest row of a file is its state. A versioned migration writes its
progress after every statement, in the same transaction as the statement
when the statement is DML, so an attempt that fails or is killed halfway
says exactly how far it got and what the finished statements were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymysql.connections import Connection

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
    state ENUM('running', 'applied', 'failed', 'interrupted') NOT NULL,
    statements_total INT UNSIGNED NOT NULL,
    statements_done INT UNSIGNED NOT NULL DEFAULT 0,
    done_checksums TEXT NOT NULL,
    error_message VARCHAR(2000) NULL,
    applied_sql MEDIUMTEXT NULL,
    installed_by VARCHAR(300) NOT NULL,
    started_at DATETIME(3) NOT NULL,
    finished_at DATETIME(3) NULL,
    execution_ms INT UNSIGNED NULL,
    PRIMARY KEY (history_id),
    KEY ix_history_script (script, history_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
"""


@dataclass(frozen=True)
class Attempt:
    history_id: int
    script: str
    kind: str
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


def ensure_table(conn: Connection, schema: str) -> None:
    with conn.cursor() as cur:
        cur.execute(CREATE_TABLE.replace(f"EXISTS {TABLE}", f"EXISTS {qualified(schema)}", 1))


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
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT h.history_id, h.script, h.kind, h.checksum, h.state, h.statements_total, "
            f"h.statements_done, h.done_checksums, h.error_message, h.applied_sql, "
            f"h.installed_by, h.started_at, h.execution_ms FROM {table} AS h "
            f"JOIN (SELECT script, MAX(history_id) AS history_id FROM {table} GROUP BY script) "
            f"AS newest ON newest.history_id = h.history_id"
        )
        rows = cur.fetchall()
    return {
        r[1]: Attempt(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7].split(), *r[8:])
        for r in rows
    }


def last_applied_sql(conn: Connection, schema: str, script: str) -> str | None:
    """The text of the newest successful apply of a repeatable file."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT applied_sql FROM {qualified(schema)} WHERE script = %s AND state = 'applied' "
            f"ORDER BY history_id DESC LIMIT 1",
            (script,),
        )
        row = cur.fetchone()
    return row[0] if row else None


def start(conn: Connection, schema: str, f: SqlFile, done: list[str]) -> int:
    """Write a 'running' row for a new attempt that starts after `done`."""
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {qualified(schema)} (script, kind, version, description, checksum, "
            f"state, statements_total, statements_done, done_checksums, installed_by, started_at) "
            f"VALUES (%s, %s, %s, %s, %s, 'running', %s, %s, %s, CURRENT_USER(), UTC_TIMESTAMP(3))",
            (f.path, f.kind, f.version, f.description[:200], f.checksum,
             len(f.statements), len(done), " ".join(done)),
        )
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


def finish(conn: Connection, schema: str, history_id: int, state: str, elapsed_ms: int,
           error: str | None = None, applied_sql: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {qualified(schema)} SET state = %s, error_message = %s, applied_sql = %s, "
            f"statements_done = IF(state = 'applied', statements_total, statements_done), "
            f"finished_at = UTC_TIMESTAMP(3), execution_ms = %s WHERE history_id = %s",
            (state, error[:2000] if error else None, applied_sql, elapsed_ms, history_id),
        )
