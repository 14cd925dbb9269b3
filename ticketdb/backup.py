"""`up --backup DIR`: a full dump of the database before `up` changes it.

The dump is made by the server's own tool (`mariadb-dump` for MariaDB,
`mysqldump` for MySQL) with tables, data, routines, triggers and events, in
one consistent snapshot (`--single-transaction`). The password goes to the
tool in a defaults file only this user can read, never on its command line.
The dump holds the customers' emails and phones: it is written mode 600, in
a directory `up` creates mode 700 (an existing directory keeps its mode, with
a warning when others may enter it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pymysql.connections import Connection

from ticketdb import preflight
from ticketdb.connection import Target, client_options
from ticketdb.errors import TicketdbError


class BackupError(TicketdbError):
    """The dump failed: `up` changes nothing (exit 1)."""


def dump_tool(mariadb: bool) -> tuple[str, list[str]]:
    """The dump program for this server, and its flavour's extra options."""
    names = ("mariadb-dump", "mysqldump") if mariadb else ("mysqldump",)
    for name in names:
        path = shutil.which(name)
        if path:
            version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
            if "MariaDB" in version:
                return path, []
            # MySQL's: no GTID statements (a restore elsewhere must not need them)
            return path, ["--set-gtid-purged=OFF"]
    raise BackupError(f"backup: {' or '.join(names)} is not installed; nothing was changed")


def private_directory(directory: Path) -> str | None:
    """Create the backup directory mode 700 (its parents as the umask says);
    a warning when it exists and others may enter it, else None. An existing
    directory is never chmod-ed: it may be shared (/tmp, a mount)."""
    if not directory.exists():
        directory.mkdir(parents=True)
        directory.chmod(0o700)
        return None
    mode = directory.stat().st_mode & 0o777
    if mode & 0o077:
        return (f"backup directory {directory} is mode {mode:o}: others may list it; the "
                "dump itself is mode 600, readable by this user only")
    return None


def dump(target: Target, conn: Connection, directory: Path,
         warn: Callable[[str], None] = print) -> str:
    """Dump the database into `directory`; return a line naming the file."""
    version = preflight.server_version(conn)
    tool, extra = dump_tool(version.mariadb)
    warning = private_directory(directory)
    if warning:
        warn(f"warning: {warning}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"{target.database}-{stamp}.sql"
    partial = final.with_suffix(".sql.partial")
    with tempfile.NamedTemporaryFile("w", prefix="ticketdb-dump-", suffix=".cnf") as cnf:
        os.chmod(cnf.name, 0o600)
        cnf.write(client_options(target))
        cnf.flush()
        command = [tool, f"--defaults-file={cnf.name}", "--single-transaction", "--routines",
                   "--triggers", "--events", "--hex-blob", "--no-tablespaces", *extra,
                   f"--result-file={partial}", target.database]
        done = subprocess.run(command, capture_output=True, text=True, umask=0o077)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        detail = target.redact(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                               else f"exit {done.returncode}")
        raise BackupError(f"backup failed, nothing was changed: {Path(tool).name}: {detail}")
    partial.chmod(0o600)  # whatever the tool did: the dump holds customer data
    partial.rename(final)
    size = final.stat().st_size
    return f"{final} ({size / 1_048_576:.1f} MB, {Path(tool).name}; restore: see README)"
