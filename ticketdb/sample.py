"""`deploy.py sample --tickets N`: believable data through the real status flow.

Tickets are inserted pending, as an application would; their history is then
written as ticket_logs rows in time order, and the status-flow trigger moves
every ticket, exactly as in production. Rows go in multi-row INSERTs of a few
thousand, one commit each, so a million tickets load in minutes.

About 5% of the tickets end up pending, unassigned, medium and older than a
day: the backlog the shipped escalation rule is for.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pymysql
from pymysql.connections import Connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ticketdb.connection import Target, connect
from ticketdb.errors import TicketdbError

BATCH = 2_000  # tickets per commit
WORKERS = 2  # connections loading tickets at once (the machines here have 2 cores)
CATEGORIES = ["Billing", "Login and accounts", "Shipping", "Returns", "Bug report",
              "Feature request", "Integrations", "Security", "Mobile app", "Other"]
SUBJECTS = ["Cannot log in", "Invoice shows the wrong amount", "Parcel has not arrived",
            "App crashes on start", "How do I export my data?", "Refund not received",
            "Two-factor code never arrives", "Webhook returns 500", "Change of address",
            "Password reset link expired", "Charged twice", "Feature: dark mode",
            "API rate limit too low", "Order arrived damaged", "Cannot upload attachments"]
FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi",
         "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma",
         "Vik", "Wen", "Yara", "Zoe"]
LAST = ["Okafor", "Schmidt", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Murphy",
        "Nguyen", "Rossi", "Larsen", "Ivanova", "Mendez", "Park", "Dubois"]
PRIORITIES = (["urgent"] * 5 + ["high"] * 20 + ["medium"] * 50 + ["low"] * 25)

Row = tuple


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _insert(conn: Connection, sql: str, rows: Sequence[Row]) -> None:
    if rows:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)


def _insert_ids(conn: Connection, sql: str, rows: Sequence[Row]) -> list[int]:
    """One multi-row INSERT (a "simple insert": InnoDB reserves its ids at
    once, consecutive, in every innodb_autoinc_lock_mode) whose key the
    server chooses, as it must (docs/security.md); returns the rows' ids."""
    with conn.cursor() as cur:
        cur.max_stmt_length = 1 << 30  # never split: the ids must be one block
        cur.executemany(sql, rows)
        assert cur.rowcount == len(rows), (cur.rowcount, len(rows))
        # consecutive by the increment: Galera steps AUTO_INCREMENT by the cluster size
        cur.execute("SELECT LAST_INSERT_ID(), @@session.auto_increment_increment")
        first, step = (int(v) for v in cur.fetchone())
    return list(range(first, first + step * len(rows), step))


def _next_id(conn: Connection, table: str, column: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}")
        return int(cur.fetchone()[0])


def history(rng: random.Random, created: datetime, now: datetime,
            agents: Sequence[int]) -> Iterator[Row]:
    """(action, agent_id, action_time) rows of one ticket's life, oldest first."""
    age_hours = (now - created).total_seconds() / 3600
    roll = rng.random()
    if age_hours > 72:
        target = ("pending" if roll < 0.10 else "in_progress" if roll < 0.14
                  else "waiting_customer" if roll < 0.17 else "resolved" if roll < 0.22
                  else "closed")
    else:
        target = ("pending" if roll < 0.25 else "in_progress" if roll < 0.45
                  else "waiting_customer" if roll < 0.55 else "resolved" if roll < 0.70
                  else "closed")
    if target == "pending":
        return
    if target == "closed" and rng.random() < 0.03:  # spam, closed unassigned
        closed = created + timedelta(minutes=rng.randint(1, 60))
        if closed < now - timedelta(minutes=1):
            yield "close", None, closed
        return
    agent = rng.choice(agents)
    t = created
    steps: list[tuple[str, int | None, timedelta]] = [
        ("assign", agent, timedelta(minutes=rng.randint(2, 240))),
        ("reply", agent, timedelta(minutes=rng.randint(1, 120))),
    ]
    if (target != "in_progress" and rng.random() < 0.35) or target == "waiting_customer":
        steps.append(("wait_customer", None, timedelta(minutes=rng.randint(5, 600))))
        if target != "waiting_customer":
            steps.append(("resume", None, timedelta(minutes=rng.randint(10, 2880))))
            steps.append(("reply", agent, timedelta(minutes=rng.randint(1, 60))))
    if rng.random() < 0.05 and target in ("in_progress", "waiting_customer", "resolved", "closed"):
        steps.insert(2, ("transfer", rng.choice(agents), timedelta(minutes=rng.randint(5, 300))))
    if target in ("resolved", "closed"):
        steps.append(("resolve", None, timedelta(minutes=rng.randint(10, 2880))))
    if target == "closed":
        steps.append(("close", None, timedelta(minutes=rng.randint(60, 4320))))
    # Stop where the ticket's life reaches the present.
    holder = agent
    for action, who, gap in steps:
        t = t + gap
        if t >= now - timedelta(minutes=1):
            return
        if action == "transfer":
            if who == holder:
                continue
            holder = who
        if action == "reply":
            who = holder
        yield action, who, t


def load(target: Target, tickets: int, *, seed: int = 42, console: Console | None = None,
         days: int = 90) -> dict[str, int]:
    """Add sample data; returns the number of rows written per table."""
    rng = random.Random(seed)
    console = console or Console()
    refuse_without_schema(target)
    conn = connect(target, autocommit=False)
    counts: dict[str, int] = {}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT UTC_TIMESTAMP()")
            now: datetime = cur.fetchone()[0]
        columns = [TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=False) as progress:
            counts.update(_people(conn, rng, tickets, now, progress))
            counts.update(_orders(conn, rng, now, progress))
            counts.update(_tickets(conn, target, seed, tickets, now, days, progress))
            counts.update(_conversations(conn, rng, tickets, now, progress))
            counts.update(_ratings(conn, rng, now, progress))
    finally:
        conn.close()
    return counts


class SampleError(TicketdbError):
    """sample cannot run here (exit 1)."""


def refuse_without_schema(target: Target) -> None:
    conn = connect(target, database=None)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'service_tickets'",
                        (target.database,))
            if cur.fetchone()[0] == 0:
                raise SampleError(f"database {target.database} has no ticketdb schema yet: "
                                  "run `deploy.py up` first")
    finally:
        conn.close()


def _people(conn: Connection, rng: random.Random, tickets: int, now: datetime,
            progress: Progress) -> dict[str, int]:
    n_customers = max(50, min(200_000, tickets // 5))
    n_agents = max(8, min(300, tickets // 400))
    task = progress.add_task("people", total=n_customers + n_agents)
    with conn.cursor() as cur:
        for name in CATEGORIES:
            cur.execute("INSERT INTO categories (name) SELECT %s FROM DUAL WHERE NOT EXISTS "
                        "(SELECT 1 FROM categories WHERE name = %s)", (name, name))
        cur.execute("SELECT category_id, name FROM categories")
        categories = cur.fetchall()
        for cid, cname in categories:
            for n in range(5):
                cur.execute("INSERT INTO kb_articles (category_id, title, content) "
                            "VALUES (%s, %s, %s)",
                            (cid, f"{cname}: {rng.choice(SUBJECTS).lower()} ({n + 1})",
                             f"Step-by-step help for {cname.lower()} questions. "
                             f"Start with your account settings, then contact support."))
    base = _next_id(conn, "agents", "agent_id")
    roles = ["agent"] * 8 + ["supervisor"]
    agents = [(f"{_name(rng)}", f"agent{base + i}@support.example.com",
               rng.choice(["support", "billing", "technical"]), rng.choice(roles))
              for i in range(n_agents)]
    _insert(conn, "INSERT INTO agents (name, email, department, role) VALUES (%s, %s, %s, %s)",
            agents)
    # the ids the server gave, read back: AUTO_INCREMENT steps by the cluster
    # size on Galera (and by auto_increment_increment anywhere)
    with conn.cursor() as cur:
        cur.execute("SELECT agent_id FROM agents WHERE agent_id >= %s AND email LIKE "
                    "'agent%%@support.example.com' ORDER BY agent_id", (base,))
        agent_ids = [r[0] for r in cur.fetchall()][-n_agents:]
    _insert(conn, "INSERT INTO agent_status (agent_id, status, last_seen) VALUES (%s, %s, %s)",
            [(agent_id, rng.choice(["online", "busy", "offline"]),
              now - timedelta(minutes=rng.randint(0, 600))) for agent_id in agent_ids])
    progress.advance(task, n_agents)
    base_c = _next_id(conn, "customers", "customer_id")
    for start in range(0, n_customers, 5_000):
        rows = [(_name(rng), f"customer{base_c + i}@mail.example.com",
                 f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
                 if rng.random() < 0.7 else None,
                 "vip" if rng.random() < 0.08 else "standard",
                 now - timedelta(days=rng.randint(91, 900)))
                for i in range(start, min(start + 5_000, n_customers))]
        _insert(conn, "INSERT INTO customers (name, email, phone, tier, created_at) "
                      "VALUES (%s, %s, %s, %s, %s)", rows)
        conn.commit()
        progress.advance(task, len(rows))
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM customers WHERE customer_id >= %s "
                    "ORDER BY customer_id", (base_c,))
        new_ids = [r[0] for r in cur.fetchall()]
    duplicates = _duplicate_customers(conn, rng, new_ids, now)
    return {"customers": n_customers + duplicates, "agents": n_agents,
            "categories": len(categories)}


def _orders(conn: Connection, rng: random.Random, now: datetime,
            progress: Progress) -> dict[str, int]:
    """Purchases over the last two years: the customers drawn as VIP above
    spend past vip_annual_spend in the last 12 months, the others less (a few
    come close); then sp_refresh_customer_tiers sets every tier from spend,
    as the daily event would. Ids are read back, not assumed consecutive."""
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id, tier FROM customers WHERE customer_id NOT IN "
                    "(SELECT customer_id FROM customer_orders)")
        people = cur.fetchall()
        cur.execute("SELECT setting_value FROM ticketdb_settings "
                    "WHERE setting_name = 'vip_annual_spend'")
        threshold = int(cur.fetchone()[0])
    task = progress.add_task("orders", total=len(people))
    rows: list[Row] = []
    written = 0
    for n, (cid, tier) in enumerate(people, 1):
        spend = threshold * (rng.uniform(1.05, 3.0) if tier == "vip" else rng.uniform(0.01, 0.9))
        count = rng.randint(2, 8)
        for _ in range(count):
            when = now - timedelta(days=rng.randint(0, 360), seconds=rng.randint(0, 86399))
            rows.append((cid, when, round(spend / count, 2), "EUR"))
        if rng.random() < 0.3:  # an older order, past the 12-month window
            rows.append((cid, now - timedelta(days=rng.randint(370, 720)),
                         round(rng.uniform(10, threshold), 2), "EUR"))
        if len(rows) >= 5_000 or n == len(people):
            _insert(conn, "INSERT INTO customer_orders (customer_id, ordered_at, amount, currency) "
                          "VALUES (%s, %s, %s, %s)", rows)
            conn.commit()
            written += len(rows)
            progress.advance(task, n - progress.tasks[task].completed)
            rows = []
    conn.commit()  # the refresh runs its own transaction
    with conn.cursor() as cur:
        cur.execute("CALL sp_refresh_customer_tiers()")
        while cur.nextset():
            pass
    conn.commit()
    return {"customer_orders": written}


def _duplicate_customers(conn: Connection, rng: random.Random, ids: list[int],
                         now: datetime) -> int:
    """About 1 in 100 customers signs up twice: the same name and phone with
    another email, or the same email typed in other case with spaces (which
    the rules refuse, so those become a second address at another domain)."""
    rows = []
    with conn.cursor() as cur:
        for cid in rng.sample(ids, min(len(ids), max(2, len(ids) // 100))):
            cur.execute("SELECT name, phone FROM customers WHERE customer_id = %s", (cid,))
            found = cur.fetchone()
            if found is None:
                continue
            name, phone = found
            rows.append((name, f"customer{cid}.second@mail.example.com",
                         phone or f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                         "standard", now - timedelta(days=rng.randint(1, 90))))
            if phone is None:  # the first one gets the same phone, so the pair is findable
                cur.execute("UPDATE customers SET phone = %s WHERE customer_id = %s",
                            (rows[-1][2], cid))
    _insert(conn, "INSERT INTO customers (name, email, phone, tier, created_at) "
                  "VALUES (%s, %s, %s, %s, %s)", rows)
    conn.commit()
    return len(rows)


def _tickets(conn: Connection, target: Target, seed: int, tickets: int, now: datetime,
             days: int, progress: Progress) -> dict[str, int]:
    """Tickets and their history, in batches of BATCH tickets spread over WORKERS
    connections. Each batch has its own random stream, so the data is the same
    whatever the number of workers."""
    with conn.cursor() as cur:
        cur.execute("SELECT agent_id FROM agents WHERE is_active")
        agents = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT customer_id FROM customers ORDER BY customer_id")
        customer_ids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT category_id FROM categories")
        categories = [r[0] for r in cur.fetchall()]
    task = progress.add_task("tickets", total=tickets)
    starts = iter(range(0, tickets, BATCH))
    lock = threading.Lock()
    written = [0]

    def worker() -> None:
        wconn = connect(target, autocommit=False)
        with wconn.cursor() as cur:
            # No gap locks between the two loaders: each writes its own tickets.
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        try:
            while True:
                with lock:
                    start = next(starts, None)
                if start is None:
                    return
                for attempt in range(1, 11):
                    rng = random.Random(f"{seed}:{start}")
                    try:
                        n_logs = _ticket_batch(wconn, rng, min(BATCH, tickets - start),
                                               now, days, agents, customer_ids, categories)
                        break
                    except pymysql.err.OperationalError as exc:
                        wconn.rollback()
                        if exc.args[0] not in (1205, 1213) or attempt == 10:
                            raise
                        time.sleep(0.05 * attempt)
                with lock:
                    written[0] += n_logs
                progress.advance(task, min(BATCH, tickets - start))
        finally:
            wconn.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(worker) for _ in range(WORKERS)]:
            future.result()
    return {"service_tickets": tickets, "ticket_logs": written[0], "interactions": tickets}


def _ticket_batch(conn: Connection, rng: random.Random, count: int,
                  now: datetime, days: int, agents: list[int], customers: list[int],
                  categories: list[int]) -> int:
    span = days * 86400
    ticket_rows, lives = [], []
    for _ in range(count):
        created = now - timedelta(seconds=int(span * rng.random() ** 1.3) + 120)
        customer = rng.choice(customers)
        ticket_rows.append((customer, rng.choice(categories), rng.choice(SUBJECTS),
                            "Reported through the help centre.", rng.choice(PRIORITIES),
                            created))
        lives.append((customer, created, rng.choice(["email", "phone", "chat", "web"]),
                      list(history(rng, created, now, agents))))
    ids = _insert_ids(conn, "INSERT INTO service_tickets (customer_id, category_id, "
                            "subject, description, priority, created_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s)", ticket_rows)
    first_id = ids[0]
    contacts = [(customer, tid, channel, created)
                for tid, (customer, created, channel, _life) in zip(ids, lives, strict=True)]
    log_rows = [(tid, action, agent, at)
                for tid, (_c, _created, _channel, life) in zip(ids, lives, strict=True)
                for action, agent, at in life]
    _insert(conn, "INSERT INTO interactions (customer_id, ticket_id, channel, occurred_at) "
                  "VALUES (%s, %s, %s, %s)", contacts)
    # History in the past goes through the import path: staged, then logged.
    _insert(conn, "INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
                  "VALUES (%s, %s, %s)", [(t, a, at) for t, a, _agent, at in log_rows])
    _insert(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
                  "VALUES (%s, %s, %s, %s)", log_rows)
    with conn.cursor() as cur:  # rows of the last minutes were not backdated: not consumed
        cur.execute("DELETE FROM ticket_log_imports WHERE ticket_id BETWEEN %s AND %s",
                    (first_id, first_id + count - 1))
    conn.commit()
    return len(log_rows)


RATING_WEIGHTS = (5, 7, 15, 33, 40)  # 1..5 stars, in percent
RATING_COMMENTS = ("Quick and friendly.", "Solved on the first try.", "Took too long.",
                   "Had to explain it twice.", "Great help, thanks!")


def _ratings(conn: Connection, rng: random.Random, now: datetime,
             progress: Progress) -> dict[str, int]:
    """About half the resolved and closed tickets get a rating, given within
    three days of the resolution; most are 4 or 5."""
    with conn.cursor() as cur:
        cur.execute("SELECT t.ticket_id, COALESCE(t.resolved_at, t.closed_at) "
                    "FROM service_tickets AS t WHERE t.current_status IN ('resolved', 'closed') "
                    "AND NOT EXISTS (SELECT 1 FROM ticket_ratings AS r "
                    "WHERE r.ticket_id = t.ticket_id) ORDER BY t.ticket_id")
        done = cur.fetchall()
    rows = []
    for tid, resolved in done:
        if rng.random() < 0.55:
            rating = rng.choices(range(1, 6), weights=RATING_WEIGHTS)[0]
            at = min(resolved + timedelta(minutes=rng.randint(5, 3 * 24 * 60)), now)
            comment = rng.choice(RATING_COMMENTS) if rng.random() < 0.3 else None
            rows.append((tid, rating, comment, at))
    task = progress.add_task("ratings", total=len(rows))
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        _insert(conn, "INSERT INTO ticket_ratings (ticket_id, rating, rating_comment, rated_at) "
                      "VALUES (%s, %s, %s, %s)", batch)
        conn.commit()
        progress.advance(task, len(batch))
    return {"ticket_ratings": len(rows)}


def _conversations(conn: Connection, rng: random.Random, tickets: int, now: datetime,
                   progress: Progress) -> dict[str, int]:
    n = max(20, tickets // 10)
    with conn.cursor() as cur:
        cur.execute("SELECT agent_id FROM agents WHERE is_active")
        agents = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT customer_id FROM customers")
        customers = [r[0] for r in cur.fetchall()]
    task = progress.add_task("conversations", total=n)
    messages = 0
    for start in range(0, n, BATCH):
        convs, talks = [], []
        for _ in range(start, min(start + BATCH, n)):
            created = now - timedelta(minutes=rng.randint(5, 60 * 24 * 30))
            status = rng.choice(["open", "open", "pending", "closed", "closed", "closed"])
            agent = None if status == "open" and rng.random() < 0.6 else rng.choice(agents)
            customer = rng.choice(customers)
            convs.append((customer, agent, status, created, created))
            t, talk = created, []
            for k in range(rng.randint(1, 6)):
                side = "customer" if k % 2 == 0 or agent is None else "agent"
                t += timedelta(seconds=rng.randint(20, 600))
                talk.append((side, customer if side == "customer" else agent,
                             rng.choice(["Hi, I need help.", "Thanks!", "Could you check?",
                                         "Done, please try again.", "It works now."]),
                             status == "closed" or rng.random() < 0.5, min(t, now)))
            talks.append(talk)
        ids = _insert_ids(conn, "INSERT INTO conversations (customer_id, agent_id, status, "
                                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s)", convs)
        msgs = [(cid, *m) for cid, talk in zip(ids, talks, strict=True) for m in talk]
        _insert(conn, "INSERT INTO messages (conversation_id, sender_type, sender_id, content, "
                      "is_read, created_at) VALUES (%s, %s, %s, %s, %s, %s)", msgs)
        conn.commit()
        messages += len(msgs)
        progress.advance(task, len(convs))
    return {"conversations": n, "messages": messages}
