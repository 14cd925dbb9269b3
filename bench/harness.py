"""The benchmarks' shared parts: a measured figure, timing, trigger-less
copies of the tables, and waiting for InnoDB to settle."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pymysql
from rich.console import Console

from ticketdb import what_runs
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT, repeatable_files

console = Console(highlight=False)


@dataclass
class Figure:
    id: str
    what: str
    baseline: str
    runs: list[float]
    base_runs: list[float]
    unit: str = "s"
    goal: str = ""
    passed: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def base_median(self) -> float:
        return statistics.median(self.base_runs)

    @property
    def ratio(self) -> float:
        return self.median / self.base_median if self.base_median else float("nan")


def timed(fn: Callable[[], object], settle: pymysql.connections.Connection | None = None) -> float:
    """Seconds fn takes; with settle, first let the server's background I/O settle."""
    if settle is not None:
        quiesce(settle)
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def q(conn: pymysql.connections.Connection, sql: str, args: object = None) -> tuple:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
        while cur.nextset():
            pass
        return rows


def reapply_triggers(target: Target) -> None:
    """Put the flow's triggers back exactly as the files define them."""
    conn = connect(target)
    try:
        for f in repeatable_files(ROOT):
            if f.trigger_table:
                for st in what_runs.statements(f):
                    q(conn, st.text)
    finally:
        conn.close()


TICKET_COLUMNS = (
    "ticket_id, customer_id, category_id, subject, description, priority, current_status, "
    "assigned_agent_id, created_at, last_action_at, first_response_at, resolved_at, closed_at, "
    "waiting_since, paused_minutes"
)
LOG_COLUMNS = (
    "log_id, ticket_id, action_type, agent_id, from_status, to_status, old_priority, "
    "new_priority, note, action_time"
)


def make_copies(conn: pymysql.connections.Connection) -> None:
    """Trigger-less copies of the ticket tables, for the application-side baselines.

    Faithful but for the triggers: every row (the log copy as large as the log,
    so its indexes are as deep), the same indexes and CHECKs (CREATE TABLE LIKE)
    and the same foreign keys (which LIKE leaves out).
    """
    for copy in ("bench_logs", "bench_tickets"):
        q(conn, f"DROP TABLE IF EXISTS {copy}")
    q(conn, "CREATE TABLE bench_tickets LIKE service_tickets")
    q(conn, "CREATE TABLE bench_logs LIKE ticket_logs")
    q(conn, "ALTER TABLE bench_tickets "
            "ADD FOREIGN KEY (customer_id) REFERENCES customers (customer_id), "
            "ADD FOREIGN KEY (category_id) REFERENCES categories (category_id), "
            "ADD FOREIGN KEY (assigned_agent_id) REFERENCES agents (agent_id)")
    q(conn, "ALTER TABLE bench_logs "
            "ADD FOREIGN KEY (ticket_id) REFERENCES bench_tickets (ticket_id), "
            "ADD FOREIGN KEY (agent_id) REFERENCES agents (agent_id)")
    # The rows are the flow's own, already consistent: load them unchecked.
    q(conn, "SET SESSION foreign_key_checks = 0")
    try:
        for copy, table, columns in (("bench_tickets", "service_tickets", TICKET_COLUMNS),
                                     ("bench_logs", "ticket_logs", LOG_COLUMNS)):
            q(conn, f"INSERT INTO {copy} ({columns}) SELECT {columns} FROM {table}")
    finally:
        q(conn, "SET SESSION foreign_key_checks = 1")


def quiesce(conn: pymysql.connections.Connection, timeout: float = 600) -> None:
    """Wait until InnoDB has written out its dirty pages and purged old row
    versions: a step that just copied or reset millions of rows must not have
    its background I/O land in the next measurement."""
    previous = q(conn, "SELECT @@GLOBAL.innodb_max_dirty_pages_pct")[0][0]
    q(conn, "SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = dict(q(conn, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                                  "('Innodb_buffer_pool_pages_dirty', "
                                  "'Innodb_history_list_length')"))
            if (int(status.get("Innodb_buffer_pool_pages_dirty", 0)) < 100
                    and int(status.get("Innodb_history_list_length", 0)) < 1000):
                return
            time.sleep(0.5)
    finally:
        q(conn, "SET GLOBAL innodb_max_dirty_pages_pct = %s", (previous,))


def max_log_id(conn: pymysql.connections.Connection, table: str) -> int:
    """The highest log_id of a log table: a reset deletes what came after."""
    return q(conn, f"SELECT COALESCE(MAX(log_id), 0) FROM {table}")[0][0]
