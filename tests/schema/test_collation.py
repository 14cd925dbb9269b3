"""Issue 13: the routines do not depend on the database's default collation.

A database created before `up` takes the server's default collation (MySQL 8:
utf8mb4_0900_ai_ci). Routine parameters, local variables and temporary-table
columns without a collation of their own inherit the database's; compared with
the tables' utf8mb4_unicode_ci columns they raise error 1267. Here the database
is created as utf8mb4_general_ci, which MariaDB and MySQL both know."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import (
    agent,
    call,
    customer,
    execute,
    log,
    month_start,
    old_history,
    one,
    query,
    state,
    ticket,
    utcnow,
)

from ticketdb import migrate, verify
from ticketdb.connection import connect
from ticketdb.sources import repeatable_files

OTHER = "utf8mb4_general_ci"


@pytest.fixture
def foreign_db(empty_db):
    admin = connect(empty_db, database=None)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{empty_db.database}` "
                    f"DEFAULT CHARACTER SET utf8mb4 COLLATE {OTHER}")
    admin.close()
    return empty_db


def _default_collation(c, schema):
    return one(c, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                  "WHERE SCHEMA_NAME = %s", (schema,))


def _exercise_every_routine(c):
    """The flow trigger, every procedure and the conversation triggers, each on
    a path that compares a parameter or variable with a column."""
    execute(c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    aid, other = agent(c), agent(c)
    tid = ticket(c, "urgent")
    for action in ("assign", "reply", "wait_customer", "resume", "resolve", "close"):
        log(c, tid, action, aid)
    log(c, tid, "reopen", aid)
    assert state(c, tid)["current_status"] == "in_progress"
    old = ticket(c, "medium", age=timedelta(days=2))
    assert call(c, "sp_escalate_priorities")[0]["escalated"] >= 1
    assert state(c, old)["priority"] == "high"
    call(c, "sp_assign_ticket", old, aid)
    call(c, "sp_assign_ticket", old, other)
    assert state(c, old)["assigned_agent_id"] == other
    fresh = ticket(c, "low")
    execute(c, "CALL sp_claim_next_ticket(%s, @claimed)", (aid,))
    assert one(c, "SELECT @claimed") == fresh
    late = ticket(c, "urgent", age=timedelta(days=1))
    call(c, "sp_generate_alerts", 60)
    assert one(c, "SELECT COUNT(*) FROM ticket_alerts WHERE ticket_id = %s", (late,)) == 1
    call(c, "sp_snapshot_urgent_tickets", one(c, "SELECT UTC_DATE()"))
    assert late in [r["ticket_id"] for r in call(c, "sp_overdue_report", 0)]
    assert len(call(c, "sp_ticket_trace", tid)) == 7
    call(c, "sp_agent_efficiency", "2000-01-01", "2999-01-01")
    call(c, "sp_apply_retention")
    assert call(c, "sp_verify_audit_trail", None) == []
    old_history(c, months=1)
    assert call(c, "sp_archive_ticket_logs", month_start(utcnow(c)).date())
    assert call(c, "sp_verify_audit_trail", None) == []
    assert call(c, "sp_seal_audit_trail")[0]["tickets_refused"] == 0
    log(c, tid, "reply", aid)
    assert call(c, "sp_seal_audit_trail")[0]["tickets_sealed"] == 1
    assert call(c, "sp_verify_audit_trail", None) == []
    cid = customer(c)
    execute(c, "INSERT INTO conversations (customer_id) VALUES (%s)", (cid,))
    conv = one(c, "SELECT LAST_INSERT_ID()")
    execute(c, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
               "VALUES (%s, 'customer', %s, 'hello')", (conv, cid))
    assert call(c, "sp_claim_conversation", conv, aid)[0]["claimed"] == 1
    call(c, "sp_mark_conversation_read", conv, "agent")
    assert one(c, "SELECT COUNT(*) FROM messages WHERE conversation_id = %s "
                  "AND is_read = 0", (conv,)) == 0
    execute(c, "UPDATE conversations SET status = 'pending' WHERE conversation_id = %s",
            (conv,))


def test_up_gives_a_foreign_database_the_projects_default_collation(foreign_db):
    lines: list[str] = []
    migrate.up(foreign_db, echo=lines.append)
    c = connect(foreign_db)
    try:
        assert _default_collation(c, foreign_db.database) == "utf8mb4_unicode_ci"
        assert any(OTHER in line and "utf8mb4_unicode_ci" in line for line in lines), lines
        collations = query(c, "SELECT DISTINCT DATABASE_COLLATION FROM information_schema.ROUTINES "
                              "WHERE ROUTINE_SCHEMA = DATABASE()")
        assert collations == (("utf8mb4_unicode_ci",),)
        _exercise_every_routine(c)
    finally:
        c.close()
    assert verify.verify(foreign_db) == []


def test_routines_created_under_another_default_still_work(fresh_db):
    """A database whose default was changed after up (or routines re-created by
    hand under another default): every routine names its own collations."""
    c = connect(fresh_db)
    try:
        execute(c, f"ALTER DATABASE `{fresh_db.database}` CHARACTER SET utf8mb4 COLLATE {OTHER}")
        for f in repeatable_files():
            for st in f.statements:
                execute(c, st.text)
        # The hash functions are migrations' (V025, V030, V031), not re-created
        # here; they name their collations too
        collations = query(c, "SELECT DISTINCT DATABASE_COLLATION FROM information_schema.ROUTINES "
                              "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME NOT IN "
                              "('fn_ticket_log_hash', 'fn_ticket_log_hash_seq', "
                              "'fn_audit_seal_hash') UNION "
                              "SELECT DISTINCT DATABASE_COLLATION FROM information_schema.TRIGGERS "
                              "WHERE TRIGGER_SCHEMA = DATABASE()")
        assert collations == ((OTHER,),)
        _exercise_every_routine(c)
    finally:
        c.close()


def test_verify_reports_a_database_default_that_differs(fresh_db):
    c = connect(fresh_db)
    try:
        execute(c, f"ALTER DATABASE `{fresh_db.database}` CHARACTER SET utf8mb4 COLLATE {OTHER}")
    finally:
        c.close()
    differences = verify.verify(fresh_db)
    assert any(d.startswith("database") and "collation" in d for d in differences), differences
