"""The SQL files of the project, in the order `up` applies them: the text as
written (what the deployer adds around it is in `what_runs.py`).

Versioned migrations live in `sql/` as `V001__short_description.sql` and are
applied once, in version order. Repeatable objects (views, routines, triggers,
events) live one per file in their own folders and are re-applied whenever
their text changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from ticketdb.errors import TicketdbError
from ticketdb.splitter import SplitError, Statement, split

_PACKAGE = Path(__file__).resolve().parent
# Where sql/, functions/, procedures/, triggers/, events/ (and .sqlfluff) are:
# inside the package when it is installed from a wheel (pyproject.toml maps the
# folders there), at the repository's root in a checkout or an editable install.
ROOT = _PACKAGE if (_PACKAGE / "sql").is_dir() else _PACKAGE.parent

# Repeatable folders in apply order: views may be used by routines, functions
# by procedures, triggers and events call routines.
REPEATABLE_DIRS = ("views", "functions", "procedures", "triggers", "events")
_VERSIONED = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")
CREATE_TRIGGER = re.compile(
    r"^CREATE\s+(?:DEFINER\s*=\s*\S+\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+"
    r"(?:BEFORE|AFTER)\s+(?:INSERT|UPDATE|DELETE)\s+ON\s+`?(\w+)`?",
    re.IGNORECASE,
)
# CREATE [OR REPLACE] [ALGORITHM=…] [DEFINER=…] [SQL SECURITY …] <kind> [IF NOT EXISTS] name
CREATE_OBJECT = re.compile(
    r"^CREATE\s+(OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(?:SQL\s+SECURITY\s+\w+\s+)?(PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(`[^`]+`|\w+)",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"^CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           r"(`[^`]+`|\w+)", re.IGNORECASE)
DROP_OBJECT = re.compile(
    r"^DROP\s+(PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW)\s+IF\s+EXISTS\s+(`[^`]+`|\w+)",
    re.IGNORECASE,
)
_EXECUTABLE_MARK = re.compile(r"/\*(?:M?!\d*)|\*/")


def plain(text: str) -> str:
    """A statement as the server reads it: executable-comment marks removed
    (`/*!50003 CREATE*/ /*!50017 DEFINER=…*/ /*!50003 TRIGGER …` in dumps)."""
    return re.sub(r"\s+", " ", _EXECUTABLE_MARK.sub(" ", text)).strip()

Kind = Literal["versioned", "repeatable"]


class SourceError(TicketdbError):
    """A file in the project cannot be used as it is."""


def checksum(text: str) -> str:
    return hashlib.sha256(wire(text)).hexdigest()


def wire(text: str) -> bytes:
    """A statement's bytes as the server gets them (see _read)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class SqlFile:
    path: str  # relative to the project root, e.g. "sql/V001__customers.sql"
    kind: Kind
    version: str | None
    description: str
    text: str

    @cached_property
    def checksum(self) -> str:
        return checksum(self.text)

    @cached_property
    def statements(self) -> list[Statement]:
        try:
            return split(self.text)
        except SplitError as exc:
            raise SourceError(f"{self.path}: {exc}") from None

    @cached_property
    def statement_checksums(self) -> list[str]:
        return [checksum(s.text)[:16] for s in self.statements]

    @cached_property
    def trigger_table(self) -> str | None:
        """The table a trigger file's CREATE TRIGGER is on, else None."""
        for st in self.statements:
            m = CREATE_TRIGGER.match(plain(st.text))
            if m:
                return m.group(1)
        return None

    @cached_property
    def created_objects(self) -> list[tuple[str, str]]:
        """(kind, name) of every routine, trigger, event and view the file
        creates, kind in lower case: what `up` watches for changes made by hand."""
        found = []
        for st in self.statements:
            m = CREATE_OBJECT.match(plain(st.text))
            if m:
                found.append((m.group(2).lower(), m.group(3).strip("`")))
        return found

    @cached_property
    def created_tables(self) -> list[str]:
        """Names of the tables the file's CREATE TABLE statements make."""
        found = []
        for st in self.statements:
            m = _CREATE_TABLE.match(plain(st.text))
            if m and "TEMPORARY" not in m.group(0).upper():
                found.append(m.group(1).strip("`"))
        return found


def _read(path: Path) -> str:
    """The file's text. Bytes, then decode: read_text() would turn a lone CR
    into a newline, which the mysql client does not do. Bytes that are not
    UTF-8 (a dump's BINARY/BLOB values without --hex-blob) are kept as they
    are (surrogateescape) and sent to the server unchanged, as the client
    sends them."""
    return path.read_bytes().decode("utf-8", "surrogateescape").replace("\r\n", "\n")


def versioned_files(root: Path = ROOT) -> list[SqlFile]:
    files = []
    seen: dict[int, str] = {}
    for path in sorted((root / "sql").glob("*.sql")):
        m = _VERSIONED.match(path.name)
        if not m:
            raise SourceError(
                f"sql/{path.name}: a migration is named V<number>__<description>.sql "
                "(lower case, digits and '_')"
            )
        number = int(m.group(1))
        if number in seen:
            raise SourceError(f"sql/{path.name}: version {number} is also used by {seen[number]}")
        seen[number] = f"sql/{path.name}"
        files.append(
            SqlFile(f"sql/{path.name}", "versioned", m.group(1),
                    m.group(2).replace("_", " "), _read(path))
        )
    return sorted(files, key=lambda f: int(f.version or 0))


def repeatable_files(root: Path = ROOT) -> list[SqlFile]:
    files = []
    for folder in REPEATABLE_DIRS:
        for path in sorted((root / folder).glob("*.sql")):
            files.append(
                SqlFile(f"{folder}/{path.name}", "repeatable", None, path.stem, _read(path))
            )
    return files


def all_files(root: Path = ROOT) -> list[SqlFile]:
    """Every file, in apply order; each is split here, so a file that cannot be
    split stops `up` before anything runs."""
    files = versioned_files(root) + repeatable_files(root)
    for f in files:
        _ = f.statements
    return files
