"""`baseline` and `repair`: history rows written by a person's decision.

baseline  adopts a database whose objects were made without `up` (by hand,
          by `plan | mysql`, by piping the files, by a restore): it compares
          the live database with the files as `verify` does and, only when
          they agree, records every pending file as applied. A repeatable
          file whose objects differ (piped in another session, changed by
          hand) is left pending instead, for `up` to re-create.
repair    after a person fixed a failed migration by hand, marks the failed
          attempt resolved (up then treats the file as applied), and marks
          files that are gone from the project as deleted.
Both hold the deploy lock and print every row they write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ticketdb import deploy_lock, history, scope, state, verify
from ticketdb.connection import COLLATION, SQL_MODE, Target, open_existing
from ticketdb.errors import TicketdbError
from ticketdb.sources import ROOT, SqlFile

Echo = Callable[[str], None]


class AdoptError(TicketdbError):
    """baseline or repair refused: the message says why (exit 1)."""


def baseline(target: Target, echo: Echo, root: Path = ROOT, lock_timeout: int = 60) -> int:
    """Record every pending file as applied, if the database matches the files."""
    files = scope.checked_files(root)
    conn = open_existing(target)
    if conn is None:
        raise AdoptError(f"database {target.database} does not exist: nothing to adopt "
                         "(up creates it)")
    lease = None
    try:
        lease = deploy_lock.acquire(conn, target, target.database, lock_timeout, echo,
                                     "baseline")
        differences = verify.schema_differences(target, conn, files)
        later, blocking = split_repeatable(differences, files)
        if blocking:
            raise AdoptError(
                f"refusing to baseline {target.display()}: it differs from the files in "
                f"{len(blocking)} place(s), nothing was recorded:\n  - "
                + "\n  - ".join(blocking) + _recreated(later) + session_hint(blocking))
        history.ensure_table(conn, target.database)
        states = state.file_states(conn, target.database, root)
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
            if s.file.path in later:
                echo(f"left {s.file.path} pending: " + "; ".join(later[s.file.path])
                     + "; the next up re-creates it from the file")
                continue
            hid = history.start(conn, target.database, s.file, [])
            history.finish(conn, target.database, hid, "applied", 0,
                           applied_sql=s.file.text if s.file.kind == "repeatable" else None)
            history.note(conn, target.database, hid, "baseline: adopted as it was found")
            if s.file.kind == "repeatable":
                history.record_object_state(conn, target.database, hid, s.file.created_objects)
            echo(f"recorded {s.file.path} as applied (baseline)")
            count += 1
        if later:
            echo(f"baseline: {count} file(s) recorded; {len(later)} repeatable file(s) left "
                 "pending, whose objects differ from the files: run `ticketdb up` to re-create "
                 "them in the deployer's session")
        else:
            echo(f"baseline: {count} file(s) recorded; the database matches the files"
                 if count else "baseline: nothing to record, every file is already applied")
        return count
    finally:
        if lease is not None:
            lease.release()
        conn.close()


# verify's categories of what repeatable files create, longest first
_REPEATABLE_CATEGORIES = ("routine parameter", "trigger", "routine", "event", "view")
_SESSION_FIELDS = {"sql_mode", "time_zone", "database collation"}
_FIELDS_DIFFER = re.compile(r"^[^:]+: ([a-z_ ,]+) differ from the files")


def split_repeatable(differences: list[str], files: list[SqlFile]
                     ) -> tuple[dict[str, list[str]], list[str]]:
    """({repeatable file: its objects' differences}, the other differences).
    A repeatable file's object that differs (made in another session by the
    mysql client, changed by hand) is no reason to refuse: the file is left
    pending and `up` re-creates it. The database's default collation is not
    either: `up` sets it. Anything else is."""
    owners = {}
    for f in files:
        if f.kind == "repeatable":
            for kind, name in f.created_objects:
                category = "routine" if kind in ("procedure", "function") else kind
                owners[(category, name.lower())] = f.path
    later: dict[str, list[str]] = {}
    blocking = []
    for d in differences:
        if d.startswith("database default:"):
            continue
        category = next((c for c in _REPEATABLE_CATEGORIES if d.startswith(c + " ")), None)
        name = d[len(category) + 1:].split(":", 1)[0].split(".", 1)[0] if category else ""
        owner = owners.get(("routine" if category == "routine parameter" else category,
                            name.lower()))
        if owner:
            later.setdefault(owner, []).append(d)
        else:
            blocking.append(d)
    return later, blocking


def _recreated(later: dict[str, list[str]]) -> str:
    if not later:
        return ""
    lines = [d for differences in later.values() for d in differences]
    return ("\nthese differ too, but do not stop baseline (their files would be left pending, "
            "and up re-creates them):\n  - " + "\n  - ".join(lines))


def session_hint(blocking: list[str]) -> str:
    """Why objects differ in their session only, and what to do about it."""
    session_only = []
    for d in blocking:
        m = _FIELDS_DIFFER.match(d)
        if m and set(m.group(1).split(", ")) <= _SESSION_FIELDS:
            session_only.append(d.split(":", 1)[0])
    if not session_only:
        return ""
    return ("\n" + ", ".join(session_only) + " differ only in the session they were made in: "
            "the files were run by a client whose session is not the deployer's (the mysql "
            "client's defaults), and an object keeps the sql_mode and time zone it was "
            "created under. A migration's objects are never re-created by up: re-create them "
            f"from their file in a session with SET SESSION sql_mode = '{SQL_MODE}', "
            "time_zone = '+00:00' (in a database whose default collation is "
            f"{COLLATION}), then baseline again; or pipe `ticketdb plan`, which sets that "
            "session itself and writes the history, or deploy with `ticketdb up`")


def repair(target: Target, echo: Echo, root: Path = ROOT, lock_timeout: int = 60) -> int:
    """Mark failed migrations resolved and gone files deleted; returns the count."""
    conn = open_existing(target)
    if conn is None or not history.table_exists(conn, target.database):
        raise AdoptError(f"{target.display()} has no deploy history: nothing to repair")
    lease = None
    try:
        lease = deploy_lock.acquire(conn, target, target.database, lock_timeout, echo,
                                     "repair")
        history.ensure_table(conn, target.database)
        history.mark_interrupted(conn, target.database)
        count = 0
        for s in state.file_states(conn, target.database, root):
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
