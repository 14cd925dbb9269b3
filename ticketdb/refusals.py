"""Why `up` refuses to start, and nothing is changed.

`refusals` is the one list of reasons found in the files' states and the
database: `up` stops on it, `plan` prints it as warnings ("up would
refuse"). The `refuse_*` functions are the checks `up` makes on the server
as it goes (ticketdb/preflight.py reads the server), each raising DeployError.
"""

from __future__ import annotations

from pymysql.connections import Connection

from ticketdb import locks, preflight
from ticketdb.errors import DeployError
from ticketdb.sources import SqlFile
from ticketdb.state import Echo, FileState, blocking_problems, missing_problems


def refusals(conn: Connection | None, schema: str, states: list[FileState],
             allow_missing: bool, echo: Echo) -> list[str]:
    """Every reason `up` refuses before it runs anything: a file it cannot
    run (state.blocking_problems), files the history knows that are gone
    (unless allowed: then a warning is echoed), a database made without `up`.
    conn=None: the database does not exist yet."""
    problems = blocking_problems(states)
    problems += missing_problems(states, allow_missing, echo)
    if conn is not None:
        problems += made_without_up(conn, schema, states)
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


def refuse_locking_migration(conn: Connection, f: SqlFile) -> None:
    """On a Galera node, LOCK TABLES holds on that node only (and DDL under it
    froze the cluster): a migration that locks tables to rewrite their rows
    (V025) runs without its lock only while those tables are empty (a new
    install); with rows, up refuses before the file runs."""
    tables = locks.locked_tables(f)
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
