"""Split a SQL file into the statements a server executes, one per `execute`.

The rules follow the `mysql` command-line client with its defaults, so a file
that works piped into `mysql` splits the same way here:

* `DELIMITER x` on a line of its own changes the statement delimiter; with a
  delimiter other than `;` only that delimiter ends a statement (`END$$`
  needs no space).
* Quotes (`'`, `"`, backticks) and comments hide delimiters.
* Comments are not sent, as the client's default `--skip-comments` does:
  `-- ` and `#` comments up to the end of the line, `/* */` comments entirely,
  also inside executable comments. So `up`, `deploy.py plan | mysql` and
  `verify` create the same bodies. Executable comments (`/*! … */`,
  `/*!50003 … */`, MariaDB's `/*M! … */`) and hints (`/*+ … */`) are code: they
  are kept, and their content is read as code (a `*/` inside a string there
  does not end them).
* With the default `;` delimiter a compound statement (BEGIN…END, IF, CASE,
  LOOP, REPEAT, WHILE, MariaDB's FOR) also hides the `;` inside it, so a
  trigger or procedure can be written without `DELIMITER`. A block opens only
  where a statement starts (after `;`, BEGIN, THEN, ELSE, DO, a label…), so
  `IF(`/`REPEAT(` the functions, `IF EXISTS` in DDL, `CASE` expressions and a
  column named `end` do not open or close one.
* A UTF-8 byte-order mark is dropped. Client commands (`source`, `\\.`, `use`
  without `;`, any backslash command) are not SQL: they are refused with the
  line they are on.

The work is linear in the size of the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from ticketdb.errors import TicketdbError


class SplitError(TicketdbError):
    """The text cannot be split: an unterminated string, comment or block."""


@dataclass(frozen=True)
class Statement:
    text: str  # what is sent to the server, without the delimiter
    number: int  # 1-based position in the file
    line: int  # line of the file the statement starts on


_DELIMITER_LINE = re.compile(r"[ \t]*delimiter[ \t]+(\S+)[^\n]*(\n|$)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]+")
_PUNCTUATION = re.compile(r"[^\w\s'\"`#/*\\;\-\u0080-\uffff]*")
_LINE_WORD = re.compile(r"[ \t]*([A-Za-z]+)\b")
# Blanks up to and including one newline: a new line is looked at on its own.
_SPACE = re.compile(r"[^\S\n]*\n|[^\S\n]+")
# mariadb-dump starts with this: "no client commands from here on" (the
# client's sandbox mode), which is what ticketdb does anyway.
_SANDBOX = re.compile(r"/\*M!999999\\- enable the sandbox mode \*/")
_EXECUTABLE = re.compile(r"/\*(?:!\d*|M!\d*|\+)")

# After these tokens a statement starts: IF, CASE, REPEAT, LOOP, WHILE and FOR
# there are flow control, anywhere else they are functions or expressions.
_STATEMENT_START = {None, ";", "begin", "atomic", "then", "else", "do", "loop", "repeat",
                    ":", "row"}
_BLOCK_AFTER_END = {"if", "loop", "repeat", "while", "case", "for"}
_OPENS_AT_START = {"if", "loop", "repeat", "while", "for"}
# The mysql client's own commands, recognised at the start of a line. Not SQL.
_CLIENT_COMMANDS = {"source", "use", "connect", "charset", "system", "tee", "notee", "pager",
                    "nopager", "warnings", "nowarning", "rehash", "prompt", "print", "go",
                    "ego", "quit", "exit", "clear", "edit", "status"}


class _Splitter:
    def __init__(self, sql: str) -> None:
        self.sql = sql.removeprefix("\ufeff").replace("\r\n", "\n")
        self.newlines = [m.start() for m in re.finditer("\n", self.sql)]
        self.pos = 0
        self.delimiter = ";"
        self.statements: list[Statement] = []
        self.executable = False  # inside /*! … */ or /*M! … */
        self._reset()

    def _reset(self) -> None:
        self.buf: list[str] = []
        self.has_text = False
        self.start_line = 0
        self.blocks: list[str] = []  # open blocks, innermost last
        self.block_lines: list[int] = []
        self.prev: str | None = None  # previous significant token, lower case
        self.after_end = False  # the word after END names what it closes

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def emit(self) -> None:
        text = "".join(self.buf).strip()
        if text:
            self.statements.append(Statement(text, len(self.statements) + 1, self.start_line))
        self._reset()

    def add(self, chunk: str, pos: int) -> None:
        if not self.has_text and not chunk.isspace():
            self.has_text = True
            self.start_line = self.line_at(pos)
            self.buf = []
        self.buf.append(chunk)

    def run(self) -> list[Statement]:
        sql = self.sql
        n = len(sql)
        while self.pos < n:
            i = self.pos
            at_line_start = i == 0 or sql[i - 1] == "\n"
            if at_line_start and not self.has_text and self._line_command(i):
                continue
            if sql.startswith(self.delimiter, i) and (
                    self.delimiter != ";" or not self.blocks) and not self.executable:
                self.pos = i + len(self.delimiter)
                self.emit()
                continue
            ch = sql[i]
            if ch in "'\"`":
                end = self._quote_end(i, ch)
                self.add(sql[i:end], i)
                self.prev = "'"
                self.pos = end
            elif ch.isspace():
                end = _SPACE.match(sql, i).end()
                self.add(sql[i:end], i)
                self.pos = end
            elif ch == "#" or (sql.startswith("--", i) and (i + 2 >= n or sql[i + 2].isspace())):
                end = sql.find("\n", i)
                self.pos = n if end < 0 else end  # comments are not sent
            elif sql.startswith("/*", i):
                self._comment(i)
            elif self.executable and sql.startswith("*/", i):
                self.add("*/", i)
                self.executable = False
                self.pos = i + 2
            elif ch == "\\":
                raise SplitError(
                    f"line {self.line_at(i)}: {sql[i:i + 2]!r} is a mysql client command, "
                    "not SQL: ticketdb runs SQL only")
            elif (m := _WORD.match(sql, i)) is not None:
                word = m.group(0)
                cut = word.find(self.delimiter, 1)
                if cut > 0:  # `END$$`: the delimiter ends the word
                    word = word[:cut]
                self.add(word, i)
                self._word(word.lower(), i + len(word))
                self.pos = i + len(word)
            else:  # punctuation: a run of it at once, up to anything that may matter
                end = _PUNCTUATION.match(sql, i).end()
                cut = sql.find(self.delimiter[0], i + 1, end)
                end = max(i + 1, cut if cut > 0 else end)
                self.add(sql[i:end], i)
                self.prev = sql[end - 1]
                self.pos = end
        if self.executable:
            raise SplitError(f"line {self.start_line}: executable comment /*! never closed")
        if self.delimiter == ";" and self.blocks:
            raise SplitError(
                f"line {self.block_lines[-1]}: block opened here is never closed with END "
                f"(statement starting on line {self.start_line})"
            )
        self.emit()
        return self.statements

    def _line_command(self, i: int) -> bool:
        """DELIMITER, or a client command, at the start of a line between statements."""
        m = _DELIMITER_LINE.match(self.sql, i)
        if m:
            self.delimiter = m.group(1)
            self.buf = []
            self.pos = m.end()
            return True
        word = _LINE_WORD.match(self.sql, i)
        if word and word.group(1).lower() in _CLIENT_COMMANDS:
            name = word.group(1)
            if name.lower() == "use":
                raise SplitError(
                    f"line {self.line_at(i)}: USE switches to another database: ticketdb "
                    "deploys into the database it is given, and never changes it")
            raise SplitError(
                f"line {self.line_at(i)}: {name!r} is a mysql client command, not SQL: "
                "ticketdb runs SQL only")
        return False

    def _comment(self, i: int) -> None:
        sql = self.sql
        sandbox = _SANDBOX.match(sql, i)
        if sandbox:  # mariadb-dump's first line: the client's \- command, not SQL
            self.pos = sandbox.end()
            return
        m = _EXECUTABLE.match(sql, i)
        if m and not self.executable:
            self.add(m.group(0), i)  # code follows; its */ is kept too
            self.executable = m.group(0) != "/*+"
            if not self.executable:  # a hint: kept whole
                end = sql.find("*/", i + 3)
                if end < 0:
                    raise SplitError(f"line {self.line_at(i)}: unterminated /*+ hint")
                self.buf[-1] = sql[i:end + 2]
                self.pos = end + 2
                return
            self.pos = m.end()
            return
        end = sql.find("*/", i + 2)
        if end < 0:
            raise SplitError(f"line {self.line_at(i)}: unterminated /* comment")
        self.pos = end + 2  # not sent, as by the client

    def _quote_end(self, i: int, quote: str) -> int:
        sql = self.sql
        j = i + 1
        while True:
            k = sql.find(quote, j)
            if k < 0:
                raise SplitError(f"line {self.line_at(i)}: unterminated {quote} string")
            if quote != "`":  # a backslash escapes the next character
                b = k - 1
                while b >= j and sql[b] == "\\":
                    b -= 1
                if (k - 1 - b) % 2 == 1:
                    j = k + 1
                    continue
            if k + 1 < len(sql) and sql[k + 1] == quote:
                j = k + 2
                continue
            return k + 1

    def _next_token(self, pos: int) -> str | None:
        """The next significant token after pos (comments skipped), lower case."""
        sql = self.sql
        while pos < len(sql):
            if sql[pos].isspace():
                pos += 1
            elif sql.startswith("/*", pos) and not _EXECUTABLE.match(sql, pos):
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

    def _at_statement_start(self, prev: str | None) -> bool:
        if prev in ("then", "else") and self.blocks and self.blocks[-1] == "case_expr":
            return False  # CASE … WHEN … THEN <expression>
        return prev in _STATEMENT_START

    def _open(self, kind: str, pos: int) -> None:
        self.blocks.append(kind)
        self.block_lines.append(self.line_at(pos))

    def _word(self, word: str, end: int) -> None:
        prev = self.prev
        self.prev = word
        if self.after_end:
            self.after_end = False
            if word in _BLOCK_AFTER_END:
                return
        if word == "end":
            # END closes a block after a statement's `;`, an empty BEGIN, a
            # CASE expression's last value or REPEAT's UNTIL condition; a
            # column named `end` closes nothing.
            if self.blocks and (self.blocks[-1] in ("case_expr", "repeat")
                                or prev in {";", "begin", "atomic"}):
                self.blocks.pop()
                self.block_lines.pop()
                self.after_end = self._next_token(end) in _BLOCK_AFTER_END
        elif word == "begin":
            nxt = self._next_token(end)
            transaction = prev is None and nxt in {";", None, "work"}
            if not transaction and prev != "xa":
                self._open("begin", end)
        elif word == "case":
            self._open("case" if self._at_statement_start(prev) else "case_expr", end)
        elif word in _OPENS_AT_START and self._at_statement_start(prev):
            if word == "repeat" and self._next_token(end) == "(":
                return  # REPEAT('x', 3): the function
            self._open(word, end)


def split(sql: str) -> list[Statement]:
    """Split SQL text into statements; raise SplitError on unterminated input."""
    return _Splitter(sql).run()
