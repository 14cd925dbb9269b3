"""`deploy.py lint`: sqlfluff over every SQL file, with the repo's .sqlfluff."""

from __future__ import annotations

import subprocess
import sys

from ticketdb.sources import REPEATABLE_DIRS, ROOT


def sql_paths() -> list[str]:
    return [d for d in ("sql", *REPEATABLE_DIRS) if any((ROOT / d).glob("*.sql"))]


def run(paths: list[str] | None = None) -> int:
    """0 when clean, 1 with findings (sqlfluff's own exit codes otherwise)."""
    cmd = [sys.executable, "-m", "sqlfluff", "lint", "--config", str(ROOT / ".sqlfluff"),
           "--processes", "2", *(paths or sql_paths())]
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode
