"""The `ticketdb` command (also `python -m ticketdb`, and `python deploy.py` in
a checkout): apply, inspect and check the schema and its automation.

    ticketdb --defaults-file ~/.my.cnf up
    TICKETDB_URL=mysql://USER:PASSWORD@HOST:PORT/DATABASE ticketdb status --json

Where things are: statements are split in ticketdb/splitter.py, the history
is written in ticketdb/history.py, `up` and `plan` are put in order in
ticketdb/migrate.py (each file's state: state.py; why up refuses:
refusals.py; a file's steps: executor.py, run by live_executor.py, written
as SQL by script_executor.py), `verify` in ticketdb/verify.py, `baseline`
and `repair` in ticketdb/adopt.py, table lock waits in ticketdb/locks.py,
the deploy lock in ticketdb/deploy_lock.py, `--backup` in
ticketdb/backup.py, what `up` checks on the server first in
ticketdb/preflight.py, throwaway servers in ticketdb/server.py, the one
error type in ticketdb/errors.py. The SQL files are found by
ticketdb/sources.py (ROOT).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
import pymysql
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ticketdb import (
    __version__,
    adopt,
    connection,
    faults,
    jobs,
    lint,
    migrate,
    roles,
    sample,
    verify,
)
from ticketdb.connection import ConnectionSettingsError, Target
from ticketdb.errors import TicketdbError, as_error
from ticketdb.sources import ROOT, wire

# Wide enough for the status table when the output goes to a file or a pipe.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class Context:
    def __init__(self, url: str | None = None, defaults_file: str | None = None,
                 ssl_ca: str | None = None, ssl_cert: str | None = None,
                 ssl_key: str | None = None, source_dir: Path = ROOT) -> None:
        self.source_dir = source_dir
        self.url = url
        self.defaults_file = defaults_file
        self.ssl_ca, self.ssl_cert, self.ssl_key = ssl_ca, ssl_cert, ssl_key

    def target(self) -> Target:
        url = self.url or os.environ.get("TICKETDB_URL")
        if url:
            target = connection.from_url(url)
        elif self.defaults_file:
            target = connection.from_defaults_file(self.defaults_file)
        else:
            raise ConnectionSettingsError(
                "no server given: use --url mysql://USER:PASSWORD@HOST:PORT/DATABASE, "
                "set TICKETDB_URL, or use --defaults-file PATH"
            )
        return connection.with_tls(target, self.ssl_ca, self.ssl_cert, self.ssl_key)

    def password(self) -> str | None:
        """The password, only to scrub it from messages."""
        try:
            return self.target().password
        except ConnectionSettingsError:
            return None


def fail(message: str, code: int, password: str | None = None) -> None:
    # server text is printed as it is, never read as markup
    err_console.print(Text("error: ", style="bold red") + Text(connection.redact(message,
                                                                                password)))
    sys.exit(code)


def handled(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every expected failure (ticketdb.errors.TicketdbError, the server's
    errors) as one readable line and its exit code; Ctrl-C as what it left."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        obj = ctx.find_object(Context)
        password = obj.password() if obj else None
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail(f"interrupted (Ctrl-C): {INTERRUPTED.get(ctx.info_name or '', '')}", 130,
                 password)
        except (TicketdbError, pymysql.MySQLError) as exc:
            error = as_error(exc)
            fail(str(error), error.exit_code, password)

    return wrapper


# What a command leaves when it is interrupted (`up` says it itself: migrate.up).
INTERRUPTED = {
    "up": "no file was changed",
    "plan": "nothing was changed (plan only reads)",
    "status": "nothing was changed (status only reads)",
    "verify": "nothing was changed; verify's scratch database is dropped now or by the "
              "next verify",
    "lint": "nothing was changed (lint only reads the files)",
    "baseline": "the files listed above as recorded are recorded, the others are not; "
                "baseline again records the rest",
    "repair": "the rows listed above were written, the others were not; repair again "
              "finishes",
    "sample": "the rows added so far stay (each ticket's history is whole); sample again "
              "adds more",
    "sandbox": "the throwaway server is stopped and removed",
}


def _set_on_context(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and value != ():
        setattr(ctx.ensure_object(Context), param.name or "", value)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options, declared once: on the group and on every
    subcommand (`ticketdb up --url …` as well as `ticketdb --url … up`)."""
    for name, kwargs in reversed(_CONNECTION_OPTIONS):
        command = click.option(name, expose_value=False, callback=_set_on_context,
                               **kwargs)(command)
    return command


_CONNECTION_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--url", {"metavar": "URL", "help": "mysql://USER:PASSWORD@HOST:PORT/DATABASE "
               "(also TICKETDB_URL); ?unix_socket=PATH selects a socket."}),
    ("--defaults-file", {"type": click.Path(), "metavar": "PATH",
                         "help": "A my.cnf naming the server in [client] (read as the mysql "
                                 "client reads it); [ticketdb] is read too, and wins: put "
                                 "database= there (the client tools refuse it in [client])."}),
    ("--ssl-ca", {"metavar": "PATH", "help": "CA certificate for TLS."}),
    ("--ssl-cert", {"metavar": "PATH", "help": "Client certificate for TLS."}),
    ("--ssl-key", {"metavar": "PATH", "help": "Client key for TLS."}),
    ("--source-dir", {"type": click.Path(exists=True, file_okay=False, path_type=Path),
                      "metavar": "DIR",
                      "help": "Deploy the files of DIR (its sql/, functions/, procedures/, "
                              "triggers/, events/) instead of those shipped with ticketdb "
                              f"({ROOT})."}),
]


def _version_line() -> str:
    return f"ticketdb {__version__} (SQL files: {ROOT})"


@click.group()
@connection_options
@click.version_option(__version__, message=_version_line(), help="Print the version and exit.")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Deploy and check the ticketdb schema and automation (MySQL 8.0.16+, MariaDB 10.6+).
    Connection options may also follow the subcommand."""
    ctx.ensure_object(Context)


@cli.command()
@connection_options
@click.pass_obj
@handled
def plan(obj: Context) -> None:
    """Print what `up` would run as a script for the mysql client: the files'
    statements, and the history rows `up` would write; run nothing."""
    target = obj.target()
    _states, problems, text = migrate.read_plan(target, obj.source_dir, echo)
    for problem in problems:
        err_console.print(f"warning: up would refuse: {problem}", markup=False)
    click.echo(f"-- ticketdb plan for {target.display()}, written by deploy.py plan")
    click.echo(wire(text), nl=False)  # a dump's raw bytes reach the client as they are


@cli.command()
@connection_options
@click.option("--lock-timeout", default=60, show_default=True, type=click.IntRange(0),
              help="Seconds to wait for another deployer to finish.")
@click.option("--lock-wait", default=10, show_default=True, type=click.IntRange(1),
              help="Seconds one statement may wait for a table lock (lock_wait_timeout); "
                   "queries on that table wait at most this long behind it.")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0),
              help="Retries, with backoff, of a statement whose lock wait ran out.")
@click.option("--target", "target_version", metavar="V###",
              help="Apply versioned migrations up to this version only.")
@click.option("--allow-missing", is_flag=True,
              help="Go on although files the history knows are gone from the project.")
@click.option("--backup", "backup_dir", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Dump the database into DIR first; refuse if the dump fails.")
@click.option("--roles", "with_roles", is_flag=True,
              help="Also create or update the roles <db>_agent, <db>_supervisor, <db>_reporting.")
@click.pass_obj
@handled
def up(obj: Context, lock_timeout: int, lock_wait: int, retries: int,
       target_version: str | None, allow_missing: bool, backup_dir: Path | None,
       with_roles: bool) -> None:
    """Apply pending migrations, then every repeatable object whose file
    changed or whose object was changed in the database."""
    target = obj.target()
    echo(f"deploying to {target.display()}")
    options = migrate.UpOptions(lock_timeout=lock_timeout, lock_wait=lock_wait, retries=retries,
                                allow_missing=allow_missing, target=target_version,
                                backup_dir=backup_dir, fault=faults.from_environment())

    def grant_roles(conn: pymysql.connections.Connection) -> None:
        for line in roles.apply(conn, target.database):
            echo(line)

    migrate.up(target, echo, options, root=obj.source_dir,
               after=grant_roles if with_roles else None)


def echo(line: str) -> None:
    """Print a line that may hold server text: never read as markup, never
    wrapped (a log is read with grep)."""
    console.print(line, markup=False, soft_wrap=True)


@cli.command()
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", is_flag=True,
              help="Exit 1 when any file is pending, failed, changed or missing (for CI).")
@click.pass_obj
@handled
def status(obj: Context, as_json: bool, check: bool) -> None:
    """One row per file: applied, pending, failed, changed, missing, or refused
    (a file up will not run: the note says why)."""
    target = obj.target()
    states = migrate.read_states(target, obj.source_dir)
    rows = [
        {
            "file": s.file.path,
            "kind": s.file.kind,
            "version": s.file.version,
            "state": s.state,
            "checksum": None if s.state == "missing" else s.file.checksum,
            "applied_checksum": s.attempt.checksum if s.attempt else None,
            "applied_at": s.attempt.started_at.isoformat() if s.attempt else None,
            "applied_by": s.attempt.installed_by if s.attempt else None,
            "execution_ms": s.attempt.execution_ms if s.attempt else None,
            "statements_done": s.attempt.statements_done if s.attempt else 0,
            "statements_total": s.attempt.statements_total if s.attempt else 0
            if s.state in ("missing", "refused") else len(s.file.statements),
            "note": s.note,
        }
        for s in states
    ]
    not_ready = [r for r in rows if r["state"] != "applied"]
    if as_json:
        click.echo(json.dumps({"target": target.display(), "files": rows,
                               "up_to_date": not not_ready}, indent=2))
    else:
        table = Table(title=Text(f"ticketdb status: {target.display()}"))
        for col in ("file", "state", "applied at (UTC)", "by", "ms", "note"):
            table.add_column(col)
        colours = {"applied": "green", "pending": "yellow", "failed": "red",
                   "changed": "magenta", "missing": "red", "refused": "red"}
        for r in rows:
            table.add_row(Text(r["file"]), Text(r["state"], style=colours[r["state"]]),
                          (r["applied_at"] or "")[:19].replace("T", " "),
                          Text(r["applied_by"] or ""),
                          "" if r["execution_ms"] is None else str(r["execution_ms"]),
                          Text(r["note"]))
        console.print(table)
    job_problems = jobs.check(target) if check else []
    for problem in job_problems:
        err_console.print(f"status --check: {problem}", markup=False, soft_wrap=True)
    if check and not_ready:
        err_console.print(f"status --check: {len(not_ready)} file(s) not applied as they are",
                          markup=False)
    if check and (not_ready or job_problems):
        sys.exit(1)


@cli.command("jobs")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handled
def jobs_cmd(obj: Context, as_json: bool) -> None:
    """Each scheduled job: schedule, last run, last success, last failure, and
    whether the event scheduler is ON and the job's event enabled."""
    jobs.show(obj.target(), console, as_json)


@cli.command()
@connection_options
@click.option("--lock-timeout", default=60, show_default=True, type=click.IntRange(0))
@click.pass_obj
@handled
def baseline(obj: Context, lock_timeout: int) -> None:
    """Adopt a database made without `up` (by hand, by plan | mysql, by a
    restore): if it matches the files, record every file as applied."""
    target = obj.target()
    adopt.baseline(target, echo, obj.source_dir, lock_timeout)


@cli.command()
@connection_options
@click.option("--lock-timeout", default=60, show_default=True, type=click.IntRange(0))
@click.pass_obj
@handled
def repair(obj: Context, lock_timeout: int) -> None:
    """After a failed migration was finished by hand: mark it resolved. Mark
    files that are gone from the project as deleted. Says what it changed."""
    target = obj.target()
    adopt.repair(target, echo, obj.source_dir, lock_timeout)


@cli.command("verify")
@connection_options
@click.option("--accept", "accept_file", type=click.Path(dir_okay=False, path_type=Path),
              metavar="PATH", help="Differences made on purpose, one name per line "
                                   "(default: verify-accept.txt in the source folder, if any).")
@click.pass_obj
@handled
def verify_cmd(obj: Context, accept_file: Path | None) -> None:
    """Compare the live database with the files: exit 0 same, 1 drift, 2 could not check."""
    try:
        target = obj.target()
        if accept_file is None and (obj.source_dir / ACCEPT_FILE).is_file():
            accept_file = obj.source_dir / ACCEPT_FILE
        accepted = verify.accepted_differences(accept_file) if accept_file else []
        differences = verify.verify(target, obj.source_dir)
    except Exception as exc:  # anything that stops the comparison is "could not check"
        raise TicketdbError(f"could not check: {as_error(exc)}", exit_code=2) from None
    differences, taken, stale = verify.split_accepted(differences, accepted)
    for d in taken:
        echo(f"accepted ({accept_file}): {d}")
    for name in stale:
        echo(f"note: {name} is accepted in {accept_file} but no longer differs")
    if not differences:
        echo(f"no drift: {target.display()} matches the files"
             + (f" (with {len(taken)} accepted difference(s))" if taken else ""))
        return
    console.print(Text("drift", style="bold red")
                  + Text(f" in {target.display()}: {len(differences)} difference(s)"))
    for d in differences:
        echo(f"  - {d}")
    sys.exit(1)


ACCEPT_FILE = "verify-accept.txt"


@cli.command("lint")
@connection_options
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_obj
@handled
def lint_cmd(obj: Context, paths: tuple[str, ...]) -> None:
    """Check that every file stays in its database and splits, then run sqlfluff
    with the source folder's .sqlfluff, else ticketdb's own (exit 0 clean, 1 findings)."""
    require_extra("lint", ("sqlfluff",), "lint")
    try:
        problems = lint.file_problems(obj.source_dir)
    except TicketdbError as exc:  # a file that cannot be read or split is a finding
        problems = [str(exc)]
    for problem in problems:
        err_console.print(Text("error: ", style="bold red") + Text(problem))
    config = lint.config_file(obj.source_dir)
    err_console.print(f"sqlfluff configuration: {config}", markup=False)
    code = lint.run(list(paths), obj.source_dir, config)
    sys.exit(1 if problems else code)


def require_extra(extra: str, modules: tuple[str, ...], command: str) -> None:
    """Refuse, naming the extra to install, when a command's optional packages
    are not installed (`pip install ticketdb` brings only what deploying needs)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise TicketdbError(
            f"{command} needs {', '.join(missing)}, not installed here: "
            f"pip install 'ticketdb[{extra}]' (or, in a checkout, pip install -e '.[{extra}]')",
            exit_code=2)


@cli.command("sample")
@connection_options
@click.option("--tickets", default=10_000, show_default=True, type=click.IntRange(1),
              help="How many tickets to create.")
@click.option("--seed", default=42, show_default=True, help="Random seed, for repeatable data.")
@click.pass_obj
@handled
def sample_cmd(obj: Context, tickets: int, seed: int) -> None:
    """Fill the database with believable data through the real status flow."""
    target = obj.target()
    counts = sample.load(target, tickets, seed=seed, console=console)
    console.print("added: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@cli.command("sandbox")
@click.option("--tickets", default=2_000, show_default=True, type=click.IntRange(1))
@click.option("--keep", is_flag=True, help="Leave the server running and print its URL.")
@handled
def sandbox_cmd(tickets: int, keep: bool) -> None:
    """Start a throwaway server, deploy, load sample data, run the automation, print reports."""
    require_extra("sandbox", ("mirakuru", "testcontainers", "docker"), "sandbox")
    from ticketdb import sandbox  # its server needs the extra

    sandbox.run(console, tickets=tickets, keep=keep)


def _cache_group() -> click.Group:
    from ticketdb.cache.cli import make_group  # the [cache] extra: redis, mysql-replication

    return make_group(connection_options)


cli.add_command(_cache_group())


def _known_password() -> str | None:
    """The password of --url or TICKETDB_URL, to scrub it from an unexpected error."""
    urls = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--url=")]
    urls += [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--url"]
    urls.append(os.environ.get("TICKETDB_URL", ""))
    for url in filter(None, urls):
        try:
            password = connection.from_url(url).password
        except ConnectionSettingsError:
            continue
        if password:
            return password
    return None


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # lint's sqlfluff prints as it goes
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # outside a command: nothing had started
        err_console.print("interrupted (Ctrl-C): nothing was changed")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, and never the password
        if os.environ.get("TICKETDB_DEBUG"):
            raise
        fail(str(as_error(exc)), 1, _known_password())
