"""P7: one steady-state sp_generate_alerts run against one after the overdue backlog grew 4x."""



from harness import Figure, q, quiesce, timed

from ticketdb.connection import Target, connect


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
    fig.notes.append("tests/schema/test_integrity.py shows a pass blocks no move and no new ticket")
    return fig
