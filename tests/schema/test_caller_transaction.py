"""Procedures that respect the caller's transaction (issue 23 item 4): the
per-ticket procedures work inside an open transaction (a ROLLBACK of the
caller undoes their work and the caller's, and an error undoes only theirs);
outside one they run their own and retry a real deadlock; the batch jobs
refuse to run inside one. Against the real server."""

from __future__ import annotations

import time

import pytest
from support import (
    Background,
    agent,
    bind_login,
    call,
    customer,
    execute,
    expect_error,
    flow_error,
    log,
    one,
    query,
    ticket,
)

from ticketdb.connection import connect


@pytest.fixture
def tx(db):
    """A connection in autocommit mode, as pymysql's recipe in docs/api.md
    opens it; each test starts its transactions explicitly."""
    c = connect(db)
    yield c
    c.rollback()
    c.close()


def _exists(conn, table: str, key: str, value: int) -> bool:
    return one(conn, f"SELECT COUNT(*) FROM {table} WHERE {key} = %s", (value,)) == 1


def test_open_transaction_probe(tx):
    execute(tx, "CALL sp_caller_transaction_open(@open)")
    assert one(tx, "SELECT @open") == 0
    execute(tx, "START TRANSACTION")
    execute(tx, "CALL sp_caller_transaction_open(@open)")
    assert one(tx, "SELECT @open") == 1
    tx.rollback()
    execute(tx, "SET autocommit = 0")
    try:
        execute(tx, "SELECT COUNT(*) FROM categories")
        execute(tx, "CALL sp_caller_transaction_open(@open)")
        assert one(tx, "SELECT @open") == 1
    finally:
        tx.rollback()
        execute(tx, "SET autocommit = 1")


def test_assign_inside_the_callers_transaction_is_rolled_back_with_it(tx):
    """The issue's case: an uncommitted INSERT, sp_assign_ticket, ROLLBACK."""
    cid, ag = customer(tx), agent(tx)
    execute(tx, "START TRANSACTION")
    execute(tx, "INSERT INTO service_tickets (customer_id, subject) VALUES (%s, 'new')", (cid,))
    tid = one(tx, "SELECT LAST_INSERT_ID()")
    execute(tx, "CALL sp_assign_ticket(%s, %s)", (tid, ag))
    assert one(tx, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (tid,)) == "in_progress"
    tx.rollback()
    assert not _exists(tx, "service_tickets", "ticket_id", tid)
    assert one(tx, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == 0


def test_a_refusal_inside_the_callers_transaction_undoes_only_its_own_work(tx):
    ag = agent(tx)
    tid = ticket(tx)
    log(tx, tid, "close", ag)
    execute(tx, "START TRANSACTION")
    execute(tx, "INSERT INTO categories (name) VALUES ('caller work 1')")
    cat = one(tx, "SELECT LAST_INSERT_ID()")
    flow_error(tx, "CALL sp_assign_ticket(%s, %s)", (tid, ag), match="cannot 'assign'")
    assert _exists(tx, "categories", "category_id", cat)  # the caller's work is still there
    execute(tx, "INSERT INTO categories (name) VALUES ('caller work 2')")
    tx.rollback()  # nothing was committed behind the caller's back
    assert not _exists(tx, "categories", "category_id", cat)
    assert one(tx, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (tid,)) == "closed"


def test_claim_next_inside_the_callers_transaction_is_rolled_back_with_it(tx):
    ag = agent(tx)
    tid = ticket(tx, "urgent")
    execute(tx, "START TRANSACTION")
    execute(tx, "CALL sp_claim_next_ticket(%s, @t)", (ag,))
    claimed = one(tx, "SELECT @t")
    assert claimed is not None
    tx.rollback()
    assert one(tx, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (claimed,)) == "pending"
    assert one(tx, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (claimed,)) == 0
    assert tid  # the urgent ticket made sure one was waiting


def test_conversation_procedures_inside_the_callers_transaction(tx):
    cid, ag = customer(tx), agent(tx)
    execute(tx, "INSERT INTO conversations (customer_id) VALUES (%s)", (cid,))
    conv = one(tx, "SELECT LAST_INSERT_ID()")
    execute(tx, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                "VALUES (%s, 'customer', %s, 'hi')", (conv, cid))
    execute(tx, "START TRANSACTION")
    assert call(tx, "sp_claim_conversation", conv, ag) == [{"claimed": 1}]
    assert call(tx, "sp_mark_conversation_read", conv, "agent") == [{"marked": 1}]
    tx.rollback()
    assert one(tx, "SELECT agent_id FROM conversations WHERE conversation_id = %s",
               (conv,)) is None
    assert one(tx, "SELECT is_read FROM messages WHERE conversation_id = %s", (conv,)) == 0


def test_merge_inside_the_callers_transaction_is_rolled_back_with_it(tx):
    keep, drop, sup = customer(tx), customer(tx), agent(tx)
    bind_login(tx, sup)
    execute(tx, "START TRANSACTION")
    call(tx, "sp_merge_customers", keep, drop, sup)
    assert not _exists(tx, "customers", "customer_id", drop)
    tx.rollback()
    assert _exists(tx, "customers", "customer_id", drop)
    assert one(tx, "SELECT COUNT(*) FROM customer_merges WHERE dropped_customer_id = %s",
               (drop,)) == 0


@pytest.mark.parametrize("job", [
    "sp_escalate_priorities()", "sp_generate_alerts(60)", "sp_apply_retention()",
    "sp_snapshot_urgent_tickets(UTC_DATE())", "sp_archive_ticket_logs('2020-01-01')",
])
def test_a_batch_job_refuses_to_run_inside_the_callers_transaction(tx, job):
    execute(tx, "START TRANSACTION")
    execute(tx, "INSERT INTO categories (name) VALUES (%s)", (f"before {job}",))
    cat = one(tx, "SELECT LAST_INSERT_ID()")
    flow_error(tx, f"CALL {job}", match="commits: call it outside a transaction")
    tx.rollback()  # the refusal committed nothing of the caller's
    assert not _exists(tx, "categories", "category_id", cat)


def _deadlocks(conn) -> int:
    return int(query(conn, "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")[0][1])


def _wait_for_the_agent_row(admin, caller_id: int, assign: Background) -> None:
    """Until the procedure waits for a row lock (the holder's agent row).
    INNODB_TRX is a cache refreshed only when it was not read for 0.1 s: poll
    slower than that."""
    deadline = time.monotonic() + 20
    while one(admin, "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                     "WHERE trx_mysql_thread_id = %s AND trx_state = 'LOCK WAIT'",
              (caller_id,)) == 0:
        if not assign.thread.is_alive():
            assign.join()  # it finished without waiting: show why
        assert time.monotonic() < deadline, "the procedure never waited for the agent row"
        time.sleep(0.25)


def test_a_real_deadlock_is_retried_inside_sp_assign_ticket(db):
    """The procedure holds the ticket and waits for the agent row another
    transaction has changed; that transaction then asks for the ticket:
    InnoDB rolls the lighter one (the procedure's) back with 1213, and the
    procedure retries and succeeds without the caller seeing the deadlock."""
    admin = connect(db)
    holder = connect(db, autocommit=False)
    caller = connect(db)
    try:
        ag, tid = agent(admin), ticket(admin)
        before = _deadlocks(admin)
        for n in range(40):  # weight: the holder has far more undo than the procedure
            execute(holder, "INSERT INTO categories (name) VALUES (%s)",
                    (f"deadlock weight {tid} {n}",))
        execute(holder, "UPDATE agents SET department = 'held' WHERE agent_id = %s", (ag,))
        caller_id = one(caller, "SELECT CONNECTION_ID()")
        assign = Background(lambda: execute(caller, "CALL sp_assign_ticket(%s, %s)", (tid, ag)))
        _wait_for_the_agent_row(admin, caller_id, assign)
        execute(holder, "SELECT ticket_id FROM service_tickets WHERE ticket_id = %s FOR UPDATE",
                (tid,))  # closes the circle; the procedure is the victim
        time.sleep(0.3)
        holder.rollback()
        assign.join()  # no error reached the caller
        assert _deadlocks(admin) == before + 1
        assert one(admin, "SELECT current_status, assigned_agent_id FROM service_tickets "
                          "WHERE ticket_id = %s", (tid,)) == ("in_progress", ag)
        assert one(admin, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == 1
    finally:
        holder.rollback()
        for c in (holder, caller, admin):
            c.close()


def test_a_deadlock_inside_the_callers_transaction_is_the_callers(db):
    """Inside the caller's transaction the procedure does not retry: InnoDB
    rolled the caller's whole transaction back, so the caller sees 1213."""
    admin = connect(db)
    holder = connect(db, autocommit=False)
    caller = connect(db)
    try:
        ag, tid = agent(admin), ticket(admin)
        for n in range(40):
            execute(holder, "INSERT INTO categories (name) VALUES (%s)",
                    (f"deadlock weight b {tid} {n}",))
        execute(holder, "UPDATE agents SET department = 'held' WHERE agent_id = %s", (ag,))
        caller_id = one(caller, "SELECT CONNECTION_ID()")
        execute(caller, "START TRANSACTION")

        def inside() -> None:
            expect_error(caller, "CALL sp_assign_ticket(%s, %s)", (tid, ag), code=1213)

        assign = Background(inside)
        _wait_for_the_agent_row(admin, caller_id, assign)
        execute(holder, "SELECT ticket_id FROM service_tickets WHERE ticket_id = %s FOR UPDATE",
                (tid,))
        holder.rollback()
        assign.join()
        caller.rollback()
        assert one(admin, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
                   (tid,)) == "pending"
    finally:
        holder.rollback()
        for c in (holder, caller, admin):
            c.close()
