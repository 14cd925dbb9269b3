"""What `up` asks of the server before it changes anything.

Refusals stop `up` with nothing deployed: a read-only server, a version below
the floor, an account that could create the tables but not the triggers.
Warnings are printed after a deploy: settings under which the automation runs
but not as designed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pymysql
from pymysql.connections import Connection

# The oldest servers the files work on, and why.
MYSQL_FLOOR = (8, 0, 16)  # CHECK constraints are parsed and ignored before 8.0.16
MARIADB_FLOOR = (10, 6, 0)  # SKIP LOCKED (sp_claim_next_ticket) arrived in 10.6
MARIADB_TESTED = (10, 11, 0)  # the oldest MariaDB the test suite runs on


@dataclass(frozen=True)
class Version:
    text: str  # as VERSION() says it, e.g. "10.11.6-MariaDB-0+deb12u1-log"
    flavour: str  # mysql / mariadb
    number: tuple[int, int, int]

    @property
    def mariadb(self) -> bool:
        return self.flavour == "mariadb"

    def __str__(self) -> str:
        return f"{'MariaDB' if self.mariadb else 'MySQL'} {'.'.join(map(str, self.number))}"


def parse_version(text: str) -> Version:
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    number = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
    return Version(text, "mariadb" if "mariadb" in text.lower() else "mysql", number)


def server_version(conn: Connection) -> Version:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return parse_version(cur.fetchone()[0])


def version_refusal(version: Version) -> str | None:
    floor = MARIADB_FLOOR if version.mariadb else MYSQL_FLOOR
    if version.number >= floor:
        return None
    why = ("SKIP LOCKED arrived in 10.6" if version.mariadb
           else "CHECK constraints are parsed and ignored before 8.0.16")
    name = "MariaDB" if version.mariadb else "MySQL"
    return (f"the server is {version}; ticketdb needs {name} {'.'.join(map(str, floor))} "
            f"or later ({why})")


def version_warning(version: Version) -> str | None:
    if version.mariadb and MARIADB_FLOOR <= version.number < MARIADB_TESTED:
        return (f"the server is {version}: it should work from MariaDB 10.6, but the tests "
                "run on 10.11 and later")
    return None


def read_only_refusal(conn: Connection) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.read_only")
        if int(cur.fetchone()[0]):
            return ("the server is read-only (read_only = ON; a replica?): deploy to the "
                    "primary, the replicas follow through replication")
    return None


def _has_global_super(conn: Connection) -> bool:
    """True when SHOW GRANTS names SUPER or every privilege on *.* (an admin).
    Grants through roles are not read here: the probe below decides then."""
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [str(row[0]) for row in cur.fetchall()]
    for grant in grants:
        head = grant.split(" TO ")[0].upper()
        if " ON *.*" in head and ("ALL PRIVILEGES" in head or re.search(r"\bSUPER\b", head)):
            return True
    return False


_PROBES = {
    "trigger": ("CREATE TRIGGER `{name}_bi` BEFORE INSERT ON `{name}` "
                "FOR EACH ROW SET NEW.id = NEW.id"),
    "procedure": "CREATE PROCEDURE `{name}_p` () BEGIN END",
    "function": "CREATE FUNCTION `{name}_f` () RETURNS INT DETERMINISTIC NO SQL RETURN 1",
    "event": "CREATE EVENT `{name}_e` ON SCHEDULE EVERY 1 DAY DISABLE DO BEGIN END",
}


def creation_refusal(conn: Connection, kinds: set[str]) -> str | None:
    """Can this account create the kinds of object `up` is about to create?
    Asked of the server itself, on a probe table that is dropped at once, so
    that `up` refuses before the first migration instead of stopping with the
    tables deployed and no flow triggers (error 1419 on a binlogging server
    without log_bin_trust_function_creators)."""
    if not kinds or _has_global_super(conn):
        return None
    name = f"ticketdb_probe_{secrets.token_hex(4)}"
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{name}` (id INT) ENGINE = InnoDB")
            for kind in sorted(kinds):
                try:
                    cur.execute(_PROBES[kind].format(name=name))
                except pymysql.MySQLError as exc:
                    return _creation_message(conn, kind, exc)
    except pymysql.MySQLError as exc:
        return f"this account cannot create tables here: error {exc.args[0]}: {exc.args[1]}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP PROCEDURE IF EXISTS `{name}_p`")
            cur.execute(f"DROP FUNCTION IF EXISTS `{name}_f`")
            cur.execute(f"DROP EVENT IF EXISTS `{name}_e`")
            cur.execute(f"DROP TABLE IF EXISTS `{name}`")  # and its trigger
    return None


def _creation_message(conn: Connection, kind: str, exc: pymysql.MySQLError) -> str:
    code, message = exc.args[0], exc.args[1]
    if code == 1419:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            account = cur.fetchone()[0]
        return (f"this server writes a binary log and log_bin_trust_function_creators is OFF: "
                f"creating a {kind} then needs the SUPER privilege, which {account} lacks. "
                "SET GLOBAL log_bin_trust_function_creators = ON (and put it in my.cnf), or "
                "deploy with an account that has SUPER")
    return f"this account cannot create a {kind} here: error {code}: {message}"


def settings_warnings(conn: Connection, database: str) -> list[str]:
    """Settings under which the automation runs, but not as designed."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.event_scheduler, @@global.time_zone, @@system_time_zone, "
                    "@@global.log_bin, @@global.binlog_format, @@global.innodb_autoinc_lock_mode")
        scheduler, tz, system_tz, log_bin, binlog_format, autoinc = cur.fetchone()
        cur.execute("SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS "
                    "WHERE EVENT_SCHEMA = %s AND STATUS NOT IN ('ENABLED', 'DISABLED') "
                    "ORDER BY EVENT_NAME", (database,))
        replica_disabled = cur.fetchall()
    warnings = []
    version = version_warning(server_version(conn))
    if version:
        warnings.append(version)
    if str(scheduler).upper() != "ON":
        warnings.append(
            f"event_scheduler is {scheduler}: the scheduled events will not run until "
            "SET GLOBAL event_scheduler = ON (and event_scheduler=ON in my.cnf)"
        )
    if tz not in ("+00:00", "UTC") and not (tz == "SYSTEM" and system_tz in ("UTC", "GMT")):
        warnings.append(
            f"the server's time_zone is {tz} (system {system_tz}): ticketdb stores UTC; "
            "connect with time_zone = '+00:00' or set default_time_zone = '+00:00'"
        )
    if int(log_bin) and str(binlog_format).upper() != "ROW":
        warnings.append(
            f"binlog_format is {binlog_format}: replicas should get exactly the rows the "
            "triggers wrote (the login, the time); set binlog_format = ROW"
        )
    if int(autoinc) != 2:
        warnings.append(
            f"innodb_autoinc_lock_mode is {autoinc}: an INSERT … SELECT into ticket_logs (the "
            "escalation pass, an import) holds a table lock on its AUTO_INCREMENT for the "
            "whole statement, so every other log row waits, and MariaDB reports the deadlocks "
            "this makes as error 1467; set innodb_autoinc_lock_mode = 2 in my.cnf (MySQL 8's "
            "default; it needs binlog_format = ROW)"
        )
    if replica_disabled:
        names = ", ".join(f"{name} ({status})" for name, status in replica_disabled)
        warnings.append(
            f"events disabled as on a replica: {names}. If this server is the primary now "
            "(after a failover), escalation and alerts are not running: "
            "ALTER EVENT <name> ENABLE for each"
        )
    return warnings


def describe_session(conn: Connection, connection_id: int | None) -> str:
    """'connection N (user@host, connected for S s)' for a lock holder. MySQL 8
    deprecates information_schema.PROCESSLIST for performance_schema.processlist
    (8.0.22+, when performance_schema is on); MariaDB has only the former."""
    if connection_id is None:
        return "another session"
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'processlist'")
        source = ("performance_schema.processlist" if cur.fetchone()[0]
                  else "information_schema.PROCESSLIST")
        try:
            cur.execute(f"SELECT ID, USER, HOST, TIME FROM {source} WHERE ID = %s",
                        (connection_id,))
            row = cur.fetchone()
        except pymysql.MySQLError:  # performance_schema present but off, or no access
            row = None
    if not row:
        return f"connection {connection_id}"
    return f"connection {row[0]} ({row[1]}@{row[2]}, connected for {row[3]} s)"


# --- Galera (MariaDB Cluster, Percona XtraDB Cluster) ---------------------
# What a Galera node needs so that ticketdb keeps its guarantees there; see
# docs/cluster.md. Separate from the checks above so that a rename of this
# module (to preflight) moves it as one piece.

def _variables(conn: Connection, pattern: str, status: bool = False) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(f"SHOW GLOBAL {'STATUS' if status else 'VARIABLES'} LIKE %s", (pattern,))
        return {str(k).lower(): str(v) for k, v in cur.fetchall()}


def galera_node(conn: Connection) -> bool:
    """Is this server a Galera node (a provider loaded and wsrep_on)?"""
    v = _variables(conn, "wsrep_%")
    return (v.get("wsrep_on", "OFF").upper() == "ON"
            and v.get("wsrep_provider", "none").lower() not in ("none", ""))


def galera_problems(conn: Connection, database: str) -> list[str]:
    """One line per setting or state of this node that breaks ticketdb on
    Galera; [] on a healthy node (and on a server that is no Galera node)."""
    v = _variables(conn, "wsrep_%")
    if v.get("wsrep_provider", "none").lower() in ("none", ""):
        return []
    problems = []
    if v.get("wsrep_on", "OFF").upper() != "ON":
        problems.append("wsrep_on is OFF although a Galera provider is loaded: this node "
                        "does not replicate; set wsrep_on = ON")
        return problems
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.binlog_format, @@global.innodb_autoinc_lock_mode")
        binlog_format, autoinc = cur.fetchone()
    if str(binlog_format).upper() != "ROW":
        problems.append(f"binlog_format is {binlog_format}: Galera replicates rows only; "
                        "set binlog_format = ROW")
    if int(autoinc) != 2:
        problems.append(f"innodb_autoinc_lock_mode is {autoinc}: Galera needs 2 (interleaved) "
                        "or inserts deadlock between appliers; set it in my.cnf")
    method = v.get("wsrep_osu_method", "TOI").upper()
    if method != "TOI":
        problems.append(f"wsrep_OSU_method is {method}: DDL would change this node only; "
                        "up needs TOI (SET GLOBAL wsrep_OSU_method = 'TOI')")
    state = _variables(conn, "wsrep_%", status=True)
    if state.get("wsrep_cluster_status", "") != "Primary":
        problems.append(f"wsrep_cluster_status is {state.get('wsrep_cluster_status')}: this "
                        "node is not in the Primary component (a partition?); deploy on a "
                        "node of the Primary component")
    if state.get("wsrep_local_state_comment", "") != "Synced":
        problems.append(f"wsrep_local_state_comment is {state.get('wsrep_local_state_comment')}"
                        ": this node is not Synced (joining, donor or desynced); wait, or "
                        "deploy on a Synced node")
    with conn.cursor() as cur:
        cur.execute("SELECT t.TABLE_NAME, t.ENGINE FROM information_schema.TABLES AS t "
                    "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_TYPE = 'BASE TABLE' AND ("
                    "t.ENGINE <> 'InnoDB' OR NOT EXISTS (SELECT 1 FROM "
                    "information_schema.TABLE_CONSTRAINTS AS c WHERE c.TABLE_SCHEMA = "
                    "t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND "
                    "c.CONSTRAINT_TYPE = 'PRIMARY KEY')) ORDER BY t.TABLE_NAME", (database,))
        for table, engine in cur.fetchall():
            what = f"engine {engine}" if engine != "InnoDB" else "no primary key"
            problems.append(f"table {database}.{table} has {what}: Galera replicates InnoDB "
                            "tables with primary keys only (others diverge between nodes)")
    return problems
