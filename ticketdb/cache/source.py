"""The database side of the cache: the binlog settings the worker needs,
the consistent snapshot a rebuild starts from, and the queries it runs."""

from __future__ import annotations

from dataclasses import dataclass

from pymysql.connections import Connection

from ticketdb.cache.keys import OPEN_STATUSES

OPEN_IN = "('" + "', '".join(OPEN_STATUSES) + "')"
OPEN_TICKETS_SQL = ("SELECT ticket_id FROM service_tickets "
                    f"WHERE customer_id = %s AND current_status IN {OPEN_IN} ORDER BY ticket_id")


class SourceError(RuntimeError):
    """The server cannot feed the cache (its binlog settings, its privileges)."""


@dataclass
class ServerInfo:
    mariadb: bool
    version: str
    server_id: int
    uuid: str


def check(conn: Connection) -> ServerInfo:
    """Refuse, with what to change, a server whose binary log the worker
    cannot follow exactly: no binlog, not ROW, not full row images, no
    column names in the log (without them the library reads today's columns
    from information_schema, wrong after an ALTER), or on MySQL no GTIDs."""
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@server_id, @@log_bin, @@binlog_format, "
                    "@@binlog_row_image")
        version, server_id, log_bin, fmt, image = cur.fetchone()
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'binlog_row_metadata'")
        row = cur.fetchone()
        metadata = row[1] if row else "(not supported)"
        mariadb = "mariadb" in version.lower()
        gtid_mode = "ON"
        if not mariadb:
            cur.execute("SELECT @@gtid_mode")
            gtid_mode = cur.fetchone()[0]
            cur.execute("SELECT @@server_uuid")
            uuid = cur.fetchone()[0]
        else:
            cur.execute("SELECT @@gtid_domain_id")
            uuid = f"mariadb-domain-{cur.fetchone()[0]}-server-{server_id}"
    problems = []
    if not int(log_bin):
        problems.append("the binary log is off (start the server with log_bin and server_id)")
    if str(fmt).upper() != "ROW":
        problems.append(f"binlog_format is {fmt}, the cache needs ROW "
                        "(SET GLOBAL binlog_format = 'ROW', and in my.cnf)")
    if str(image).upper() != "FULL":
        problems.append(f"binlog_row_image is {image}, the cache needs FULL "
                        "(SET GLOBAL binlog_row_image = 'FULL', and in my.cnf)")
    if str(metadata).upper() != "FULL":
        problems.append(f"binlog_row_metadata is {metadata}, the cache needs FULL "
                        "(SET GLOBAL binlog_row_metadata = 'FULL', and in my.cnf; "
                        "MariaDB 10.5+, MySQL 8.0.14+)")
    if str(gtid_mode).upper() != "ON":
        problems.append(f"gtid_mode is {gtid_mode}, the cache follows MySQL by GTID "
                        "(gtid_mode = ON, enforce_gtid_consistency = ON)")
    if problems:
        raise SourceError("ticketdb: cache: this server's binary log cannot feed the cache: "
                          + "; ".join(problems))
    return ServerInfo(mariadb, version, int(server_id), uuid)


def head(conn: Connection, mariadb: bool) -> str:
    """The server's current GTID position (what it has written)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos" if mariadb else "SELECT @@gtid_executed")
        return str(cur.fetchone()[0] or "")


@dataclass
class Snapshot:
    position: str
    vips: list[int]
    tickets: dict[int, list[int]]


def snapshot(conn: Connection, mariadb: bool) -> Snapshot:
    """Every VIP and their open tickets, with the binlog position the read is
    consistent with. MariaDB gives the exact position of a consistent
    snapshot (binlog_snapshot_file/position); on MySQL the GTIDs are read
    just before the snapshot, so the worker replays a few transactions the
    snapshot already has, which is harmless: each row event sets a ticket's
    membership from its full after-image, so replaying in order converges."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        before = head(conn, mariadb) if not mariadb else ""
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            if mariadb:
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = {name.lower(): value for name, value in cur.fetchall()}
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)",
                            (status["binlog_snapshot_file"],
                             int(status["binlog_snapshot_position"])))
                position = str(cur.fetchone()[0] or "")
            else:
                position = before
            cur.execute("SELECT customer_id FROM customers WHERE tier = 'vip'")
            vips = [int(r[0]) for r in cur.fetchall()]
            cur.execute("SELECT t.customer_id, t.ticket_id FROM customers AS c "
                        "INNER JOIN service_tickets AS t ON t.customer_id = c.customer_id "
                        f"WHERE c.tier = 'vip' AND t.current_status IN {OPEN_IN}")
            tickets: dict[int, list[int]] = {}
            for cid, tid in cur.fetchall():
                tickets.setdefault(int(cid), []).append(int(tid))
        finally:
            cur.execute("COMMIT")
    return Snapshot(position, vips, tickets)


def open_tickets(conn: Connection, customer_id: int) -> list[int]:
    with conn.cursor() as cur:
        cur.execute(OPEN_TICKETS_SQL, (customer_id,))
        return [int(r[0]) for r in cur.fetchall()]


def is_vip(conn: Connection, customer_id: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT tier FROM customers WHERE customer_id = %s", (customer_id,))
        row = cur.fetchone()
    return bool(row) and row[0] == "vip"
