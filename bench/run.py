#!/usr/bin/env python3
"""`make bench`: every figure a ratio against a baseline taken in the same run,
on the same throwaway server. See bench/README.md for what each id measures.

    python bench/run.py --tickets 1000000 [--repeat 5] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymysql
from rich.console import Console
from rich.table import Table

from ticketdb import migrate, sample, server
from ticketdb.connection import Target, connect, fetch_dicts
from ticketdb.sources import ROOT, SqlFile, repeatable_files
from ticketdb.splitter import split

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
                for st in f.run_statements:
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


ELIGIBLE = ("current_status = 'pending' AND assigned_agent_id IS NULL AND priority = 'medium' "
            "AND created_at <= %s")


def p1_escalation(target: Target, repeat: int) -> Figure:
    conn = connect(target)
    now = q(conn, "SELECT UTC_TIMESTAMP()")[0][0]
    cutoff = now - timedelta(days=1)
    eligible = [r[0] for r in q(conn, f"SELECT ticket_id FROM service_tickets WHERE {ELIGIBLE}",
                                (cutoff,))]
    total = q(conn, "SELECT COUNT(*) FROM service_tickets")[0][0]
    ids = ",".join(map(str, eligible)) or "0"
    runs, naive, bare, floor = [], [], [], []
    # what the pass changes, to put back between runs
    q(conn, "DROP TABLE IF EXISTS bench_p1_saved")
    q(conn, "CREATE TABLE bench_p1_saved (ticket_id BIGINT UNSIGNED PRIMARY KEY, "
            "last_action_at DATETIME NULL)")
    q(conn, f"INSERT INTO bench_p1_saved SELECT ticket_id, last_action_at FROM service_tickets "
            f"WHERE ticket_id IN ({ids})")
    for _ in range(repeat):
        max_log = max_log_id(conn, "ticket_logs")
        runs.append(timed(lambda: q(conn, "CALL sp_escalate_priorities()"), settle=conn))
        # Reset for the next run: the flow refuses this, so the triggers step aside.
        q(conn, "DROP TRIGGER trg_ticket_logs_before_delete")
        q(conn, "DROP TRIGGER trg_service_tickets_before_update")
        q(conn, f"DELETE FROM ticket_logs WHERE log_id > {max_log}")
        q(conn, "UPDATE service_tickets AS t JOIN bench_p1_saved AS s USING (ticket_id) "
                "SET t.priority = 'medium', t.last_action_at = s.last_action_at")
        reapply_triggers(target)
    q(conn, "DROP TABLE bench_p1_saved")
    make_copies(conn)
    copy_logs = max_log_id(conn, "bench_logs")
    app = connect(target, autocommit=False)

    def naive_loop() -> None:
        rows = q(app, f"SELECT ticket_id FROM bench_tickets WHERE {ELIGIBLE}", (cutoff,))
        app.commit()
        for (tid,) in rows:
            q(app, "UPDATE bench_tickets SET priority = 'high' WHERE ticket_id = %s", (tid,))
            q(app, "INSERT INTO bench_logs (ticket_id, action_type, from_status, to_status, "
                   "old_priority, new_priority, action_time) VALUES (%s, 'escalate', "
                   "'pending', 'pending', 'medium', 'high', %s)", (tid, now))
            app.commit()

    def bare_update() -> None:
        q(app, f"UPDATE bench_tickets SET priority = 'high' WHERE {ELIGIBLE}", (cutoff,))
        app.commit()

    def least_allowed() -> None:
        """(c) the same UPDATE plus one log row per ticket, both set-based and bare."""
        q(app, f"INSERT INTO bench_logs (ticket_id, action_type, from_status, to_status, "
               f"old_priority, new_priority, note, action_time) SELECT ticket_id, "
               f"'escalate', 'pending', 'pending', 'medium', 'high', 'escalation rule', "
               f"%s FROM bench_tickets WHERE {ELIGIBLE}", (now, cutoff))
        bare_update()

    def reset_copies() -> None:
        q(app, f"UPDATE bench_tickets SET priority = 'medium' WHERE ticket_id IN ({ids})")
        q(app, f"DELETE FROM bench_logs WHERE log_id > {copy_logs}")
        app.commit()

    for rep in range(repeat):
        if rep < 3:  # the slow loop: three runs are enough to see its spread
            naive.append(timed(naive_loop, settle=conn))
            reset_copies()
        bare.append(timed(bare_update, settle=conn))
        reset_copies()
        floor.append(timed(least_allowed, settle=conn))
        reset_copies()
    app.close()
    conn.close()
    fig = Figure("P1", f"sp_escalate_priorities, {len(eligible)} of {total} tickets "
                       f"({100 * len(eligible) / max(total, 1):.1f}%) eligible",
                 "(b) bare set-based UPDATE, no log", runs, bare,
                 goal="≥ 20× faster than (a); ≤ 2× (b)")
    speedup = statistics.median(naive) / fig.median
    fig.notes.append(f"(a) app-side loop, one commit per row: median "
                     f"{statistics.median(naive):.3f} s, min {min(naive):.3f}, "
                     f"max {max(naive):.3f}; the procedure is {speedup:.1f}× faster")
    fig.notes.append(f"(c) for context, the least the contract allows (the bare UPDATE plus a "
                     f"bare set-based INSERT of the log rows): median "
                     f"{statistics.median(floor):.3f} s; the procedure is "
                     f"{fig.median / statistics.median(floor):.2f}× that")
    fig.passed = speedup >= 20 and fig.ratio <= 2
    fig.extra = {"naive_runs": naive, "speedup_vs_naive": speedup,  # type: ignore[attr-defined]
                 "floor_runs": floor}
    return fig


def p2_overdue(target: Target, repeat: int, grow_to: int) -> Figure:
    conn = connect(target)
    size = lambda: len(q(conn, "CALL sp_overdue_report(60)"))  # noqa: E731
    result = size()

    def measure() -> list[float]:
        return [timed(lambda: q(conn, "CALL sp_overdue_report(60)")) for _ in range(repeat * 4)]

    quiesce(conn)
    measure()  # warm the buffer pool
    before = measure()
    total = q(conn, "SELECT COUNT(*) FROM service_tickets")[0][0]
    customer = q(conn, "SELECT MIN(customer_id) FROM customers")[0][0]
    # Grow the table 4x with open tickets outside the window (fresh, low priority:
    # due in 72 h), the rows a scan of all open tickets would have to read.
    added = 0
    while added < grow_to - total:
        n = min(5_000, grow_to - total - added)
        q(conn, "START TRANSACTION")
        q(conn, "INSERT INTO service_tickets (customer_id, subject, priority) VALUES "
                + ", ".join(["(%s, 'bench filler', 'low')"] * n), [customer] * n)
        q(conn, "COMMIT")
        added += n
    quiesce(conn)
    result_after = size()
    measure()
    after = measure()
    plan = fetch_dicts(conn, "EXPLAIN SELECT ticket_id, priority, current_status, "
                             "assigned_agent_id, deadline FROM service_tickets WHERE "
                             "current_status IN ('pending', 'in_progress') AND deadline < "
                             "UTC_TIMESTAMP() + INTERVAL 60 MINUTE ORDER BY deadline, ticket_id")
    conn.close()
    fig = Figure("P2", f"sp_overdue_report(60) after the table grew {total} → {grow_to} "
                       f"({result} rows returned before, {result_after} after)",
                 "the same call before it grew", after, before, goal="≤ 1.3×")
    # by name: MySQL 8's EXPLAIN has 12 columns, MariaDB's 10
    access, key, extra = plan[0]["type"], plan[0]["key"], plan[0]["Extra"]
    fig.notes.append(f"EXPLAIN: type={access}, key={key}, extra={extra}")
    fig.passed = fig.ratio <= 1.3 and access == "range" and "Using index" in (extra or "")
    return fig


def p7_alerts(target: Target, repeat: int) -> Figure:
    """One sp_generate_alerts(60) run with a large overdue backlog, against the
    same run after the overdue backlog grew 4x. Each measured run is a steady
    state one: the backlog's alerts were written by an earlier run."""
    conn = connect(target)

    def overdue() -> int:
        return q(conn, "SELECT COUNT(*) FROM service_tickets WHERE current_status IN "
                       "('pending', 'in_progress') AND deadline <= UTC_TIMESTAMP()")[0][0]

    def measure() -> list[float]:
        return [timed(lambda: q(conn, "CALL sp_generate_alerts(60)")) for _ in range(repeat * 4)]

    q(conn, "CALL sp_generate_alerts(60)")  # alerts the existing backlog once
    backlog = overdue()
    quiesce(conn)
    measure()  # warm the buffer pool
    before = measure()
    customer = q(conn, "SELECT MIN(customer_id) FROM customers")[0][0]
    # Grow the overdue backlog 4x: open medium tickets, 4 days old (72 h target).
    added, target_added = 0, 3 * max(backlog, 1_000)
    while added < target_added:
        n = min(5_000, target_added - added)
        q(conn, "START TRANSACTION")
        q(conn, "INSERT INTO service_tickets (customer_id, subject, priority, created_at) VALUES "
                + ", ".join(["(%s, 'bench backlog', 'medium', UTC_TIMESTAMP() - INTERVAL 4 DAY)"]
                            * n), [customer] * n)
        q(conn, "COMMIT")
        added += n
    q(conn, "CALL sp_generate_alerts(60)")  # alerts the new backlog once
    grown = overdue()
    quiesce(conn)
    measure()
    after = measure()
    conn.close()
    fig = Figure("P7", f"sp_generate_alerts(60), steady state, after the overdue backlog grew "
                       f"{backlog} → {grown}",
                 "the same run before it grew", after, before, goal="≤ 1.3×")
    fig.passed = fig.ratio <= 1.3
    fig.notes.append("tests/test_integrity.py shows a pass blocks no move and no new ticket")
    return fig


def p3_single_action(target: Target, repeat: int, actions: int) -> Figure:
    conn = connect(target)
    make_copies(conn)
    pending = [r[0] for r in q(conn, "SELECT ticket_id FROM service_tickets WHERE "
                                     "current_status = 'pending' ORDER BY ticket_id "
                                     f"LIMIT {actions * repeat}")]
    available = q(conn, "SELECT COUNT(*) FROM service_tickets WHERE current_status = 'pending'")
    # leave at least two thirds of the pending tickets for P4's claims
    actions = min(len(pending), available[0][0] // 3) // repeat
    pending = pending[:actions * repeat]
    now = q(conn, "SELECT UTC_TIMESTAMP()")[0][0]
    app = connect(target, autocommit=False)
    trigger, naive, floor, checked = [], [], [], []
    # The trigger path closes real pending tickets, a different set each run;
    # the baselines do the same work on the trigger-less copies of those rows.
    for rep in range(repeat):
        a = b = c = d = pending[rep * actions:(rep + 1) * actions]

        def through_trigger(ids: list[int] = a) -> None:
            for tid in ids:
                q(app, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'close')",
                  (tid,))
                app.commit()

        def app_write(tid: int) -> None:
            q(app, "INSERT INTO bench_logs (ticket_id, action_type, from_status, to_status, "
                   "action_time) VALUES (%s, 'close', 'pending', 'closed', %s)", (tid, now))
            q(app, "UPDATE bench_tickets SET current_status = 'closed', closed_at = %s, "
                   "last_action_at = %s WHERE ticket_id = %s", (now, now, tid))

        def app_side(ids: list[int] = b) -> None:
            for tid in ids:
                app_write(tid)
                app.commit()

        def app_checked(ids: list[int] = d) -> None:
            for tid in ids:
                q(app, "SELECT current_status, priority, assigned_agent_id, created_at, "
                       "last_action_at FROM bench_tickets WHERE ticket_id = %s FOR UPDATE", (tid,))
                app_write(tid)
                app.commit()

        def bare_insert(ids: list[int] = c) -> None:
            for tid in ids:
                q(app, "INSERT INTO bench_logs (ticket_id, action_type, from_status, to_status, "
                       "action_time) VALUES (%s, 'close', 'pending', 'closed', %s)", (tid, now))
                app.commit()

        trigger.append(timed(through_trigger, settle=conn))
        naive.append(timed(app_side, settle=conn))
        floor.append(timed(bare_insert, settle=conn))
        # (c) resets the copies it closed, so that its reads see open tickets
        q(app, "UPDATE bench_tickets SET current_status = 'pending', closed_at = NULL, "
               f"last_action_at = NULL WHERE ticket_id IN ({','.join(map(str, d))})")
        app.commit()
        checked.append(timed(app_checked, settle=conn))
    app.close()
    conn.close()
    fig = Figure("P3", f"{actions} actions, one per transaction, through the status-flow "
                       "trigger (one INSERT)",
                 "(a) app on trigger-less copies: INSERT log + UPDATE ticket, one commit",
                 trigger, naive, goal="≤ 1.0× (a)")
    fig.notes.append(f"(b) the bare log INSERT alone: median {statistics.median(floor):.3f} s; "
                     f"trigger path is {fig.median / statistics.median(floor):.2f}× the floor")
    fig.notes.append(f"(c) for context, an application that reads and locks the ticket first "
                     f"(SELECT … FOR UPDATE, INSERT, UPDATE, one commit), as the trigger does: "
                     f"median {statistics.median(checked):.3f} s; trigger path is "
                     f"{fig.median / statistics.median(checked):.2f}× that")
    fig.passed = fig.ratio <= 1.0
    fig.extra = {"floor_runs": floor, "checked_runs": checked}  # type: ignore[attr-defined]
    return fig


def _claim_agent(target: Target, agent_id: int, start_at: float, stop_at: float,
                 results: multiprocessing.Queue) -> None:
    """One agent, in a process of its own (as agents are): claim until stop_at."""
    claimed: list[int] = []
    deadlocks = 0
    dry = False
    conn = connect(target)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            try:
                q(conn, "CALL sp_claim_next_ticket(%s, @t)", (agent_id,))
                got = q(conn, "SELECT @t")[0][0]
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in (1205, 1213):
                    raise
                deadlocks += 1
                continue
            if got is None:
                dry = True
                break
            claimed.append(got)
    finally:
        conn.close()
        results.put((claimed, deadlocks, dry, time.time()))


def p4_claims(target: Target, seconds: float) -> Figure:
    conn = connect(target)
    agents = [r[0] for r in q(conn, "SELECT agent_id FROM agents WHERE is_active LIMIT 8")]
    # Processes, not threads: eight threads of one Python process would share
    # one interpreter lock and measure the client, not the database.
    ctx = multiprocessing.get_context("fork")
    dry = [False]  # the queue ran out: the dataset is too small for the measurement

    def run(n_agents: int) -> tuple[float, list[int], int]:
        quiesce(conn)
        results = ctx.Queue()
        start_at = time.time() + 0.5  # every agent connected before the clock starts
        procs = [ctx.Process(target=_claim_agent,
                             args=(target, agents[i % len(agents)], start_at,
                                   start_at + seconds, results))
                 for i in range(n_agents)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"a P4 agent failed (exit code {proc.exitcode})")
        claimed = [t for c, _, _, _ in outcomes for t in c]
        dry[0] = dry[0] or any(d for _, _, d, _ in outcomes)
        ended = max(e for _, _, _, e in outcomes)
        return len(claimed) / (ended - start_at), claimed, sum(d for _, d, _, _ in outcomes)

    single, eight = [], []
    for _ in range(3):  # interleaved, so that neither side gets only the queue's tail
        single.append(run(1))
        eight.append(run(8))
    conn.close()
    claimed = [t for _, c, _ in single + eight for t in c]
    twice = len(claimed) - len(set(claimed))
    deadlocks = sum(d for _, _, d in single + eight)
    fig = Figure("P4", "sp_claim_next_ticket, 8 concurrent agents, one process each (claims/s)",
                 "the same with 1 agent", [r for r, _, _ in eight], [r for r, _, _ in single],
                 unit="claims/s", goal="≥ 1×; none claimed twice")
    fig.notes.append(f"claimed twice: {twice}; deadlocks or lock timeouts: {deadlocks}; "
                     f"{len(claimed)} claims in all")
    fig.passed = fig.ratio >= 1.0 and twice == 0
    if dry[0]:
        fig.notes.append("the queue of pending tickets ran out during the runs: the rates "
                         "are not comparable; use more tickets")
        fig.passed = None if twice == 0 else False
    return fig


def p5_deploy(srv: server.ThrowawayServer, repeat: int) -> list[Figure]:
    admin = connect(srv.target, database=None)
    round_trip = [timed(lambda: q(admin, "SELECT 1")) for _ in range(repeat * 20)]
    create = []
    for i in range(repeat):
        q(admin, "CREATE DATABASE IF NOT EXISTS bench_ddl")
        create.append(timed(lambda i=i: q(admin, f"CREATE TABLE bench_ddl.t{i} "
                                                 "(id INT PRIMARY KEY)")))
    q(admin, "DROP DATABASE bench_ddl")
    fresh, noop = [], []
    for i in range(repeat):
        target = srv.target.with_database(f"bench_up_{i}")
        fresh.append(timed(lambda t=target: migrate.up(t, lambda _line: None)))
        noop.append(timed(lambda t=target: migrate.up(t, lambda _line: None)))
    cli = []
    for i in range(repeat):
        target = srv.target.with_database(f"bench_up_{i}")
        cli.append(timed(lambda t=target: subprocess.run(
            [sys.executable, str(ROOT / "deploy.py"), "--url", t.url(), "up"],
            capture_output=True, check=True)))
        q(admin, f"DROP DATABASE bench_up_{i}")
    admin.close()
    full = Figure("P5", "up on an empty database (every file)", "one CREATE TABLE", fresh, create,
                  goal="report")
    trip = statistics.median(round_trip)
    full.notes.append(f"a bare SELECT 1 round trip: median {trip * 1e3:.3f} ms "
                      f"(up = {full.median / trip:.0f} round trips)")
    full.passed = None
    empty = Figure("P5", "no-op up (nothing pending), in-process", "a SELECT 1 round trip", noop,
                   round_trip, goal="under 1 s")
    empty.notes.append(f"`python deploy.py up` no-op as a process, interpreter start included: "
                       f"median {statistics.median(cli):.3f} s")
    empty.passed = max(noop) < 1.0 and statistics.median(cli) < 1.0
    return [full, empty]


def p6_sample(srv: server.ThrowawayServer, tickets: int) -> Figure:
    target = srv.target.with_database("bench_sample")
    migrate.up(target, lambda _line: None)
    quiet = Console(quiet=True)
    runs, bare = [], []
    counts: dict[str, int] = {}
    started = time.perf_counter()
    counts = sample.load(target, tickets, seed=11, console=quiet)
    elapsed = time.perf_counter() - started
    rows = counts["service_tickets"] + counts["ticket_logs"]
    runs.append(rows / elapsed)
    # The same ticket and log rows, bare: multi-row INSERTs into trigger-less copies.
    conn = connect(target, autocommit=False)
    q(conn, "CREATE TABLE bare_tickets LIKE service_tickets")
    q(conn, "CREATE TABLE bare_logs LIKE ticket_logs")
    ticket_rows = q(conn, "SELECT ticket_id, customer_id, category_id, subject, description, "
                          "priority, created_at FROM service_tickets")
    log_rows = q(conn, "SELECT ticket_id, action_type, agent_id, action_time FROM ticket_logs")

    def bare_load() -> None:
        with conn.cursor() as cur:
            for i in range(0, len(ticket_rows), sample.BATCH):
                cur.executemany("INSERT INTO bare_tickets (ticket_id, customer_id, category_id, "
                                "subject, description, priority, created_at) "
                                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                ticket_rows[i:i + sample.BATCH])
                conn.commit()
            for i in range(0, len(log_rows), sample.BATCH * 4):
                cur.executemany("INSERT INTO bare_logs (ticket_id, action_type, agent_id, "
                                "action_time) VALUES (%s, %s, %s, %s)",
                                log_rows[i:i + sample.BATCH * 4])
                conn.commit()

    bare.append(rows / timed(bare_load))
    conn.close()
    admin = connect(target)
    q(admin, "DROP DATABASE bench_sample")
    admin.close()
    fig = Figure("P6", f"deploy.py sample, {tickets} tickets + {counts['ticket_logs']} log rows "
                       "through the flow (rows/s)",
                 "bare multi-row INSERT of the same rows, no triggers", runs, bare,
                 unit="rows/s", goal="report")
    fig.notes.append(f"sample took {elapsed:.1f} s ({tickets / elapsed:.0f} tickets/s, "
                     f"{sample.WORKERS} connections)")
    return fig


def without_chain(text: str) -> str:
    """The flow trigger's file with the hash chain taken out (no row_hash, no
    log_head): the same trigger as before issue 14, part 2, for its cost."""
    text = re.sub(r"\n    SET NEW\.row_hash = fn_ticket_log_hash\([^;]*\);", "", text)
    return text.replace(",\n                log_head = NEW.row_hash", "")


def swap_flow_trigger(target: Target, chained: bool) -> None:
    f = next(f for f in repeatable_files(ROOT)
             if f.path.endswith("trg_ticket_logs_before_insert.sql"))
    if not chained:
        f = SqlFile(f.path, f.kind, None, f.description, without_chain(f.text))
        body = f.text.split("CREATE TRIGGER", 1)[1]
        assert "fn_ticket_log_hash" not in body and "log_head =" not in body, "chain still in"
    conn = connect(target)
    try:
        for st in f.run_statements:
            q(conn, st.text)
    finally:
        conn.close()


def chain_cost(srv: server.ThrowawayServer, target: Target, repeat: int, actions: int,
               tickets: int) -> list[Figure]:
    """What the hash chain costs P3 (one action per transaction) and P6
    (sample): the flow trigger as shipped against the same trigger with the
    chain taken out, swapped in turn on the same server."""
    conn = connect(target)
    pending = [r[0] for r in q(conn, "SELECT ticket_id FROM service_tickets WHERE "
                                     "current_status = 'pending' ORDER BY ticket_id DESC "
                                     f"LIMIT {2 * actions * repeat}")]
    conn.close()
    actions = len(pending) // (2 * repeat)
    app = connect(target, autocommit=False)
    chained, plain = [], []

    def close(ids: list[int]) -> None:
        for tid in ids:
            q(app, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'close')", (tid,))
            app.commit()

    settle = connect(target)
    for rep in range(repeat):
        batch = pending[2 * rep * actions:(2 * rep + 2) * actions]
        swap_flow_trigger(target, chained=True)
        chained.append(timed(lambda b=batch[:actions]: close(b), settle=settle))
        swap_flow_trigger(target, chained=False)
        plain.append(timed(lambda b=batch[actions:]: close(b), settle=settle))
    swap_flow_trigger(target, chained=True)
    app.close()
    p3 = Figure("P3h", f"P3's {actions} actions, one per transaction, with the hash chain",
                "the same flow trigger without the chain", chained, plain, goal="report")

    loads = {}
    for chained_run in (False, True):
        db = srv.target.with_database(f"bench_chain_{int(chained_run)}")
        migrate.up(db, lambda _line: None)
        swap_flow_trigger(db, chained=chained_run)
        started = time.perf_counter()
        counts = sample.load(db, tickets, seed=11, console=Console(quiet=True))
        loads[chained_run] = (counts["service_tickets"] + counts["ticket_logs"]) / (
            time.perf_counter() - started)
        admin = connect(db)
        q(admin, f"DROP DATABASE `{db.database}`")
        admin.close()
    settle.close()
    p6 = Figure("P6h", f"deploy.py sample, {tickets} tickets, with the hash chain (rows/s)",
                "the same without the chain", [loads[True]], [loads[False]], unit="rows/s",
                goal="report")
    return [p3, p6]


def p9_archive(srv: server.ThrowawayServer, rows: int, repeat: int) -> list[Figure]:
    """sp_archive_ticket_logs over `rows` log rows spread over 23 months, and
    sp_ticket_trace across 12 archives against a trace of live rows only."""
    target = srv.target.with_database("bench_archive")
    migrate.up(target, lambda _line: None)
    conn = connect(target)
    now = q(conn, "SELECT UTC_TIMESTAMP()")[0][0]

    def month_back(m: int) -> datetime:
        index = now.year * 12 + now.month - 1 - m
        return datetime(index // 12, index % 12 + 1, 1)

    per_ticket = 20
    tickets = max(1, rows // per_ticket)
    q(conn, "CREATE TABLE bench_seq (n INT PRIMARY KEY)")
    q(conn, "INSERT INTO bench_seq SELECT a.n * 100 + b.n * 10 + c.n FROM "
            "(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL "
            "SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL "
            "SELECT 8 UNION ALL SELECT 9) AS a, (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL "
            "SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL "
            "SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS b, "
            "(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL "
            "SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL "
            "SELECT 8 UNION ALL SELECT 9) AS c")
    q(conn, "INSERT INTO customers (name, email) VALUES ('Bench', 'bench@example.com')")
    q(conn, "INSERT INTO agents (name, email, department) "
            "VALUES ('Bench', 'bench-agent@example.com', 'support')")
    cid, aid = q(conn, "SELECT MAX(customer_id), (SELECT MAX(agent_id) FROM agents) "
                       "FROM customers")[0]
    first = month_back(24)
    span = int((month_back(1) - timedelta(days=per_ticket + 5) - first).total_seconds())
    # Tickets and their rows, written with the flow trigger out of the way
    # (the archive moves rows as they are and checks no flow); then the
    # triggers are put back from the files.
    for start in range(0, tickets, 1_000_000):
        count = min(1_000_000, tickets - start)
        q(conn, "INSERT INTO service_tickets (customer_id, subject, created_at) "
                "SELECT %s, 'Bench', %s + INTERVAL FLOOR(%s * (x.i + %s) / %s) SECOND "
                "FROM (SELECT a.n * 1000 + b.n AS i FROM bench_seq AS a, bench_seq AS b) AS x "
                "WHERE x.i < %s", (cid, first, span, start, tickets, count))
    q(conn, "DROP TRIGGER trg_ticket_logs_before_insert")
    low, high = q(conn, "SELECT MIN(ticket_id), MAX(ticket_id) FROM service_tickets")[0]
    for chunk in range(low, high + 1, 50_000):
        q(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, from_status, "
                "to_status, action_time, actor_login) SELECT t.ticket_id, 'reply', %s, "
                "'in_progress', 'in_progress', t.created_at + INTERVAL s.n DAY, 'bench' "
                "FROM service_tickets AS t JOIN bench_seq AS s ON s.n BETWEEN 1 AND %s "
                "WHERE t.ticket_id BETWEEN %s AND %s",
          (aid, per_ticket, chunk, min(high, chunk + 49_999)))
    # Two tickets to trace: one with two rows in each of the last 12 months
    # (archived), one with as many rows all in the live table.
    q(conn, "INSERT INTO service_tickets (customer_id, subject, created_at) VALUES "
            "(%s, 'Traced, archived', %s), (%s, 'Traced, live', %s)",
      (cid, month_back(12), cid, now - timedelta(hours=3)))
    archived_tid, live_tid = q(conn, "SELECT MIN(ticket_id), MAX(ticket_id) FROM "
                                     "service_tickets WHERE subject LIKE 'Traced%%'")[0]
    traced = [(archived_tid, month_back(m) + timedelta(days=d, hours=2))
              for m in range(12, 0, -1) for d in (3, 9)]
    traced += [(live_tid, now - timedelta(hours=2, minutes=-k)) for k in range(24)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO ticket_logs (ticket_id, action_type, agent_id, "
                        "action_time, actor_login) VALUES (%s, 'reply', %s, %s, 'bench')",
                        [(t, aid, at) for t, at in traced])
    reapply_triggers(target)
    total = q(conn, "SELECT COUNT(*) FROM ticket_logs")[0][0]
    cutoff = month_back(0).date()
    moving = q(conn, "SELECT COUNT(*) FROM ticket_logs WHERE action_time < %s", (cutoff,))[0][0]
    q(conn, "CREATE TABLE bare_src LIKE ticket_logs")
    q(conn, "CREATE TABLE bare_dst LIKE ticket_logs")
    q(conn, "INSERT INTO bare_src SELECT * FROM ticket_logs")
    conn.commit()
    console.print(f"  P9: {total:,} log rows, {moving:,} older than {cutoff}")

    def archive() -> None:
        q(conn, "CALL sp_archive_ticket_logs(%s)", (cutoff,))

    def bare() -> None:
        q(conn, "START TRANSACTION")
        q(conn, "INSERT INTO bare_dst SELECT * FROM bare_src WHERE action_time < %s", (cutoff,))
        q(conn, "DELETE FROM bare_src WHERE action_time < %s", (cutoff,))
        q(conn, "COMMIT")

    base = moving / timed(bare, settle=conn)
    run = moving / timed(archive, settle=conn)
    left = q(conn, "SELECT COUNT(*) FROM ticket_logs")[0][0]
    archived = q(conn, "SELECT SUM(rows_archived), COUNT(*) FROM ticket_log_archives")[0]
    assert left + archived[0] == total and archived[0] == moving, (left, archived, total)
    move = Figure("P9", f"sp_archive_ticket_logs, {moving:,} of {total:,} log rows into "
                        f"{archived[1]} monthly archives (rows/s)",
                  "one bare INSERT … SELECT + DELETE of the same rows, one transaction, "
                  "trigger-less copy", [run], [base], unit="rows/s", goal="report")
    move.notes.append(f"batches of 5,000 rows, each its own transaction; "
                      f"{base / run:.2f}× the bare statements' time")

    def traces(tid: int, calls: int = 300) -> None:
        with conn.cursor() as cur:
            for _ in range(calls):
                cur.execute("CALL sp_ticket_trace(%s)", (tid,))
                cur.fetchall()
                while cur.nextset():
                    pass

    assert len(q(conn, "CALL sp_ticket_trace(%s)", (archived_tid,))) == 24
    archived_runs, live_runs = [], []
    for _ in range(repeat):
        archived_runs.append(timed(lambda: traces(archived_tid)))
        live_runs.append(timed(lambda: traces(live_tid)))
    trace = Figure("P9t", "300 × sp_ticket_trace of a ticket with its 24 rows in 12 monthly "
                          "archives", "the same for a ticket with its 24 rows all live",
                   archived_runs, live_runs, goal="≤ 1.5×")
    trace.passed = trace.ratio <= 1.5
    q(conn, "DROP DATABASE bench_archive")
    conn.close()
    return [move, trace]


COLUMNS = ("id", "measure", "median", "min", "max", "baseline", "baseline median", "ratio",
           "goal", "met")


def rows(figures: list[dict]) -> list[list[str]]:
    """The table's rows, from the figures as saved in the JSON file."""

    def fmt(v: float, unit: str) -> str:
        if unit != "s":
            return f"{v:,.0f} {unit}"
        return f"{v * 1000:,.1f} ms" if v >= 0.001 else f"{v * 1000:.3f} ms"

    return [[f["id"], f["what"], fmt(f["median"], f["unit"]), fmt(f["min"], f["unit"]),
             fmt(f["max"], f["unit"]), f["baseline"], fmt(f["base_median"], f["unit"]),
             f"{f['ratio']:.2f}×", f["goal"], {True: "yes", False: "NO", None: "-"}[f["passed"]]]
            for f in figures]


def render(data: dict) -> Table:
    meta = data["meta"]
    table = Table(title=f"ticketdb bench: {meta['server']} on {meta['machine']}, {meta['date']}")
    for col in COLUMNS:
        table.add_column(col)
    for row in rows(data["figures"]):
        table.add_row(*row)
    return table


def markdown(data: dict) -> str:
    """A saved run as the README shows it: a line of context, the table, the notes."""
    meta = data["meta"]
    lines = [f"Latest run: {meta['date']}, {meta['server']}, {meta['machine']}, "
             f"{meta['tickets']:,} tickets, {meta['repeat']} repetitions.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(data["figures"])]
    lines.append("")
    lines += [f"- {f['id']}: {note}" for f in data["figures"] for note in f["notes"]]
    return "\n".join(lines)


def _dump_like(size: int) -> str:
    """SQL shaped like a mysqldump file: settings in executable comments, a
    procedure under DELIMITER, multi-row INSERTs of about 64 KB and small ones."""
    head = ("/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
            "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; END ;;\nDELIMITER ;\n")
    parts, total, i = [head], len(head), 0
    while total < size:
        if i % 2:
            text = ("INSERT INTO t VALUES " + ",".join(
                f"({i * 1000 + k},'row {k}; it''s \\'quoted\\'',NULL)" for k in range(1500))
                + ";\n")
        else:
            text = "".join(f"INSERT INTO t VALUES ({i * 1000 + k},'x -- y',1);\n"
                           for k in range(1500))
        parts.append(text)
        total += len(text)
        i += 1
    return "".join(parts)


def p8_split(repeat: int) -> Figure:
    """The splitter is linear: an 8 MB file takes about 4 times as long as a 2 MB one."""
    small, big = _dump_like(2 * 2**20), _dump_like(8 * 2**20)
    fig = Figure("P8", "split an 8 MB dump-shaped file", "split a 2 MB one",
                 [timed(lambda: split(big)) for _ in range(repeat)],
                 [timed(lambda: split(small)) for _ in range(repeat)],
                 goal="≤ 4.5× (linear)")
    fig.passed = fig.ratio <= 4.5
    fig.notes.append(f"{len(big) / 2**20 / fig.median:.1f} MB/s on the 8 MB file "
                     f"({len(split(big)):,} statements)")
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="print a saved run as a Markdown table (as in the README) and exit")
    parser.add_argument("--only-split", action="store_true",
                        help="run P8 (the splitter, no server) alone")
    parser.add_argument("--archive-rows", type=int, default=5_000_000,
                        help="log rows P9 archives (its own database)")
    parser.add_argument("--only", metavar="IDS",
                        help="comma-separated steps to run, e.g. P9,P3h (default: all)")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.only_split:
        fig = p8_split(args.repeat)
        meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "server": "no server",
                "machine": f"{platform.machine()}, {_cores()} cores, {_memory()}",
                "tickets": 0, "repeat": args.repeat}
        console.print(render(as_data(meta, [fig])))
        console.print(f"P8: {fig.notes[0]}")
        return 0
    # MySQL's own durability defaults (the test servers relax them for speed):
    # every commit is on disk, as in production.
    srv = server.start(extra_args=["--innodb-buffer-pool-size=6G",
                                   "--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"])
    figures: list[Figure] = []
    try:
        target = srv.target.with_database("ticketdb")
        admin = connect(srv.target, database=None)
        # The shipped events would escalate and alert in the middle of the
        # measurements (and take locks the harness needs): no scheduler here.
        q(admin, "SET GLOBAL event_scheduler = OFF")
        admin.close()
        console.print(f"server: {srv.kind} {srv.version}; loading {args.tickets} tickets")
        migrate.up(target, lambda _line: None)
        started = time.perf_counter()
        sample.load(target, args.tickets, console=console)
        console.print(f"sample loaded in {time.perf_counter() - started:.0f} s")
        steps = [
            ("P8", lambda: figures.append(p8_split(args.repeat))),
            ("P5", lambda: figures.extend(p5_deploy(srv, args.repeat))),
            ("P6", lambda: figures.append(p6_sample(srv, max(2_000, args.tickets // 50)))),
            ("P1", lambda: figures.append(p1_escalation(target, args.repeat))),
            ("P3", lambda: figures.append(p3_single_action(target, args.repeat, 1_000))),
            ("P4", lambda: figures.append(p4_claims(target, 3.0))),
            ("P2", lambda: figures.append(p2_overdue(target, args.repeat, 4 * args.tickets))),
            ("P7", lambda: figures.append(p7_alerts(target, args.repeat))),
            ("P3h", lambda: figures.extend(chain_cost(srv, target, args.repeat, 1_000,
                                                      max(2_000, args.tickets // 50)))),
            ("P9", lambda: figures.extend(p9_archive(srv, args.archive_rows, args.repeat))),
        ]
        if args.only:
            wanted = {s.strip() for s in args.only.split(",")}
            steps = [step for step in steps if step[0] in wanted]
        meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "server": f"{srv.kind} {srv.version}",
                "machine": f"{platform.machine()}, {_cores()} cores, {_memory()}",
                "tickets": args.tickets, "repeat": args.repeat}
        for name, step in steps:
            console.print(f"measuring {name} …")
            step()
            save(args.out, meta, figures)  # what is measured survives a later failure
    finally:
        srv.stop()
    console.print(render(as_data(meta, figures)))
    for f in figures:
        for note in f.notes:
            console.print(f"{f.id}: {note}")
    path = save(args.out, meta, figures)
    console.print(f"figures written to {path} and {args.out / 'latest.json'}")
    return 0


def as_data(meta: dict, figures: list[Figure]) -> dict:
    return {"meta": meta, "figures": [
        {**asdict(f), "median": f.median, "min": min(f.runs), "max": max(f.runs),
         "base_median": f.base_median, "ratio": f.ratio, **getattr(f, "extra", {})}
        for f in figures]}


def save(out: Path, meta: dict, figures: list[Figure]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = as_data(meta, figures)
    path = out / f"bench-{meta['date'].replace(' ', '-').replace(':', '')}.json"
    for p in (path, out / "latest.json"):
        p.write_text(json.dumps(data, indent=2, default=str))
    return path


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _memory() -> str:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(line for line in lines if line.startswith("MemTotal")).split()[1])
        return f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        return "unknown memory"


if __name__ == "__main__":
    sys.exit(main())
