"""The state of every file: applied, pending, failed, changed or missing.

`classify` and `classify_all` decide it from what they are given (the files,
their newest history rows, how the objects stand in the database) and ask no
server, so they are tested without one (tests/unit/test_state.py);
`file_states` reads those inputs from the server and calls them. Also here:
what `up` may run (`select_work`, `blocking_problems`, `missing_problems`)
and what an interrupted `up` left (`interrupted`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pymysql.connections import Connection

from ticketdb import history, owned
from ticketdb.connection import COLLATION
from ticketdb.errors import DeployError
from ticketdb.sources import ROOT, SqlFile, all_files

Echo = Callable[[str], None]


@dataclass(frozen=True)
class FileState:
    """One file as `up` sees it: its state, its newest history row, where `up`
    would start in it (-1: nowhere, it refuses) and why (note)."""
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


def file_states(conn: Connection | None, schema: str, root: Path = ROOT,
                files: list[SqlFile] | None = None) -> list[FileState]:
    """The state of every file (of root, or those given), and of every file
    the history knows that is gone (missing); conn=None (no database yet)
    means all pending."""
    files = all_files(root) if files is None else files
    if conn is None:
        return [classify(f, None) for f in files]
    with conn.cursor() as cur:
        cur.execute("SELECT LOWER(TABLE_NAME) FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s", (schema,))
        live_tables = {r[0] for r in cur.fetchall()}
    return classify_all(files, history.latest(conn, schema), history.live_objects(conn, schema),
                        live_tables)


def classify_all(files: list[SqlFile], attempts: dict[str, history.Attempt],
                 live: dict[tuple[str, str], str], live_tables: set[str],
                 collation: str = COLLATION) -> list[FileState]:
    """The state of every file, and of every file the history knows that is
    gone, from the newest history row of each path (attempts), the objects
    (live) and the tables (live_tables, lower case) in the database. up gives
    the database COLLATION before it applies anything: objects created under
    another database collation are re-created under that one."""
    states = [classify(f, attempts.get(f.path), live, collation) for f in files]
    states = migration_drift(files, states, live, live_tables, collation)
    paths = {f.path for f in files}
    for path, a in sorted(attempts.items()):
        if path not in paths and a.state != "deleted":
            gone = SqlFile(path, "versioned" if a.kind == "versioned" else "repeatable",
                           a.version, a.description, "")
            states.append(FileState(gone, "missing", a, 0,
                                    f"{a.state} in the history, but the file is gone: put it "
                                    "back, or `repair` marks it deleted"))
    return states


def migration_drift(files: list[SqlFile], states: list[FileState],
                    live: dict[tuple[str, str], str], live_tables: set[str],
                    collation: str = COLLATION) -> list[FileState]:
    """An applied migration whose objects (owned.py) were dropped or changed
    since becomes 'changed' with the objects `up` re-creates; one whose table
    is gone (not in live_tables, lower-case names) becomes 'changed' with no
    repair: `up` refuses and says how."""
    objects = owned.migration_objects(files)
    tables = owned.migration_tables(files)
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
            why = object_drift(o.kind, o.name, live.get(o.key), recorded.get(o.key), collation)
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


def classify(f: SqlFile, a: history.Attempt | None,
             live: dict[tuple[str, str], str] | None = None, collation: str = COLLATION
             ) -> FileState:
    """The state of one file from its newest history row (a, None: never run)
    and, for a repeatable file, how its objects stand in the database (live:
    history.live_objects). No server is asked: everything is passed in."""
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
