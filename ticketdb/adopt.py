"""`baseline` and `repair`: history rows written by a person's decision.

baseline  adopts a database whose objects were made without `up` (by hand,
          by `plan | mysql`, by a restore): it compares the live database
          with the files as `verify` does and, only when they agree, records
          every pending file as applied.
repair    after a person fixed a failed migration by hand, marks the failed
          attempt resolved (up then treats the file as applied), and marks
          files that are gone from the project as deleted.
Both hold the deploy lock and print every row they write.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ticketdb import history, migrate, scope, verify
from ticketdb.connection import Target
from ticketdb.sources import ROOT

Echo = Callable[[str], None]


class AdoptError(Exception):
    """baseline or repair refused: the message says why (exit 1)."""


def baseline(target: Target, echo: Echo, root: Path = ROOT, lock_timeout: int = 60) -> int:
    """Record every pending file as applied, if the database matches the files."""
    files = scope.checked_files(root)
    conn = migrate.open_existing(target)
    if conn is None:
        raise AdoptError(f"database {target.database} does not exist: nothing to adopt "
                         "(up creates it)")
    lease = None
    try:
        lease = migrate.acquire_lock(conn, target, lock_timeout, echo, "baseline")
        differences = verify.schema_differences(target, conn, files)
        if differences:
            raise AdoptError(
                f"refusing to baseline {target.display()}: it differs from the files in "
                f"{len(differences)} place(s), nothing was recorded:\n  - "
                + "\n  - ".join(differences))
        history.ensure_table(conn, target.database)
        states = migrate.file_states(conn, target.database, root)
        unsure = [f"{s.file.path}: {s.state}" + (f" ({s.note})" if s.note else "")
                  for s in states if s.state in ("failed", "missing")
                  or (s.state == "changed" and s.file.kind == "versioned")]
        if unsure:
            raise AdoptError("refusing to baseline: the history already holds these, "
                             "which `repair` or `up` settle:\n  " + "\n  ".join(unsure))
        count = 0
        for s in states:
            if s.state == "applied":
                continue
            hid = history.start(conn, target.database, s.file, [])
            history.finish(conn, target.database, hid, "applied", 0,
                           applied_sql=s.file.text if s.file.kind == "repeatable" else None)
            history.note(conn, target.database, hid, "baseline: adopted as it was found")
            if s.file.kind == "repeatable":
                history.record_object_state(conn, target.database, hid, s.file.created_objects)
            echo(f"recorded {s.file.path} as applied (baseline)")
            count += 1
        echo(f"baseline: {count} file(s) recorded; the database matches the files"
             if count else "baseline: nothing to record, every file is already applied")
        return count
    finally:
        if lease is not None:
            lease.release()
        conn.close()


def repair(target: Target, echo: Echo, root: Path = ROOT, lock_timeout: int = 60) -> int:
    """Mark failed migrations resolved and gone files deleted; returns the count."""
    conn = migrate.open_existing(target)
    if conn is None or not history.table_exists(conn, target.database):
        raise AdoptError(f"{target.display()} has no deploy history: nothing to repair")
    lease = None
    try:
        lease = migrate.acquire_lock(conn, target, lock_timeout, echo, "repair")
        history.ensure_table(conn, target.database)
        history.mark_interrupted(conn, target.database)
        count = 0
        for s in migrate.file_states(conn, target.database, root):
            a = s.attempt
            if a is None:
                continue
            if s.state == "missing":
                history.record(conn, target.database, a, "deleted", a.checksum,
                               f"repair: the file was gone; its last state was {a.state}")
                echo(f"{s.file.path}: file gone, marked deleted (was {a.state})")
            elif s.state == "failed" and s.file.kind == "versioned":
                history.record(conn, target.database, a, "resolved", s.file.checksum,
                               f"repair: attempt {a.history_id} ({a.state} at statement "
                               f"{a.statements_done + 1} of {a.statements_total}) was "
                               "fixed by hand")
                echo(f"{s.file.path}: {a.state} attempt {a.history_id} marked resolved "
                     f"(was: {s.note}); up now treats it as applied")
            elif s.state == "failed":
                echo(f"{s.file.path}: failed, but a repeatable file needs no repair: "
                     "up re-applies it")
                continue
            else:
                continue
            count += 1
        if not count:
            echo("nothing to repair")
        return count
    finally:
        if lease is not None:
            lease.release()
        conn.close()
