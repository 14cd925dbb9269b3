"""P3h and P6h: the hash chain's cost, the flow trigger with and without it on one server."""

import re
import time

from harness import Figure, q, timed
from rich.console import Console

from ticketdb import migrate, sample, server, what_runs
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT, SqlFile, repeatable_files


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
        for st in what_runs.statements(f):
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
