"""P6: deploy.py sample rows/s against a bare multi-row INSERT."""

import time

from harness import Figure, q, timed
from rich.console import Console

from ticketdb import migrate, sample, server
from ticketdb.connection import connect


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
