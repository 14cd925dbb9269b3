"""The SQL files of the project, in the order `up` applies them.

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
_CREATE_TRIGGER = re.compile(
    r"^CREATE\s+(?:DEFINER\s*=\s*\S+\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+"
    r"(?:BEFORE|AFTER)\s+(?:INSERT|UPDATE|DELETE)\s+ON\s+`?(\w+)`?",
    re.IGNORECASE,
)
# CREATE [OR REPLACE] [ALGORITHM=…] [DEFINER=…] [SQL SECURITY …] <kind> [IF NOT EXISTS] name
_CREATE_OBJECT = re.compile(
    r"^CREATE\s+(OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(?:SQL\s+SECURITY\s+\w+\s+)?(PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(`[^`]+`|\w+)",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"^CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           r"(`[^`]+`|\w+)", re.IGNORECASE)
_DROP_OBJECT = re.compile(
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
            m = _CREATE_TRIGGER.match(plain(st.text))
            if m:
                return m.group(1)
        return None

    @cached_property
    def created_objects(self) -> list[tuple[str, str]]:
        """(kind, name) of every routine, trigger, event and view the file
        creates, kind in lower case: what `up` watches for changes made by hand."""
        found = []
        for st in self.statements:
            m = _CREATE_OBJECT.match(plain(st.text))
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

    @cached_property
    def missing_drop(self) -> Statement | None:
        """For a repeatable file whose CREATE is not preceded by its own
        `DROP <kind> IF EXISTS <name>` (and is no CREATE OR REPLACE): that DROP,
        to run just before the CREATE. Without it the file's second change
        would fail with "already exists" (1304, 1359)."""
        if self.kind != "repeatable":
            return None
        for idx, st in enumerate(self.statements):
            m = _CREATE_OBJECT.match(plain(st.text))
            if not m:
                continue
            if m.group(1):  # OR REPLACE
                return None
            kind, name = m.group(2).upper(), m.group(3)
            for earlier in self.statements[:idx]:
                d = _DROP_OBJECT.match(plain(earlier.text))
                if d and d.group(1).upper() == kind and (
                        d.group(2).strip("`").lower() == name.strip("`").lower()):
                    return None
            return Statement(f"DROP {kind} IF EXISTS {name}", 0, 0)
        return None

    @cached_property
    def run_statements(self) -> list[Statement]:
        """What `up` runs for this file. A trigger is swapped inside
        LOCK TABLES <table> WRITE ... UNLOCK TABLES: a write to the table waits
        for the swap and never runs between DROP TRIGGER and CREATE TRIGGER.
        A missing DROP … IF EXISTS goes in before the CREATE (inside the lock).
        The added statements have number 0. A migration runs as written: one
        that creates a trigger takes its own locks (V025 does)."""
        body = list(self.statements)
        if self.missing_drop is not None:
            create = next(i for i, st in enumerate(body) if _CREATE_OBJECT.match(plain(st.text)))
            body.insert(create, self.missing_drop)
        if self.trigger_table is None or self.kind != "repeatable":
            return body
        return [
            Statement(f"LOCK TABLES `{self.trigger_table}` WRITE", 0, 0),
            *body,
            Statement("UNLOCK TABLES", 0, 0),
        ]

    def run_statements_on(self, mariadb: bool) -> list[Statement]:
        """What `up` runs for this file on this server. On MariaDB a trigger's
        `DROP TRIGGER IF EXISTS t` + `CREATE TRIGGER t` is sent as one
        `CREATE OR REPLACE TRIGGER t` (atomic: no moment without the trigger,
        and no LOCK TABLES, which is local to one node on Galera and froze the
        cluster); the file stays in the common dialect. On MySQL (no CREATE OR
        REPLACE TRIGGER) it is the LOCK TABLES swap of `run_statements`. A
        CREATE hidden in executable comments (a dump) keeps the swap."""
        if not mariadb or self.trigger_table is None or self.kind != "repeatable":
            return self.run_statements
        create = next((st for st in self.statements if _CREATE_TRIGGER.match(plain(st.text))), None)
        if create is None or not re.match(r"\s*CREATE\s+TRIGGER\b", create.text, re.IGNORECASE):
            return self.run_statements
        name = _CREATE_OBJECT.match(plain(create.text)).group(3).strip("`").lower()
        out = []
        for st in self.statements:
            d = _DROP_OBJECT.match(plain(st.text))
            if d and d.group(1).upper() == "TRIGGER" and d.group(2).strip("`").lower() == name:
                continue  # replaced by the CREATE OR REPLACE below
            if st is create:
                text = re.sub(r"^(\s*)CREATE\s+TRIGGER\b", r"\1CREATE OR REPLACE TRIGGER",
                              st.text, count=1, flags=re.IGNORECASE)
                st = Statement(text, st.number, st.line)
            out.append(st)
        return out


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
