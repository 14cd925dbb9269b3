"""16 connections move tickets at random for 30 s (TICKETDB_STRESS_SECONDS) while
the escalation and alert procedures run every second. Afterwards every ticket
must equal the replay of its own log, no ticket may have been claimed twice,
and every accepted call must have left exactly its log row, every refused one
none, and no log row may claim anything but a true move of its ticket.
Deadlocks and lock wait timeouts that reach the caller are retried and
counted per call (sp_claim_next_ticket retries its own deadlocks first).
An exception in any thread fails the test."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pymysql
import pytest
from support import agent, customer, execute, query, ticket
from support.replay import PRIORITY_RANK, replay

from ticketdb.connection import connect

WORKERS = 16
SECONDS = float(os.environ.get("TICKETDB_STRESS_SECONDS", "30"))
RETRY = (1205, 1213)  # lock wait timeout, deadlock: the statement or transaction rolled back
OPEN = ("pending", "in_progress", "waiting_customer")


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.accepted: set[str] = set()
        self.refused: set[str] = set()
        self.claims: list[tuple[int, int]] = []
        self.created: dict[int, str] = {}
        self.errors: list[BaseException] = []

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


def with_retry(tally: Tally, fn, *args):
    for attempt in range(5):
        try:
            return fn(*args)
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in RETRY or attempt == 4:
                raise
            kind = "deadlocks" if exc.args[0] == 1213 else "lock timeouts"
            tally.add(f"{kind} reaching the caller, retried: {fn.__name__}")
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def create_ticket(conn, customer_id: int, priority: str) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO service_tickets (customer_id, subject, priority) "
                    "VALUES (%s, 'stress', %s)", (customer_id, priority))
        return cur.lastrowid


def claim_next(conn, agent_id: int) -> int | None:
    with conn.cursor() as cur:
        cur.execute("CALL sp_claim_next_ticket(%s, @t)", (agent_id,))
        cur.execute("SELECT @t")
        return cur.fetchone()[0]


def insert_log(conn, tid: int, action: str, who: int, token: str) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ticket_logs (ticket_id, action_type, agent_id, note) "
                    "VALUES (%s, %s, %s, %s)",
                    (tid, action, who if action in ("assign", "transfer", "reply") else None,
                     token))


def call_all(conn, sql: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql)
        while cur.nextset():
            pass


def guarded(body):
    """A thread body whose exception is kept for the test to re-raise."""
    def run(*args) -> None:
        tally = args[-2]
        try:
            body(*args)
        except BaseException as exc:
            with tally.lock:
                tally.errors.append(exc)
    return run


@guarded
def worker(target, n: int, tickets: list[int], agents: list[int], customer_id: int,
           tally: Tally, stop: threading.Event) -> None:
    rng = random.Random(n)
    conn = connect(target)
    me = agents[n % len(agents)]
    seq = 0
    try:
        while not stop.is_set():
            seq += 1
            op = rng.choice(["claim", "claim", "assign", "reply", "wait_customer", "resume",
                             "resolve", "close", "reopen", "transfer", "create"])
            tally.add("operations")
            if op == "create":
                priority = rng.choice(list(PRIORITY_RANK))
                tid = with_retry(tally, create_ticket, conn, customer_id, priority)
                with tally.lock:
                    tally.created[tid] = priority
                    tickets.append(tid)
                continue
            if op == "claim":
                got = with_retry(tally, claim_next, conn, me)
                with tally.lock:
                    if got is not None:
                        tally.claims.append((got, me))
                tally.add("claims" if got else "claims finding nothing")
                continue
            with tally.lock:
                tid = rng.choice(tickets)
            who = rng.choice(agents) if op in ("assign", "transfer") else me
            token = f"w{n}-{seq}"
            try:
                with_retry(tally, insert_log, conn, tid, op, who, token)
                with tally.lock:
                    tally.accepted.add(token)
                tally.add("moves accepted")
            except pymysql.err.OperationalError as exc:
                assert exc.args[0] == 1644 and exc.args[1].startswith("ticketdb: "), exc
                with tally.lock:
                    tally.refused.add(token)
                tally.add("moves refused")
    finally:
        conn.close()


@guarded
def automation(target, tally: Tally, stop: threading.Event) -> None:
    conn = connect(target)
    try:
        while not stop.wait(1.0):
            for sql, key in (("CALL sp_escalate_priorities()", "escalation runs"),
                             ("CALL sp_generate_alerts(60)", "alert runs")):
                with_retry(tally, call_all, conn, sql)
                tally.add(key)
    finally:
        conn.close()


@pytest.mark.slow
def test_sixteen_connections_keep_every_invariant(fresh_db, fresh_conn, capsys):
    c = fresh_conn
    agents = [agent(c) for _ in range(12)]
    execute(c, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes, "
               "only_status, only_unassigned) VALUES ('low', 'medium', 60, NULL, FALSE), "
               "('high', 'urgent', 120, 'in_progress', FALSE)")
    customer_id = customer(c)
    rng = random.Random(1)
    initial: dict[int, str] = {}
    for _ in range(300):
        p = rng.choice(list(PRIORITY_RANK))
        tid = ticket(c, p, age=timedelta(hours=rng.choice([1, 3, 30])), customer_id=customer_id)
        initial[tid] = p
    tally = Tally()
    tickets = list(initial)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(fresh_db, n, tickets, agents, customer_id,
                                                     tally, stop)) for n in range(WORKERS)]
    threads.append(threading.Thread(target=automation, args=(fresh_db, tally, stop)))
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    for exc in tally.errors:
        raise exc
    initial.update(tally.created)

    logs = defaultdict(list)
    with c.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT * FROM ticket_logs ORDER BY log_id")
        for row in cur.fetchall():
            logs[row["ticket_id"]].append(row)
        cur.execute("SELECT * FROM service_tickets")
        final = {r["ticket_id"]: r for r in cur.fetchall()}
    assert set(final) == set(initial)
    for tid, row in final.items():
        expected = replay(logs[tid], initial[tid])
        actual = {k: row[k] for k in expected}
        assert actual == expected, f"ticket {tid}: {actual} != replay {expected}"

    assert not [r for v in logs.values() for r in v if not r["actor_login"]], \
        "a log row does not say which login wrote it"

    claimed = Counter(t for t, _ in tally.claims)
    assert not [t for t, n in claimed.items() if n > 1], "a ticket was claimed twice"
    claim_rows = {(r[0], r[1]) for r in query(
        c, "SELECT ticket_id, agent_id FROM ticket_logs WHERE note = 'claimed'")}
    assert claim_rows == set(tally.claims)

    notes = {r[0] for r in query(c, "SELECT note FROM ticket_logs WHERE note LIKE 'w%%'")}
    assert notes == tally.accepted, "an accepted move has no log row, or a log row no caller"
    assert not notes & tally.refused, "a refused move left a log row"

    figures = dict(tally.counts)
    figures["tickets checked against their replayed log"] = len(final)
    figures["log rows replayed"] = sum(len(v) for v in logs.values())
    figures["escalate rows"] = sum(r["action_type"] == "escalate" for v in logs.values() for r in v)
    with capsys.disabled():
        print(f"\nstress, {WORKERS} connections for {SECONDS:.0f} s:")
        for key, value in sorted(figures.items()):
            print(f"  {key}: {value}")
    assert tally.counts["moves accepted"] > 100 and tally.counts["moves refused"] > 100
