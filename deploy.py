#!/usr/bin/env python3
"""ticketdb deployer: apply, inspect and check the schema and its automation.

    python deploy.py --defaults-file ~/.my.cnf up
    TICKETDB_URL=mysql://USER:PASSWORD@HOST:PORT/DATABASE python deploy.py status --json

Where things are: statements are split in ticketdb/splitter.py, the history
is written in ticketdb/history.py, `up` and `plan` live in ticketdb/migrate.py,
`verify` in ticketdb/verify.py, `baseline` and `repair` in ticketdb/adopt.py,
lock waits in ticketdb/locks.py, `--backup` in ticketdb/backup.py, throwaway
servers in ticketdb/server.py.
"""

from __future__ import annotations

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

from ticketdb import adopt, connection, jobs, lint, migrate, roles, sample, sandbox, verify
from ticketdb.connection import ConnectionSettingsError, Target
from ticketdb.server import ServerError
from ticketdb.sources import ROOT, SourceError, wire
from ticketdb.splitter import SplitError

# Wide enough for the status table when the output goes to a file or a pipe.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# access denied, unknown database, can't connect, unknown host, gone away, lost
CONNECT_ERRORS = {1044, 1045, 1049, 2003, 2005, 2006, 2013}


class Context:
    def __init__(self, url: str | None = None, defaults_file: str | None = None,
                 ssl_ca: str | None = None, ssl_cert: str | None = None,
                 ssl_key: str | None = None, source_dir: Path = ROOT) -> None:
        self.source_dir = source_dir
        self.url = url
        self.defaults_file = defaults_file
        self.ssl_ca, self.ssl_cert, self.ssl_key = ssl_ca, ssl_cert, ssl_key

    def target(self) -> Target:
        if self.url:
            target = connection.from_url(self.url)
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
    """Turn every expected failure into one readable line and the contract's exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        password = ctx.password() if ctx else None
        try:
            return func(*args, **kwargs)
        except ConnectionSettingsError as exc:
            fail(str(exc), 2, password)
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            text = exc.args[1] if len(exc.args) > 1 else str(exc)
            if code in CONNECT_ERRORS:
                fail(f"cannot connect: error {code}: {text}", 2, password)
            fail(f"server error: error {code}: {text}", 1, password)
        except pymysql.err.InterfaceError:
            fail("server error: the connection to the server was lost (it closed or was "
                 "killed); run the command again", 1, password)
        except pymysql.MySQLError as exc:
            fail(f"server error: {exc}", 1, password)
        except (migrate.DeployError, adopt.AdoptError, sample.SampleError, SourceError, SplitError,
                ServerError, jobs.JobsError) as exc:
            fail(str(exc), 1, password)

    return wrapper


def _set_on_context(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and value != ():
        setattr(ctx.ensure_object(Context), param.name or "", value)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options, also accepted after the subcommand
    (`deploy.py up --url …` as well as `deploy.py --url … up`)."""
    for name, kwargs in reversed(_CONNECTION_OPTIONS):
        command = click.option(name, expose_value=False, callback=_set_on_context,
                               is_eager=False, **kwargs)(command)
    return command


_CONNECTION_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--url", {"metavar": "URL", "help": "mysql://USER:PASSWORD@HOST:PORT/DATABASE "
               "(also TICKETDB_URL); ?unix_socket=PATH selects a socket."}),
    ("--defaults-file", {"type": click.Path(), "metavar": "PATH",
                         "help": "A my.cnf whose [client] section names the server "
                                 "(read as the mysql client reads it)."}),
    ("--ssl-ca", {"metavar": "PATH", "help": "CA certificate for TLS."}),
    ("--ssl-cert", {"metavar": "PATH", "help": "Client certificate for TLS."}),
    ("--ssl-key", {"metavar": "PATH", "help": "Client key for TLS."}),
    ("--source-dir", {"type": click.Path(exists=True, file_okay=False, path_type=Path),
                      "help": "Where sql/, views/, procedures/, triggers/ and events/ are "
                              "(default: the folder of deploy.py)."}),
]


@click.group()
@click.option("--url", envvar="TICKETDB_URL", metavar="URL",
              help="mysql://USER:PASSWORD@HOST:PORT/DATABASE (also TICKETDB_URL); "
                   "?unix_socket=PATH selects a socket.")
@click.option("--defaults-file", type=click.Path(), metavar="PATH",
              help="A my.cnf whose [client] section names the server (as the mysql client).")
@click.option("--ssl-ca", metavar="PATH", help="CA certificate for TLS.")
@click.option("--ssl-cert", metavar="PATH", help="Client certificate for TLS.")
@click.option("--ssl-key", metavar="PATH", help="Client key for TLS.")
@click.option("--source-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=ROOT, show_default="the folder of deploy.py",
              help="Where sql/, views/, procedures/, triggers/ and events/ are.")
@click.pass_context
def cli(ctx: click.Context, url: str | None, defaults_file: str | None, ssl_ca: str | None,
        ssl_cert: str | None, ssl_key: str | None, source_dir: Path) -> None:
    """Deploy and check the ticketdb schema and automation (MySQL 8.0.16+, MariaDB 10.6+).
    Connection options may also follow the subcommand."""
    ctx.obj = Context(url, defaults_file, ssl_ca, ssl_cert, ssl_key, source_dir)


@cli.command()
@connection_options
@click.pass_obj
@handled
def plan(obj: Context) -> None:
    """Print what `up` would run as a script for the mysql client: the files'
    statements, and the history rows `up` would write; run nothing."""
    target = obj.target()
    states, text = migrate.read_plan(target, obj.source_dir)
    problems = migrate.blocking_problems(states)
    problems += migrate.missing_problems(states, allow=False, echo=echo)
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
                                backup_dir=backup_dir)

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
    """One row per file: applied, pending, failed, changed or missing."""
    target = obj.target()
    states = migrate.read_states(target, obj.source_dir)
    rows = [
        {
            "file": s.file.path,
            "kind": s.file.kind,
            "version": s.file.version,
            "state": s.state,
            "checksum": s.file.checksum if s.state != "missing" else None,
            "applied_checksum": s.attempt.checksum if s.attempt else None,
            "applied_at": s.attempt.started_at.isoformat() if s.attempt else None,
            "applied_by": s.attempt.installed_by if s.attempt else None,
            "execution_ms": s.attempt.execution_ms if s.attempt else None,
            "statements_done": s.attempt.statements_done if s.attempt else 0,
            "statements_total": len(s.file.statements) if s.state != "missing"
            else s.attempt.statements_total if s.attempt else 0,
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
                   "changed": "magenta", "missing": "red"}
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
def verify_cmd(obj: Context, accept_file: Path | None) -> None:
    """Compare the live database with the files: exit 0 same, 1 drift, 2 could not check."""
    password = None
    try:
        target = obj.target()
        password = target.password
        if accept_file is None and (obj.source_dir / ACCEPT_FILE).is_file():
            accept_file = obj.source_dir / ACCEPT_FILE
        accepted = verify.accepted_differences(accept_file) if accept_file else []
        differences = verify.verify(target, obj.source_dir)
    except Exception as exc:  # anything that stops the comparison is "could not check"
        fail(f"could not check: {exc}", 2, password)
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
def lint_cmd(obj: Context, paths: tuple[str, ...]) -> None:
    """Check that every file stays in its database and splits, then run sqlfluff
    (exit 0 clean, 1 findings)."""
    try:
        problems = lint.file_problems(obj.source_dir)
    except (SourceError, SplitError) as exc:
        problems = [str(exc)]
    for problem in problems:
        err_console.print(Text("error: ", style="bold red") + Text(problem))
    code = lint.run(list(paths), obj.source_dir)
    sys.exit(1 if problems else code)


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
    sandbox.run(console, tickets=tickets, keep=keep)


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
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, and never the password
        if os.environ.get("TICKETDB_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (TICKETDB_DEBUG=1 shows the traceback)",
             1, _known_password())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
