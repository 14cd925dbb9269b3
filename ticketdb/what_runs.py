"""What `up` (and `plan`) runs for a file: its statements, plus what the
deployer adds around them.

The file model (`sources.py`) is the text as written. Two additions are the
deployer's, made here:

* a repeatable file whose CREATE is not preceded by its own
  `DROP <kind> IF EXISTS <name>` (and is no CREATE OR REPLACE) gets that DROP
  just before the CREATE: without it the file's second change would fail
  with "already exists" (1304, 1359);
* a trigger is swapped so that no write to its table runs without it: on
  MySQL inside `LOCK TABLES <table> WRITE` … `UNLOCK TABLES`, on MariaDB as
  one `CREATE OR REPLACE TRIGGER` (atomic, and no LOCK TABLES, which is local
  to one node on Galera and froze the cluster).

The added statements have number 0. A migration runs as written: one that
creates a trigger takes its own locks (V025 does).
"""

from __future__ import annotations

import re

from ticketdb.sources import CREATE_OBJECT, CREATE_TRIGGER, DROP_OBJECT, SqlFile, plain
from ticketdb.splitter import Statement


def missing_drop(f: SqlFile) -> Statement | None:
    """For a repeatable file whose CREATE has no `DROP <kind> IF EXISTS <name>`
    before it (and is no CREATE OR REPLACE): that DROP. Else None."""
    if f.kind != "repeatable":
        return None
    for idx, st in enumerate(f.statements):
        m = CREATE_OBJECT.match(plain(st.text))
        if not m:
            continue
        if m.group(1):  # OR REPLACE
            return None
        kind, name = m.group(2).upper(), m.group(3)
        for earlier in f.statements[:idx]:
            d = DROP_OBJECT.match(plain(earlier.text))
            if d and d.group(1).upper() == kind and (
                    d.group(2).strip("`").lower() == name.strip("`").lower()):
                return None
        return Statement(f"DROP {kind} IF EXISTS {name}", 0, 0)
    return None


def statements(f: SqlFile, mariadb: bool = False) -> list[Statement]:
    """What `up` runs for this file on this kind of server (mariadb=False: the
    form every server takes, the LOCK TABLES swap)."""
    if mariadb and f.kind == "repeatable" and f.trigger_table is not None:
        replaced = _replace_trigger(f)
        if replaced is not None:
            return replaced
    body = list(f.statements)
    drop = missing_drop(f)
    if drop is not None:
        create = next(i for i, st in enumerate(body) if CREATE_OBJECT.match(plain(st.text)))
        body.insert(create, drop)
    if f.trigger_table is None or f.kind != "repeatable":
        return body
    return [
        Statement(f"LOCK TABLES `{f.trigger_table}` WRITE", 0, 0),
        *body,
        Statement("UNLOCK TABLES", 0, 0),
    ]


def _replace_trigger(f: SqlFile) -> list[Statement] | None:
    """MariaDB: the trigger's `DROP TRIGGER IF EXISTS t` + `CREATE TRIGGER t`
    sent as one `CREATE OR REPLACE TRIGGER t`; the file stays in the common
    dialect. None (keep the swap) when the CREATE is hidden in executable
    comments (a dump)."""
    create = next((st for st in f.statements if CREATE_TRIGGER.match(plain(st.text))), None)
    if create is None or not re.match(r"\s*CREATE\s+TRIGGER\b", create.text, re.IGNORECASE):
        return None
    name = CREATE_OBJECT.match(plain(create.text)).group(3).strip("`").lower()
    out = []
    for st in f.statements:
        d = DROP_OBJECT.match(plain(st.text))
        if d and d.group(1).upper() == "TRIGGER" and d.group(2).strip("`").lower() == name:
            continue  # replaced by the CREATE OR REPLACE below
        if st is create:
            text = re.sub(r"^(\s*)CREATE\s+TRIGGER\b", r"\1CREATE OR REPLACE TRIGGER",
                          st.text, count=1, flags=re.IGNORECASE)
            st = Statement(text, st.number, st.line)
        out.append(st)
    return out
