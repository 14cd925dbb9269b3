"""Running deploy.py as a DBA does (a real process), and reading back what it did."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support import execute, one
from ticketdb import history
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT, all_files

DEPLOY = str(ROOT / "deploy.py")
FILES = len(all_files())


def run(target: Target | None, *args: str, source: Path | None = None,
        env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, DEPLOY]
    if target is not None:
        cmd += ["--url", target.url()]
    if source is not None:
        cmd += ["--source-dir", str(source)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def history_rows(target: Target) -> int:
    conn = connect(target)
    try:
        return one(conn, f"SELECT COUNT(*) FROM {history.TABLE}")
    finally:
        conn.close()


def status_of(target: Target, source: Path | None = None) -> dict[str, dict]:
    """`status --json`, keyed by file."""
    result = run(target, "status", "--json", source=source)
    assert result.returncode == 0, result.stderr
    return {f["file"]: f for f in json.loads(result.stdout)["files"]}


def edit(source: Path, name: str, old: str, new: str) -> None:
    """Change one file of a source copy, as a developer would."""
    path = source / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def mysql_client(srv, *args: str) -> list[str]:
    """The real `mysql` client as a DBA runs it against the test server (with
    root's password from the server's client.cnf, or inside its container)."""
    if srv.kind == "url":
        pytest.skip("the mysql client is run against the session's own server only")
    return [*srv.client_command(), *args]


def mariadb_dump(srv, *args: str) -> list[str]:
    """The real mariadb-dump (or mysqldump) with the routines, triggers and
    events, logged in with root's client.cnf: a local server only."""
    tool = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    if srv.kind != "local" or not tool:
        pytest.skip("needs a local server and mariadb-dump or mysqldump")
    return [tool, f"--defaults-file={srv.workdir / 'client.cnf'}", "--routines", "--triggers",
            "--events", *args]


@contextmanager
def server_setting(target: Target, name: str, value: str, normal: str) -> Iterator[None]:
    """SET GLOBAL name for the duration of a block, then back to normal."""
    admin = connect(target, database=None)
    try:
        execute(admin, f"SET GLOBAL {name} = {value}")
        yield
    finally:
        execute(admin, f"SET GLOBAL {name} = {normal}")
        admin.close()
