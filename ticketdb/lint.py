"""`ticketdb lint`: every file stays in its own database (ticketdb/scope.py)
and splits; then sqlfluff over every SQL file, with the source folder's
.sqlfluff (`--source-dir`), else ticketdb's own (the repository's, or the copy
shipped in the package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ticketdb import scope, what_runs
from ticketdb.sources import REPEATABLE_DIRS, ROOT, all_files


def sql_paths(root: Path = ROOT) -> list[str]:
    return [str(root / d) for d in ("sql", *REPEATABLE_DIRS) if any((root / d).glob("*.sql"))]


def file_problems(root: Path = ROOT) -> list[str]:
    """Statements that would reach outside the database, and repeatable files
    without their DROP … IF EXISTS (SourceError or SplitError when a file
    cannot be read or split)."""
    files = all_files(root)
    problems = scope.problems(files)
    for f in files:
        drop = what_runs.missing_drop(f)
        if drop is not None:
            problems.append(f"{f.path}: no `{drop.text}` before its CREATE: a file "
                            "runs again whenever it changes, so it starts with its DROP")
    return problems


def config_file(root: Path = ROOT) -> Path:
    """The sqlfluff configuration lint uses: the source folder's .sqlfluff,
    else ticketdb's own."""
    own = root / ".sqlfluff"
    return own if own.is_file() else ROOT / ".sqlfluff"


def run(paths: list[str] | None = None, root: Path = ROOT, config: Path | None = None) -> int:
    """0 when clean, 1 with findings (sqlfluff's own exit codes otherwise).
    Only `config` is read: no .sqlfluff of the working directory, of the
    home directory or of a folder above the files."""
    cmd = [sys.executable, "-m", "sqlfluff", "lint", "--ignore-local-config",
           "--config", str(config or config_file(root)), "--processes", "2",
           *(paths or sql_paths(root))]
    return subprocess.run(cmd, check=False).returncode
