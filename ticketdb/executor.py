"""The steps of applying one file, walked once for `up` and for `plan`.

`apply_file` is the one sequence: start an attempt's history row, run each
statement (from where an interrupted attempt stopped), record progress after
each statement a migration finishes outside its own LOCK TABLES, reset the
session, finish the row and record how the file's objects stand. Or, for an
applied migration whose objects were dropped or changed by hand, re-create
them and record them again.

An `Executor` does each step: `live_executor.LiveExecutor` on the server
(`up`), `script_executor.ScriptExecutor` as SQL text for the mysql client
(`plan`). Both write history rows with the statements of `history.py`.
"""

from __future__ import annotations

from typing import Protocol

from ticketdb import what_runs
from ticketdb.locks import LOCK_TABLES
from ticketdb.owned import Owned
from ticketdb.sources import plain
from ticketdb.splitter import Statement
from ticketdb.state import FileState


class Executor(Protocol):
    """What `apply_file` asks for, step by step."""

    def start(self, s: FileState) -> None:
        """Begin a new attempt of the file (its 'running' history row)."""

    def run(self, s: FileState, st: Statement, in_lock: bool) -> None:
        """Run one statement; in_lock: inside the file's own LOCK TABLES."""

    def skip(self, s: FileState, st: Statement) -> None:
        """A migration's LOCK TABLES not run on a Galera node (node-local)."""

    def progress(self, s: FileState, done: int) -> None:
        """Record that statements 1 to `done` of a migration have finished."""

    def unlock(self, s: FileState) -> None:
        """UNLOCK TABLES for a migration that ended inside its own lock."""

    def reset_session(self) -> None:
        """The deployer's session (sql_mode, time zone, names) again."""

    def finish(self, s: FileState, objects: list[tuple[str, str]]) -> None:
        """The attempt is applied; record how these objects stand."""

    def recreate(self, s: FileState, o: Owned) -> None:
        """Put back one object an applied migration made, in a fresh session."""

    def record_objects(self, history_id: int, objects: list[tuple[str, str]]) -> None:
        """Record how these objects stand on an existing history row."""


def apply_file(s: FileState, ex: Executor, mariadb: bool = False, galera: bool = False) -> None:
    """Walk the steps of one file that needs work (s.needs_work, s.resume_at >= 0).
    mariadb: swap a trigger as MariaDB does (what_runs.py); galera: a
    migration's LOCK TABLES is not run (refusals.refuse_locking_migration
    checked that its tables are empty)."""
    if s.repairs:
        for o in s.repairs:
            ex.recreate(s, o)
        ex.reset_session()
        if s.attempt is not None:
            ex.record_objects(s.attempt.history_id, [(o.kind, o.name) for o in s.owned])
        return
    f = s.file
    versioned = f.kind == "versioned"
    ex.start(s)
    # Between a migration's own LOCK TABLES and UNLOCK TABLES (dumps do that
    # around their INSERTs) the history table is not locked and a transaction
    # would release the lock: those statements are recorded together at
    # UNLOCK TABLES, so an interrupted attempt resumes at the LOCK.
    locked = False
    for st in f.statements[s.resume_at:] if versioned else what_runs.statements(f, mariadb):
        lock = LOCK_TABLES.match(plain(st.text))
        if lock and galera and versioned:
            ex.skip(s, st)
            ex.progress(s, st.number)
            continue
        ex.run(s, st, locked)
        if lock:
            locked = not lock.group(1)
        if versioned and not locked:
            ex.progress(s, st.number)
    if locked and versioned:
        ex.unlock(s)
        ex.progress(s, len(f.statements))
    ex.reset_session()
    ex.finish(s, [(o.kind, o.name) for o in s.owned] if versioned else f.created_objects)
