"""`plan`, `up` and `status`: compare the files with the history, then apply
what is missing, one statement per `execute`.

A newcomer's map: statements are split in `splitter.py`; what runs for a
file (with the deployer's added DROP and trigger swap) is `what_runs.py`;
each file's state is decided in `state.py`; why `up` refuses is
`refusals.py`; the steps of one file are `executor.py`, run on the server by
`live_executor.py` (`up`) and written as a script by `script_executor.py`
(`plan`); history rows are written in `history.py`; the deploy lock is
`deploy_lock.py`. This module puts them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pymysql.connections import Connection

from ticketdb import backup, deploy_lock, galera, history, locks, preflight, scope
from ticketdb.connection import COLLATION, Target, connect, open_existing
from ticketdb.deploy_lock import lock_name  # noqa: F401  (read by an outside tool)
from ticketdb.errors import DeployError
from ticketdb.executor import apply_file
from ticketdb.faults import AfterStatement
from ticketdb.live_executor import LiveExecutor, ms_since
from ticketdb.refusals import (
    refusals,
    refuse_locking_migration,
    refuse_unfit_galera_node,
    refuse_unfit_server,
    refuse_what_cannot_be_created,
)
from ticketdb.script_executor import plan_text
from ticketdb.sources import ROOT, all_files, repeatable_files, versioned_files
from ticketdb.state import Echo, FileState, file_states, interrupted, select_work


@dataclass(frozen=True)
class UpOptions:
    lock_timeout: int = 60  # seconds to wait for another deployer
    lock_wait: int = 10  # seconds one statement may wait for a table lock
    retries: int = 3  # more attempts after a statement's lock wait ran out
    allow_missing: bool = False  # go on although files the history knows are gone
    target: str | None = None  # apply versioned migrations up to this version only
    backup_dir: Path | None = None  # dump the database here before changing anything
    fault: AfterStatement | None = None  # called after each statement (faults.py, tests)


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
        lease = deploy_lock.acquire(conn, target, target.database, options.lock_timeout, echo)
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
        problems = refusals(conn, target.database, states, options.allow_missing, echo)
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
        live_run = LiveExecutor(conn, target.database, echo, options.lock_wait, options.retries,
                                mariadb, options.fault)
        for s in work:
            progress.append(s)
            started = time.monotonic()
            count = len(s.file.statements) - s.resume_at
            if s.state == "changed" and s.attempt and s.attempt.checksum == s.file.checksum:
                echo(f"re-applying {s.file.path}: {s.note.removesuffix(': up re-applies it')}")
            if s.repairs:
                apply_file(s, live_run)
                echo(f"applied {s.file.path} ({len(s.repairs)} object(s) re-created, "
                     f"{ms_since(started)} ms)")
                continue
            if s.file.kind == "versioned" and on_galera:
                refuse_locking_migration(conn, s.file)
            if s.file.kind == "repeatable":
                for line in definer_changes(conn, s, live):
                    echo(line)
            apply_file(s, live_run, mariadb, on_galera)
            how = f"resumed at statement {s.resume_at + 1}, " if s.resume_at else ""
            echo(f"applied {s.file.path} ({how}{count} statement(s), {ms_since(started)} ms)")
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


def read_plan(target: Target, root: Path = ROOT, echo: Echo = print
              ) -> tuple[list[FileState], list[str], str]:
    """The states, why `up` would refuse (refusals.refusals), and the plan's
    script; read only."""
    conn = open_existing(target)
    try:
        states = file_states(conn, target.database, root)
        problems = refusals(conn, target.database, states, False, echo)
        upgrades = history.upgrades_needed(conn, target.database) if conn else []
        probe = conn or connect(target, database=None)
        mariadb = preflight.server_version(probe).mariadb
        if probe is not conn:
            probe.close()
    finally:
        if conn:
            conn.close()
    return states, problems, plan_text(states, target.database, upgrades, mariadb)


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
