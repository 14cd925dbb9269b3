"""Files stay in their own database.

`up` deploys into the database it is given and `verify` builds its reference
in a scratch database; a file that switches database or names another one
would take either somewhere else (another schema's tables written, or dropped
by `verify`). `lint`, `up` and `verify` refuse such files before anything runs:

* `USE` (refused by the splitter, with its line);
* `CREATE`/`DROP`/`ALTER` `DATABASE` or `SCHEMA`;
* a name qualified with another schema (`other.t`, `other.t.col`) where a
  table, routine, trigger, event or view is named. Reading
  `information_schema` and `performance_schema` is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ticketdb.sources import SourceError, SqlFile, all_files, plain

_ALLOWED_SCHEMAS = {"information_schema", "performance_schema"}
_DATABASE_DDL = re.compile(r"^(CREATE|DROP|ALTER)\s+(DATABASE|SCHEMA)\b", re.IGNORECASE)
# Where an object name follows: `<keyword> schema.name`.
_NAMES_FOLLOW = {"from", "join", "into", "update", "table", "tables", "exists", "procedure",
                 "function", "trigger", "view", "event", "references", "call", "like"}
_TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`((?:[^`]|``)+)`|(\w+)|(\S)")


def _tokens(text: str) -> list[str]:
    """Identifiers (backticks removed), keywords and punctuation; strings dropped."""
    out = []
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            out.append("`" + m.group(1))  # a quoted identifier: never a keyword
        elif m.group(2) is not None:
            out.append(m.group(2))
        elif m.group(3) is not None:
            out.append(m.group(3))
    return out


def _foreign_names(text: str) -> list[str]:
    tokens = _tokens(plain(text))
    found = []
    for i in range(len(tokens) - 2):
        if tokens[i + 1] != "." or (i and tokens[i - 1] == "."):
            continue
        schema = tokens[i].lstrip("`")
        before = tokens[i - 1].lower() if i else ""
        three_part = tokens[i + 3:i + 4] == ["."]  # schema.table.column
        trigger_on = before == "on" and i >= 2 and tokens[i - 2].lower() in (
            "insert", "update", "delete")
        if (before in _NAMES_FOLLOW or trigger_on or three_part) and (
                schema.lower() not in _ALLOWED_SCHEMAS):
            found.append(f"{schema}.{tokens[i + 2].lstrip('`')}")
    return found


def problems(files: Iterable[SqlFile]) -> list[str]:
    """One line per statement that would reach outside the file's database."""
    out = []
    for f in files:
        for st in f.statements:
            where = f"{f.path} statement {st.number} (line {st.line})"
            if _DATABASE_DDL.match(plain(st.text)):
                out.append(f"{where}: creates, drops or alters a database; a file works "
                           "inside the database it is deployed to")
                continue
            names = _foreign_names(st.text)
            if names:
                out.append(f"{where}: names another schema ({', '.join(sorted(set(names)))}); "
                           "a file works inside the database it is deployed to, unqualified")
    return out


def refusals(files: Iterable[SqlFile]) -> dict[str, str]:
    """{path: why up refuses it} for each file that cannot be split or
    reaches outside its database (status lists them among the others)."""
    out = {}
    for f in files:
        try:
            found = problems([f])
        except SourceError as exc:
            found = [str(exc)]
        if found:
            out[f.path] = ("up refuses every file while this one is here: "
                           + "; ".join(p.removeprefix(f"{f.path}").lstrip(": ") for p in found))
    return out


def checked_files(root: Path) -> list[SqlFile]:
    """Every file, in apply order, once none reaches outside its database;
    else SourceError listing each statement that would."""
    files = all_files(root)
    outside = problems(files)
    if outside:
        raise SourceError("refusing the files, nothing was run: they reach outside their "
                          "database:\n  " + "\n  ".join(outside))
    return files
