"""P9 and P9t: the monthly archive against the bare INSERT … SELECT + DELETE
and against pt-archiver, and a trace across archives."""

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pymysql
from harness import Figure, console, q, quiesce, reapply_triggers, timed

from ticketdb import migrate, server
from ticketdb.connection import Target, connect


def month_back(now: datetime, m: int) -> datetime:
    """The first day of the month m months before now's."""
    index = now.year * 12 + now.month - 1 - m
    return datetime(index // 12, index % 12 + 1, 1)


@dataclass
class History:
    conn: pymysql.connections.Connection
    cutoff: date  # rows before it move
    total: int  # log rows
    moving: int  # log rows older than cutoff
    archived_tid: int  # a ticket with two rows in each of the last 12 months
    live_tid: int  # a ticket with as many rows, all this month


DIGITS = " UNION ALL ".join(f"SELECT {n}" + (" AS n" if n == 0 else "") for n in range(10))


def load(target: Target, rows: int) -> History:
    """`rows` log rows over 23 months in a fresh database at target: tickets
    of 20 rows each, one a day (so log_id order is not time order: a
    ticket's rows span three weeks), numbered and hashed like the flow's
    (ticket_seq 1-20, a 32-byte row_hash), written with the flow trigger out
    of the way (the archive moves rows as they are and checks no flow); then
    the triggers are put back from the files."""
    migrate.up(target, lambda _line: None)
    conn = connect(target)
    now = q(conn, "SELECT UTC_TIMESTAMP()")[0][0]

    def back(m: int) -> datetime:
        return month_back(now, m)

    per_ticket = 20
    tickets = max(1, rows // per_ticket)
    q(conn, "CREATE TABLE bench_seq (n INT PRIMARY KEY)")
    q(conn, f"INSERT INTO bench_seq SELECT a.n * 100 + b.n * 10 + c.n FROM ({DIGITS}) AS a, "
            f"({DIGITS}) AS b, ({DIGITS}) AS c")
    q(conn, "INSERT INTO customers (name, email) VALUES ('Bench', 'bench@example.com')")
    q(conn, "INSERT INTO agents (name, email, department) "
            "VALUES ('Bench', 'bench-agent@example.com', 'support')")
    cid, aid = q(conn, "SELECT MAX(customer_id), (SELECT MAX(agent_id) FROM agents) "
                       "FROM customers")[0]
    first = back(24)
    span = int((back(1) - timedelta(days=per_ticket + 5) - first).total_seconds())
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
                "to_status, action_time, actor_login, ticket_seq, row_hash) "
                "SELECT t.ticket_id, 'reply', %s, 'in_progress', 'in_progress', "
                "t.created_at + INTERVAL s.n DAY, 'bench', s.n, "
                "UNHEX(SHA2(CONCAT(t.ticket_id, ':', s.n), 256)) "
                "FROM service_tickets AS t JOIN bench_seq AS s ON s.n BETWEEN 1 AND %s "
                "WHERE t.ticket_id BETWEEN %s AND %s",
          (aid, per_ticket, chunk, min(high, chunk + 49_999)))
    # Two tickets to trace: one with two rows in each of the last 12 months
    # (archived), one with as many rows all in the live table.
    q(conn, "INSERT INTO service_tickets (customer_id, subject, created_at) VALUES "
            "(%s, 'Traced, archived', %s), (%s, 'Traced, live', %s)",
      (cid, back(12), cid, now - timedelta(hours=3)))
    archived_tid, live_tid = q(conn, "SELECT MIN(ticket_id), MAX(ticket_id) FROM "
                                     "service_tickets WHERE subject LIKE 'Traced%%'")[0]
    traced = [(archived_tid, back(m) + timedelta(days=d, hours=2))
              for m in range(12, 0, -1) for d in (3, 9)]
    traced += [(live_tid, now - timedelta(hours=2, minutes=-k)) for k in range(24)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO ticket_logs (ticket_id, action_type, agent_id, "
                        "action_time, actor_login) VALUES (%s, 'reply', %s, %s, 'bench')",
                        [(t, aid, at) for t, at in traced])
    reapply_triggers(target)
    total = q(conn, "SELECT COUNT(*) FROM ticket_logs")[0][0]
    cutoff = back(0).date()
    moving = q(conn, "SELECT COUNT(*) FROM ticket_logs WHERE action_time < %s", (cutoff,))[0][0]
    conn.commit()
    return History(conn, cutoff, total, moving, archived_tid, live_tid)


class MonthWatch:
    """Polls ticket_log_archives from its own connection while the archive
    runs: when each month's count first moved and when it stopped."""

    def __init__(self, target: Target, every: float = 0.05) -> None:
        self.conn = connect(target)
        q(self.conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self.every = every
        self.seen: dict[date, tuple[float, float, int]] = {}  # month: started, last, rows
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        previous = time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter()
            for month, rows in q(self.conn, "SELECT archive_month, rows_archived "
                                            "FROM ticket_log_archives"):
                started, _last, had = self.seen.get(month, (previous, previous, 0))
                if rows > had:
                    self.seen[month] = (started, now, rows)
                elif month not in self.seen and rows == 0:
                    self.seen[month] = (now, now, 0)
            self.conn.commit()
            previous = now
            time.sleep(self.every)

    def __enter__(self) -> "MonthWatch":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()

    def rates(self) -> list[tuple[date, int, float]]:
        """(month, rows, rows/s) in the order the months were archived."""
        return [(m, rows, rows / max(last - started, 1e-3))
                for m, (started, last, rows) in sorted(self.seen.items(), key=lambda i: i[1][0])
                if rows]


def pt_archiver(target: Target, table: str, dest: str, cutoff: date) -> None:
    """pt-archiver as a DBA runs it: bulk insert and delete, 5,000 rows a
    commit, from a trigger-less copy into another."""
    dsn = f"h={target.host},P={target.port},u={target.user},D={target.database}"
    if target.password:
        dsn += f",p={target.password}"
    done = subprocess.run(
        ["pt-archiver", "--source", f"{dsn},t={table}", "--dest", f"t={dest}",
         "--where", f"action_time < '{cutoff.isoformat()}'", "--bulk-insert", "--bulk-delete",
         "--limit", "5000", "--commit-each", "--no-check-charset", "--why-quit"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pt-archiver failed: {done.stderr[-800:]}")


def p9_archive(srv: server.ThrowawayServer, rows: int, repeat: int) -> list[Figure]:
    """sp_archive_ticket_logs over `rows` log rows spread over 23 months
    (rows/s, per month too), against one bare INSERT … SELECT + DELETE and
    pt-archiver on trigger-less copies; and sp_ticket_trace across 12
    archives against a trace of live rows only."""
    target = srv.target.with_database("bench_archive")
    history = load(target, rows)
    conn, cutoff, total, moving = history.conn, history.cutoff, history.total, history.moving
    for copy in ("bare_src", "bare_dst", "pt_src", "pt_dst"):
        q(conn, f"CREATE TABLE {copy} LIKE ticket_logs")
    q(conn, "INSERT INTO bare_src SELECT * FROM ticket_logs")
    conn.commit()
    console.print(f"  P9: {total:,} log rows, {moving:,} older than {cutoff}")

    def bare() -> None:
        q(conn, "START TRANSACTION")
        q(conn, "INSERT INTO bare_dst SELECT * FROM bare_src WHERE action_time < %s", (cutoff,))
        q(conn, "DELETE FROM bare_src WHERE action_time < %s", (cutoff,))
        q(conn, "COMMIT")

    base = moving / timed(bare, settle=conn)
    q(conn, "DROP TABLE bare_src, bare_dst")
    pt_rate = None
    if shutil.which("pt-archiver"):
        q(conn, "INSERT INTO pt_src SELECT * FROM ticket_logs")
        conn.commit()
        pt_rate = moving / timed(lambda: pt_archiver(target, "pt_src", "pt_dst", cutoff),
                                 settle=conn)
        left = q(conn, "SELECT (SELECT COUNT(*) FROM pt_src), (SELECT COUNT(*) FROM pt_dst)")[0]
        assert left == (total - moving, moving), left
    else:
        console.print("  P9: pt-archiver is not installed (Debian: apt-get install "
                      "percona-toolkit): its baseline is skipped")
    q(conn, "DROP TABLE pt_src, pt_dst")

    quiesce(conn)
    with MonthWatch(target) as watch:
        run = moving / timed(lambda: q(conn, "CALL sp_archive_ticket_logs(%s)", (cutoff,)))
    left = q(conn, "SELECT COUNT(*) FROM ticket_logs")[0][0]
    archived = q(conn, "SELECT SUM(rows_archived), COUNT(*) FROM ticket_log_archives")[0]
    assert left + archived[0] == total and archived[0] == moving, (left, archived, total)
    months = watch.rates()
    for month, n, rate in months:
        console.print(f"  P9: {month:%Y-%m} {n:,} rows at {rate:,.0f} rows/s")
    steady = months[-1][2] / months[0][2] if len(months) > 1 else 1.0

    move = Figure("P9", f"sp_archive_ticket_logs, {moving:,} of {total:,} log rows into "
                        f"{archived[1]} monthly archives (rows/s)",
                  "one bare INSERT … SELECT + DELETE of the same rows, one transaction, "
                  "trigger-less copy", [run], [base], unit="rows/s",
                  goal="≤ 1.5× the bare time; ≥ 2× pt-archiver's rows/s; last month within "
                       "20 % of the first")
    passed = base / run <= 1.5 and 0.8 <= steady <= 1.2
    move.notes.append(f"batches of 5,000 rows, each its own transaction; "
                      f"{base / run:.2f}× the bare statements' time")
    if pt_rate is not None:
        move.notes.append(f"pt-archiver (--bulk-insert --bulk-delete --limit 5000 "
                          f"--commit-each, trigger-less copy): {pt_rate:,.0f} rows/s; "
                          f"the archive moves {run / pt_rate:.2f}× as many rows a second")
        passed = passed and run >= 2 * pt_rate
    else:
        move.notes.append("pt-archiver not installed: its baseline was skipped")
    if months:
        move.notes.append(f"per month (in the order archived): first {months[0][2]:,.0f} "
                          f"rows/s, last {months[-1][2]:,.0f} rows/s ({steady:.2f}×); "
                          + ", ".join(f"{m:%Y-%m} {r:,.0f}" for m, _n, r in months))
    move.passed = passed
    move.extra = {"pt_archiver_rows_per_s": pt_rate,
                  "months": [[m.isoformat(), n, r] for m, n, r in months]}

    def traces(tid: int, calls: int = 300) -> None:
        with conn.cursor() as cur:
            for _ in range(calls):
                cur.execute("CALL sp_ticket_trace(%s)", (tid,))
                cur.fetchall()
                while cur.nextset():
                    pass

    archived_tid, live_tid = history.archived_tid, history.live_tid
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
