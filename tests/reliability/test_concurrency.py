"""Claims under concurrency: real connections racing on a real server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from support import Background, agent, call, execute, one, query, ticket

from ticketdb.connection import connect


def claim_all(target, agent_id: int, claimed: list[int], barrier: threading.Barrier) -> None:
    conn = connect(target)
    try:
        barrier.wait()
        while True:
            execute(conn, "CALL sp_claim_next_ticket(%s, @t)", (agent_id,))
            got = one(conn, "SELECT @t")
            if got is None:
                return
            claimed.append(got)
    finally:
        conn.close()


def test_concurrent_claims_never_take_a_ticket_twice(fresh_db, fresh_conn):
    tickets = {ticket(fresh_conn, p, age=timedelta(minutes=5))
               for p in ("urgent", "high", "medium", "low") * 15}
    agents = [agent(fresh_conn) for _ in range(4)]
    results: list[list[int]] = [[] for _ in agents]
    barrier = threading.Barrier(len(agents))
    runs = [Background(lambda a=a, r=r: claim_all(fresh_db, a, r, barrier))
            for a, r in zip(agents, results, strict=True)]
    for run in runs:
        run.join()  # re-raises what a thread raised
    everything = [t for r in results for t in r]
    assert Counter(everything).most_common(1)[0][1] == 1, "a ticket was claimed twice"
    assert set(everything) == tickets
    assigns = query(fresh_conn, "SELECT ticket_id FROM ticket_logs WHERE action_type = 'assign' "
                                "GROUP BY ticket_id HAVING COUNT(*) > 1")
    assert assigns == ()


def test_a_waiting_claim_skips_the_locked_ticket(fresh_db, fresh_conn):
    first = ticket(fresh_conn, "urgent", age=timedelta(minutes=10))
    second = ticket(fresh_conn, "urgent", age=timedelta(minutes=5))
    holder = connect(fresh_db, autocommit=False)
    try:
        execute(holder, "SELECT ticket_id FROM service_tickets WHERE ticket_id = %s FOR UPDATE",
                (first,))
        execute(fresh_conn, "SET SESSION innodb_lock_wait_timeout = 5")
        started = time.monotonic()
        execute(fresh_conn, "CALL sp_claim_next_ticket(%s, @t)", (agent(fresh_conn),))
        assert one(fresh_conn, "SELECT @t") == second
        assert time.monotonic() - started < 2, "the claim queued behind the lock"
    finally:
        holder.rollback()
        holder.close()


def test_conversation_claim_race_has_one_winner(fresh_db, fresh_conn):
    with fresh_conn.cursor() as cur:
        cur.execute("INSERT INTO customers (name, email) VALUES ('Race', 'race@example.com')")
        cur.execute("INSERT INTO conversations (customer_id) VALUES (%s)", (cur.lastrowid,))
        conv = cur.lastrowid
    agents = [agent(fresh_conn) for _ in range(6)]
    outcomes: dict[int, int] = {}
    barrier = threading.Barrier(len(agents))

    def race(agent_id: int) -> None:
        conn = connect(fresh_db)
        try:
            barrier.wait()
            outcomes[agent_id] = call(conn, "sp_claim_conversation", conv, agent_id)[0]["claimed"]
        finally:
            conn.close()

    runs = [Background(lambda a=a: race(a)) for a in agents]
    for run in runs:
        run.join(60)  # re-raises what a thread raised
    winners = [a for a, won in outcomes.items() if won == 1]
    assert len(outcomes) == len(agents) and len(winners) == 1, outcomes
    assert one(fresh_conn, "SELECT agent_id FROM conversations WHERE conversation_id = %s",
               (conv,)) == winners[0]
