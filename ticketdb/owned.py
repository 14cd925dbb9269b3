"""What the versioned migrations leave behind, and whether it is still there.

Most routines, triggers and events live in repeatable files, which `up`
re-applies when their object changes. A few are made by a migration and
belong to no repeatable file (V025's fn_ticket_log_hash: part of the data
format, so never a repeatable file). `up` watches those too: dropped by
hand, re-created with another body, or made under another database
collation (a restore into a database with the server's default), it
re-creates them from the migration's own statement. A table a migration
made that is gone cannot be re-created with its rows: `up` refuses and says
how to get it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ticketdb.sources import SqlFile, plain
from ticketdb.splitter import Statement

_CREATE = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(?:SQL\s+SECURITY\s+\w+\s+)?(PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(`[^`]+`|\w+)", re.IGNORECASE)
_DROP = re.compile(r"^DROP\s+(PROCEDURE|FUNCTION|TRIGGER|EVENT|VIEW)\s+(?:IF\s+EXISTS\s+)?"
                   r"(`[^`]+`|\w+)", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(`[^`]+`|\w+)",
                           re.IGNORECASE)
_DROP_TABLE = re.compile(r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(`[^`]+`|\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Owned:
    """An object the newest migration that creates it leaves in the database."""
    kind: str  # function / procedure / trigger / event / view
    name: str
    file: SqlFile
    create: Statement

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name.lower())

    def statements(self) -> list[str]:
        """What re-creates it: its DROP … IF EXISTS, then the migration's CREATE."""
        return [f"DROP {self.kind.upper()} IF EXISTS `{self.name}`", self.create.text]


def _name(raw: str) -> str:
    return raw.strip("`")


def migration_objects(files: list[SqlFile]) -> dict[str, list[Owned]]:
    """Per migration path, the routines, triggers, events and views it leaves:
    created there, not dropped by a later migration, and not the object of a
    repeatable file (which `up` watches already)."""
    owned: dict[tuple[str, str], Owned] = {}
    for f in (f for f in files if f.kind == "versioned"):
        for st in f.statements:
            text = plain(st.text)
            created, dropped = _CREATE.match(text), _DROP.match(text)
            if created:
                o = Owned(created.group(1).lower(), _name(created.group(2)), f, st)
                owned[o.key] = o
            elif dropped:
                owned.pop((dropped.group(1).lower(), _name(dropped.group(2)).lower()), None)
    repeatable = {(k, n.lower()) for f in files if f.kind == "repeatable"
                  for k, n in f.created_objects}
    result: dict[str, list[Owned]] = {}
    for key, o in owned.items():
        if key not in repeatable:
            result.setdefault(o.file.path, []).append(o)
    return result


def migration_tables(files: list[SqlFile]) -> dict[str, str]:
    """Lower-case table name -> the migration that created it, for every table
    the migrations leave (temporary tables are not matched)."""
    tables: dict[str, str] = {}
    for f in (f for f in files if f.kind == "versioned"):
        for st in f.statements:
            text = plain(st.text)
            created, dropped = _CREATE_TABLE.match(text), _DROP_TABLE.match(text)
            if created:
                tables[_name(created.group(1)).lower()] = f.path
            elif dropped:
                tables.pop(_name(dropped.group(1)).lower(), None)
    return tables
