"""P2: sp_overdue_report before and after the table grows 4x."""


from harness import Figure, q, quiesce, timed

from ticketdb.connection import Target, connect, fetch_dicts


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
