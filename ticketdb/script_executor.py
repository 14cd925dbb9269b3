"""The script executor: `plan`'s text, the same steps as `up` (executor.py)
written as SQL for the mysql client instead of run.

`plan_text` wraps the files' steps in what `up` does around them: the deploy
lock, the session (sql_mode, time zone, names), the database's collation and
the history table, so that `up` finds the result up to date and `verify`
finds it clean. History rows are the statements of history.py, with the
values written in (history.render); their `installed_by` names the plan.
"""

from __future__ import annotations

from ticketdb import deploy_lock, history
from ticketdb.connection import COLLATION, SESSION_SETUP, SQL_MODE
from ticketdb.executor import apply_file
from ticketdb.owned import Owned
from ticketdb.splitter import Statement
from ticketdb.state import FileState


class ScriptExecutor:
    """Appends each step to `lines` as SQL text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _row(self, row: tuple[str, tuple[object, ...]]) -> None:
        self.lines.append(history.render(*row) + ";")

    def start(self, s: FileState) -> None:
        if s.file.kind != "versioned":
            return  # a repeatable file's row is written whole by finish
        done = list(s.file.statement_checksums[: s.resume_at])
        self._row(history.start_row(history.TABLE, s.file, done, by=history.PLAN_BY))
        self.lines.append(f"SET {history.PLAN_ID} = LAST_INSERT_ID();")

    def run(self, s: FileState, st: Statement, in_lock: bool) -> None:
        if st.number:
            self.lines.append(f"-- statement {st.number} of {len(s.file.statements)} "
                              f"(line {st.line})")
        self.lines.append(statement_text(st.text))

    def skip(self, s: FileState, st: Statement) -> None:
        self.lines.append(f"-- statement {st.number}: not run on a Galera node")

    def progress(self, s: FileState, done: int) -> None:
        checksums = " ".join(s.file.statement_checksums[:done])
        self._row((history.progress_sql(), (done, checksums, history.PLAN_ID)))

    def unlock(self, s: FileState) -> None:
        self.lines.append("UNLOCK TABLES;")

    def reset_session(self) -> None:
        self.lines += session_sql()

    def finish(self, s: FileState, objects: list[tuple[str, str]]) -> None:
        if s.file.kind == "versioned":
            self._row(history.script_finish_row(s.file))
            if objects:
                self._row(history.object_state_row(history.TABLE, "DATABASE()", objects,
                                                   history.PLAN_ID))
        else:
            state = history.object_state_sql("DATABASE()", objects)
            self._row(history.script_applied_row(s.file, state))

    def recreate(self, s: FileState, o: Owned) -> None:
        self.lines += session_sql()
        self.lines += [statement_text(text) for text in o.statements()]

    def record_objects(self, history_id: int, objects: list[tuple[str, str]]) -> None:
        self._row(history.object_state_row(history.TABLE, "DATABASE()", objects, history_id))


def plan_text(states: list[FileState], database: str, history_upgrades: list[str],
              mariadb: bool = False) -> str:
    """What `up` would run, statement by statement, as a script the `mysql`
    client runs in `database`."""
    work = [s for s in states if s.needs_work and s.resume_at >= 0]
    if not work:
        return "-- nothing to do: the database is up to date\n"
    take_lock, lock_taken, free_lock = deploy_lock.plan_sql()
    out = [
        "-- Pipe into the mysql client connected to this database. It stops at the",
        "-- first error: nothing after it runs, and `status` shows where it stopped.",
        guard(f"DATABASE() = {history.literal(database)}",
              f"ticketdb: this plan is for database {database}; run it there"),
        *take_lock,
        guard(lock_taken, "ticketdb: another deploy is running (see ticketdb_deploy_lock); "
              "try again when it has finished"),
        *session_sql(),
        f"ALTER DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE {COLLATION};",
        history.CREATE_TABLE.strip() + ";",
        *(f"{u};" for u in history_upgrades),
        "",
    ]
    for s in work:
        out += file_text(s, mariadb)
    out.append(free_lock)
    return "\n".join(out) + "\n"


def file_text(s: FileState, mariadb: bool = False) -> list[str]:
    """One file's part of the plan: a comment naming it and its state, its steps."""
    script = ScriptExecutor()
    apply_file(s, script, mariadb)
    return [f"-- {s.file.path} ({s.state}{': ' + s.note if s.note else ''})", *script.lines, ""]


def guard(condition: str, message: str) -> str:
    """A statement that stops the mysql client unless the condition holds
    (setting sql_mode to the message fails with error 1231 and shows it)."""
    return (f"SET SESSION sql_mode = IF({condition}, {history.literal(SQL_MODE)}, "
            f"{history.literal(message)});")


def session_sql() -> list[str]:
    """The deployer's session, as the plan sets it before and after each file."""
    return [f"{st};" for st in SESSION_SETUP] + ["SET SESSION group_concat_max_len = 1048576;"]


def statement_text(text: str) -> str:
    """One statement for the mysql client: in a DELIMITER block when it holds `;`."""
    return f"DELIMITER $$\n{text}$$\nDELIMITER ;" if ";" in text else f"{text};"
