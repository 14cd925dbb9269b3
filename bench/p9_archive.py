"""P9 and P9t: the monthly archive against the bare INSERT … SELECT + DELETE,
and a trace across archives."""

from datetime import datetime, timedelta

from harness import Figure, console, q, reapply_triggers, timed

from ticketdb import migrate, server
from ticketdb.connection import connect


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
