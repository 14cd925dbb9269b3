"""Split a SQL file into the statements a server executes, one per `execute`.

The rules follow the `mysql` command-line client, so a file that works piped
into `mysql` splits the same way here:

* `DELIMITER x` on a line of its own changes the statement delimiter; with a
  delimiter other than `;` only that delimiter ends a statement (`END$$`
  needs no space).
* Quotes (`'`, `"`, backticks), `-- ` and `#` comments and `/* */` comments
  hide delimiters. Comments are not sent; `/*! ... */` (versioned code) and
  `/*+ ... */` (hints) are code and are kept.
* With the default `;` delimiter a compound statement (BEGIN...END, IF,
  CASE, LOOP, REPEAT, WHILE) also hides the `;` inside it, so a trigger or
  procedure can be written without `DELIMITER` as well. `IF(` the function,
  `IF EXISTS` and a transaction's `BEGIN;` do not open a block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class SplitError(ValueError):
    """The text cannot be split: an unterminated string, comment or block."""


@dataclass(frozen=True)
class Statement:
    text: str  # what is sent to the server, without the delimiter
    number: int  # 1-based position in the file
    line: int  # line of the file the statement starts on


_DELIMITER_LINE = re.compile(r"[ \t]*delimiter[ \t]+(\S+)[^\n]*(\n|$)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]+")

# After these tokens a statement starts, so IF / REPEAT there is the
# flow-control statement and not the function of the same name.
_STATEMENT_START = {None, ";", "begin", "then", "else", "do", "loop", "repeat", ":", "row"}
_BLOCK_AFTER_END = {"if", "loop", "repeat", "while", "case", "for"}


class _Splitter:
    def __init__(self, sql: str) -> None:
        self.sql = sql.replace("\r\n", "\n")
        self.pos = 0
        self.delimiter = ";"
        self.statements: list[Statement] = []
        self._reset(0)

    def _reset(self, start: int) -> None:
        self.buf: list[str] = []
        self.start_line = 0
        self.depth = 0
        self.block_lines: list[int] = []
        self.prev: str | None = None  # previous significant token, lower case
        self.after_end = False  # the word after END closes nothing more
        self.first_word: str | None = None

    def line_at(self, pos: int) -> int:
        return self.sql.count("\n", 0, pos) + 1

    def blank(self) -> bool:
        return not "".join(self.buf).strip()

    def emit(self) -> None:
        text = "".join(self.buf).strip()
        if text:
            self.statements.append(Statement(text, len(self.statements) + 1, self.start_line))
        self._reset(self.pos)

    def add(self, chunk: str, pos: int) -> None:
        if self.blank() and chunk.strip():
            self.start_line = self.line_at(pos)
            self.buf = []
        self.buf.append(chunk)

    def run(self) -> list[Statement]:
        sql = self.sql
        n = len(sql)
        while self.pos < n:
            i = self.pos
            at_line_start = i == 0 or sql[i - 1] == "\n"
            if at_line_start and self.blank():
                m = _DELIMITER_LINE.match(sql, i)
                if m:
                    self.delimiter = m.group(1)
                    self.buf = []
                    self.pos = m.end()
                    continue
            if sql.startswith(self.delimiter, i) and (self.delimiter != ";" or self.depth == 0):
                self.pos = i + len(self.delimiter)
                self.emit()
                continue
            ch = sql[i]
            if ch in "'\"`":
                end = self._quote_end(i, ch)
                self.add(sql[i:end], i)
                self.prev = "'"
                self.pos = end
            elif ch == "#" or (sql.startswith("--", i) and (i + 2 >= n or sql[i + 2] in " \t\n")):
                end = sql.find("\n", i)
                self.pos = n if end < 0 else end  # comments are not sent
            elif sql.startswith("/*", i):
                end = sql.find("*/", i + 2)
                if end < 0:
                    raise SplitError(f"line {self.line_at(i)}: unterminated /* comment")
                end += 2
                self.add(sql[i:end] if sql.startswith(("/*!", "/*+"), i) else " ", i)
                self.pos = end
            elif (m := _WORD.match(sql, i)) is not None:
                word = m.group(0)
                cut = word.find(self.delimiter, 1)
                if cut > 0:  # `END$$`: the delimiter ends the word
                    word = word[:cut]
                self.add(word, i)
                self._word(word.lower(), i + len(word))
                self.pos = i + len(word)
            else:
                self.add(ch, i)
                if not ch.isspace():
                    self.prev = ch
                self.pos = i + 1
        if self.delimiter == ";" and self.depth > 0:
            opened = self.block_lines[-1] if self.block_lines else self.start_line
            raise SplitError(
                f"line {opened}: block opened here is never closed with END "
                f"(statement starting on line {self.start_line})"
            )
        self.emit()
        return self.statements

    def _quote_end(self, i: int, quote: str) -> int:
        sql = self.sql
        j = i + 1
        while j < len(sql):
            c = sql[j]
            if c == "\\" and quote != "`":
                j += 2
                continue
            if c == quote:
                if j + 1 < len(sql) and sql[j + 1] == quote:
                    j += 2
                    continue
                return j + 1
            j += 1
        raise SplitError(f"line {self.line_at(i)}: unterminated {quote} string")

    def _next_token(self, pos: int) -> str | None:
        """The next significant token after pos (comments skipped), lower case."""
        sql = self.sql
        while pos < len(sql):
            if sql[pos].isspace():
                pos += 1
            elif sql.startswith("/*", pos) and not sql.startswith("/*!", pos):
                end = sql.find("*/", pos + 2)
                pos = len(sql) if end < 0 else end + 2
            elif sql[pos] == "#" or sql.startswith("-- ", pos) or sql.startswith("--\n", pos):
                end = sql.find("\n", pos)
                pos = len(sql) if end < 0 else end
            else:
                if sql.startswith(self.delimiter, pos):
                    return ";"
                m = _WORD.match(sql, pos)
                return m.group(0).lower() if m else sql[pos]
        return None

    def _open(self, pos: int) -> None:
        self.depth += 1
        self.block_lines.append(self.line_at(pos))

    def _word(self, word: str, end: int) -> None:
        prev = self.prev
        self.prev = word
        if self.first_word is None:
            self.first_word = word
        if self.after_end:
            self.after_end = False
            if word in _BLOCK_AFTER_END:
                return
        if word == "end":
            if self.depth > 0:
                self.depth -= 1
                self.block_lines.pop()
            self.after_end = self._next_token(end) in _BLOCK_AFTER_END
        elif word == "begin":
            nxt = self._next_token(end)
            transaction = prev is None and nxt in {";", None, "work"}
            if not transaction and prev != "xa":
                self._open(end)
        elif word == "if":
            nxt = self._next_token(end)
            if prev in _STATEMENT_START and nxt not in {"exists", "not"}:
                self._open(end)
        elif word == "repeat":
            if prev in _STATEMENT_START or self._next_token(end) != "(":
                self._open(end)
        elif word in {"case", "loop", "while"}:
            self._open(end)


def split(sql: str) -> list[Statement]:
    """Split SQL text into statements; raise SplitError on unterminated input."""
    return _Splitter(sql).run()
