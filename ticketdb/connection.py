"""Where to connect and how: `--url`, `TICKETDB_URL` or a `my.cnf` file.

Every session the deployer opens is set up the same way (strict `sql_mode`,
UTC, utf8mb4), because triggers, routines and events keep the `sql_mode` of
the session that created them. Passwords never leave this module in text:
`Target.display()` and `redact()` are what the rest of the code prints.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pymysql

from ticketdb.errors import TicketdbError

DEFAULT_DATABASE = "ticketdb"

# Strict, and the same on MySQL 8 and MariaDB: every trigger and routine is
# created with it, so a bad value is an error and never a silent truncation.
SQL_MODE = (
    "STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY"
)
# The project's collation: every table names it, every routine variable too,
# and `up` makes it the database's default (MySQL 8's own is utf8mb4_0900_ai_ci,
# which MariaDB does not know).
COLLATION = "utf8mb4_unicode_ci"
SESSION_SETUP = (
    f"SET SESSION sql_mode = '{SQL_MODE}'",
    "SET SESSION time_zone = '+00:00'",
    f"SET NAMES utf8mb4 COLLATE {COLLATION}",
)

_DB_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class ConnectionSettingsError(TicketdbError):
    """The connection options cannot be understood (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Target:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str = DEFAULT_DATABASE
    unix_socket: str | None = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None

    def display(self) -> str:
        """The target as a URL a person can read, with no password in it."""
        return self._url(":***" if self.password else "")

    def _url(self, secret: str) -> str:
        user = self.user + secret
        if self.unix_socket:
            return f"mysql://{user}@localhost/{self.database}?unix_socket={self.unix_socket}"
        return f"mysql://{user}@{self.host}:{self.port}/{self.database}"

    def url(self) -> str:
        """The full URL, password included: for handing to a child process only."""
        return self._url(f":{quote(self.password, safe='')}" if self.password else "")

    def with_database(self, database: str) -> Target:
        return replace(self, database=check_database_name(database))

    def redact(self, text: str) -> str:
        return redact(text, self.password)


def redact(text: str, password: str | None) -> str:
    """Remove a password from any text that may be printed or logged: in a
    URL, after password= or IDENTIFIED BY, and anywhere as it is, unless it
    is short or a plain word ("root", "secret"), which would shred the
    message ("Access denied for user '***'") without hiding anything."""
    text = re.sub(r"(mysql://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    text = re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", text)
    text = re.sub(r"(?i)(IDENTIFIED\s+BY\s+)'[^']*'", r"\1'***'", text)
    if password and len(password) >= 8 and not password.isalpha():
        text = text.replace(password, "***")
    return text


def check_database_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ConnectionSettingsError(
            f"database name {name!r} is not allowed: use 1 to 64 letters, digits or '_'"
        )
    return name


def from_url(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConnectionSettingsError(
            "the URL must look like mysql://USER:PASSWORD@HOST:PORT/DATABASE "
            f"(got scheme {parts.scheme!r})"
        )
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ConnectionSettingsError(f"the URL's port is not a number ({exc})") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"unix_socket", "ssl_ca", "ssl_cert", "ssl_key"}
    if unknown:
        raise ConnectionSettingsError(f"unknown URL option(s): {', '.join(sorted(unknown))}")
    database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
    return Target(
        host=parts.hostname or "127.0.0.1",
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=check_database_name(database),
        unix_socket=query.get("unix_socket"),
        ssl_ca=query.get("ssl_ca"),
        ssl_cert=query.get("ssl_cert"),
        ssl_key=query.get("ssl_key"),
    )


def from_defaults_file(path: str) -> Target:
    """Read the [client] and [ticketdb] groups of a my.cnf as the mysql client
    does: with the servers' own `my_print_defaults` (quotes, comments,
    !include and !includedir as the client reads them), else with a plain ini
    reader. [ticketdb] wins: `database=` goes there, since mariadb-admin,
    mariadb-dump and others refuse an option they do not know in [client]."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConnectionSettingsError(f"cannot read defaults file {path}: {exc.strerror}") from None
    options = _print_defaults(path)
    if options is None:
        options = _ini_client_section(path, text)
    if not options:
        raise ConnectionSettingsError(f"defaults file {path} has no [client] or [ticketdb] "
                                      "group")

    def get(*names: str) -> str | None:
        for name in names:
            if name in options:
                return options[name]
        return None

    port = get("port") or "3306"
    if not port.isdigit():
        raise ConnectionSettingsError(f"defaults file {path}: port {port!r} is not a number")
    return Target(
        host=get("host") or "127.0.0.1",
        port=int(port),
        user=get("user") or "root",
        password=get("password") or "",
        database=check_database_name(get("database") or DEFAULT_DATABASE),
        unix_socket=get("socket"),
        ssl_ca=get("ssl-ca"),
        ssl_cert=get("ssl-cert"),
        ssl_key=get("ssl-key"),
    )


GROUPS = ("client", "ticketdb")  # in this order: the later wins


def _print_defaults(path: str) -> dict[str, str] | None:
    """The [client] options, then the [ticketdb] ones over them, by
    my_print_defaults; None when it is not here."""
    tool = shutil.which("my_print_defaults")
    if tool is None:
        return None
    options: dict[str, str] = {}
    for group in GROUPS:  # one at a time: one call prints them in the file's order
        options.update(_print_group(tool, path, group))
    return options


def _print_group(tool: str, path: str, group: str) -> dict[str, str]:
    """MySQL's my_print_defaults masks passwords unless asked to --show them;
    MariaDB's has no such option and never masks."""
    options: dict[str, str] = {}
    for extra in ([], ["--show"]):
        done = subprocess.run([tool, f"--defaults-file={path}", *extra, group],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ConnectionSettingsError(
                f"cannot parse defaults file {path}: {done.stderr.strip() or done.returncode}")
        options = {}
        for line in done.stdout.splitlines():
            key, _, value = line.removeprefix("--").partition("=")
            options[key.replace("_", "-")] = value
        if set(options.get("password", "")) != {"*"}:
            return options
    return options


def _ini_client_section(path: str, text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConnectionSettingsError(f"cannot parse defaults file {path}: {exc}") from None
    options = {}
    for group in GROUPS:
        if parser.has_section(group):
            options.update({key.replace("_", "-"): (value or "").strip().strip("'\"")
                            for key, value in parser.items(group)})
    return options


def client_options(target: Target, socket_path: str | None = None) -> str:
    """A [client] section naming the target, as the mysql client and the
    dump tools read it (password included: write it to a mode-600 file).
    Without a socket the client is told to use TCP: host=localhost would
    otherwise mean its default socket."""
    lines = ["[client]", f"user={target.user}", f"host={target.host}", f"port={target.port}"]
    if target.password:
        lines.append(f"password={target.password}")
    socket = socket_path or target.unix_socket
    lines.append(f"socket={socket}" if socket else "protocol=tcp")
    for option, value in (("ssl-ca", target.ssl_ca), ("ssl-cert", target.ssl_cert),
                          ("ssl-key", target.ssl_key)):
        if value:
            lines.append(f"{option}={value}")
    return "\n".join(lines) + "\n"


def with_tls(target: Target, ca: str | None, cert: str | None, key: str | None) -> Target:
    return replace(
        target,
        ssl_ca=ca or target.ssl_ca,
        ssl_cert=cert or target.ssl_cert,
        ssl_key=key or target.ssl_key,
    )


def fetch_dicts(conn: pymysql.connections.Connection, sql: str,
                args: object = None) -> list[dict]:
    """Run a statement (a CALL too) and return its first result set as dicts,
    reading past the CALL's status result."""
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql, args)
        rows = list(cur.fetchall())
        while cur.nextset():
            pass
    return rows


def connect(target: Target, database: str | None = "", *, autocommit: bool = True,
            connect_timeout: int = 10,
            multi_statements: bool = False) -> pymysql.connections.Connection:
    """Open a session set up for ticketdb. database='' means target.database,
    None means no default database. multi_statements: the server splits a text
    holding several statements, as for the mysql client (the deployer's
    session only: see live_executor.run_sql)."""
    ssl = None
    if target.ssl_ca or target.ssl_cert:
        ssl = {k: v for k, v in
               (("ca", target.ssl_ca), ("cert", target.ssl_cert), ("key", target.ssl_key)) if v}
        for kind, path in ssl.items():
            if not Path(path).is_file():
                raise ConnectionSettingsError(f"TLS {kind} file {path} cannot be read")
    conn = pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database if database == "" else database,
        unix_socket=target.unix_socket,
        ssl=ssl,
        charset="utf8mb4",
        autocommit=autocommit,
        connect_timeout=connect_timeout,
        client_flag=pymysql.constants.CLIENT.FOUND_ROWS
        | (pymysql.constants.CLIENT.MULTI_STATEMENTS if multi_statements else 0),
    )
    reset_session(conn)
    return conn


def reset_session(conn: pymysql.connections.Connection) -> None:
    """The session ticketdb creates objects in (also between two files, which
    may each set their own sql_mode or time zone for their objects)."""
    with conn.cursor() as cur:
        for stmt in SESSION_SETUP:
            cur.execute(stmt)


def database_exists(conn: pymysql.connections.Connection, database: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (database,))
        return cur.fetchone()[0] == 1


def open_existing(target: Target) -> pymysql.connections.Connection | None:
    """A connection to the target database, or None when it does not exist yet
    (what the commands that only read use: they never create it)."""
    conn = connect(target, database=None)
    if not database_exists(conn, target.database):
        conn.close()
        return None
    with conn.cursor() as cur:
        cur.execute(f"USE `{target.database}`")
    return conn
