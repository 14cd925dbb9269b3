"""Issue 10: the automation cannot be fooled, at any scale, in any time zone.

Sessions in other time zones, a backlog of 700,000 tickets, passes that must
not lock what they read, a KILL in the middle, arguments refused without
touching the caller's transaction, events that never overlap, retention."""

from __future__ import annotations

import time
from datetime import timedelta

import pymysql
import pytest
from support import (
    Background,
    agent,
    call,
    customer,
    execute,
    expect_error,
    log,
    one,
    query,
    state,
    ticket,
)

from ticketdb.connection import connect


@pytest.mark.parametrize("zone", ["-05:00", "+02:00", "+09:30"])
def test_defaults_are_utc_whatever_the_session_time_zone(db, zone):
    c = connect(db)
    try:
        execute(c, "SET time_zone = %s", (zone,))
        cid = customer(c)
        execute(c, "INSERT INTO service_tickets (customer_id, subject, priority) "
                   "VALUES (%s, 'clock test', 'urgent')", (cid,))
        tid = one(c, "SELECT LAST_INSERT_ID()")
        aid = agent(c)
        log(c, tid, "assign", aid)  # action_time by default
        execute(c, "INSERT INTO conversations (customer_id) VALUES (%s)", (cid,))
        conv = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                   "VALUES (%s, 'customer', %s, 'hello')", (conv, cid))
        execute(c, "UPDATE conversations SET status = 'pending' WHERE conversation_id = %s",
                (conv,))
        drift = query(c, "SELECT "
                         "ABS(TIMESTAMPDIFF(SECOND, t.created_at, UTC_TIMESTAMP())), "
                         "ABS(TIMESTAMPDIFF(SECOND, l.action_time, UTC_TIMESTAMP())), "
                         "ABS(TIMESTAMPDIFF(SECOND, cu.created_at, UTC_TIMESTAMP())), "
                         "ABS(TIMESTAMPDIFF(SECOND, v.updated_at, UTC_TIMESTAMP())), "
                         "ABS(TIMESTAMPDIFF(SECOND, m.created_at, UTC_TIMESTAMP())) "
                         "FROM service_tickets t JOIN ticket_logs l ON l.ticket_id = t.ticket_id "
                         "JOIN customers cu ON cu.customer_id = t.customer_id "
                         "JOIN conversations v ON v.customer_id = cu.customer_id "
                         "JOIN messages m ON m.conversation_id = v.conversation_id "
                         "WHERE t.ticket_id = %s", (tid,))[0]
        assert max(drift) < 60, f"a default followed the session's {zone}: {drift}"
        overdue = [r["ticket_id"] for r in call(c, "sp_overdue_report", 0)]
        assert tid not in overdue, "a new urgent ticket was born overdue"
        assert state(c, tid)["current_status"] == "in_progress"
    finally:
        c.close()


@pytest.mark.slow
def test_escalation_of_700000_tickets_in_one_call(fresh_db, fresh_conn, scheduler_off):
    """The old pass collected into a MEMORY table capped by max_heap_table_size
    (16 MiB by default) and died with error 1114 between 400k and 600k."""
    c = fresh_conn
    assert one(c, "SELECT @@max_heap_table_size") == 16 * 1024 * 1024  # the default
    cid = customer(c)
    execute(c, "CREATE TEMPORARY TABLE digits (d INT PRIMARY KEY)")
    execute(c, "INSERT INTO digits VALUES " + ", ".join(f"({i})" for i in range(1000)))
    execute(c, "CREATE TEMPORARY TABLE digits2 LIKE digits")
    execute(c, "INSERT INTO digits2 SELECT d FROM digits")
    execute(c, "INSERT INTO service_tickets (customer_id, subject, priority, created_at) "
               "SELECT %s, 'backlog', 'medium', UTC_TIMESTAMP() - INTERVAL 2 DAY "
               "FROM digits AS a CROSS JOIN digits2 AS b LIMIT 700000", (cid,))
    assert one(c, "SELECT COUNT(*) FROM service_tickets") == 700_000
    result = call(c, "sp_escalate_priorities")
    assert result == [{"escalated": 700_000}]
    assert one(c, "SELECT COUNT(*) FROM service_tickets WHERE priority = 'high'") == 700_000
    assert one(c, "SELECT COUNT(DISTINCT ticket_id) FROM ticket_logs WHERE action_type = "
                  "'escalate' AND old_priority = 'medium' AND new_priority = 'high'") == 700_000
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == 700_000


def test_the_alert_pass_does_not_block_moves_or_new_tickets(fresh_db, fresh_conn,
                                                            scheduler_off):
    """While a pass waits on a lock (here: an alert another session is writing
    for ticket x), it must hold no locks on the tickets it has read: an
    assign of an overdue ticket read before x and a new ticket go through."""
    c = fresh_conn
    early = ticket(c, "urgent", age=timedelta(hours=5))  # overdue, read first
    blocked = ticket(c, "urgent", age=timedelta(hours=3))  # overdue, read second
    aid = agent(c)
    holder = connect(fresh_db, autocommit=False)
    mover = connect(fresh_db)
    try:
        execute(holder, "INSERT INTO ticket_alerts (ticket_id, alert_type, deadline) "
                        "SELECT ticket_id, 'overdue', deadline FROM service_tickets "
                        "WHERE ticket_id = %s", (blocked,))
        passer = connect(fresh_db)
        run = Background(lambda: call(passer, "sp_generate_alerts", 60))
        deadline = time.monotonic() + 10
        while not str(one(c, "SELECT COALESCE(INFO, '') FROM information_schema.PROCESSLIST "
                             "WHERE ID = %s", (passer.thread_id(),))).startswith(
                "INSERT INTO ticket_alerts"):
            assert time.monotonic() < deadline, "the pass never reached the held alert"
            time.sleep(0.05)
        time.sleep(0.5)  # it is waiting for the holder now
        execute(mover, "SET SESSION innodb_lock_wait_timeout = 2")
        started = time.monotonic()
        call(mover, "sp_assign_ticket", early, aid)
        execute(mover, "INSERT INTO service_tickets (customer_id, subject, priority) "
                       "SELECT customer_id, 'new while the pass runs', 'urgent' "
                       "FROM service_tickets WHERE ticket_id = %s", (early,))
        assert time.monotonic() - started < 1.5, "a move waited for the alert pass"
        holder.rollback()
        assert run.join() == [{"alerts_written": 2}]
        passer.close()
    finally:
        holder.close()
        mover.close()
    assert state(c, early)["assigned_agent_id"] == aid


def test_alerts_cost_what_changed_and_follow_a_moved_deadline(fresh_conn, scheduler_off):
    c = fresh_conn
    tid = ticket(c, "medium", age=timedelta(hours=80))  # 72 h target: overdue
    assert call(c, "sp_generate_alerts", 60) == [{"alerts_written": 1}]
    assert state(c, tid)["alert_stage"] == 2
    assert call(c, "sp_generate_alerts", 60) == [{"alerts_written": 0}]
    # A pause moves the deadline 20 h on: due in 12 h, no alert yet.
    aid = agent(c)
    now = one(c, "SELECT UTC_TIMESTAMP()")
    log(c, tid, "assign", aid, at=now - timedelta(hours=21))
    log(c, tid, "wait_customer", at=now - timedelta(hours=20, minutes=30))
    log(c, tid, "resume", at=now - timedelta(minutes=30))
    assert state(c, tid)["alert_stage"] == 0
    assert call(c, "sp_generate_alerts", 60 * 13) == [{"alerts_written": 1}]
    kinds = query(c, "SELECT alert_type FROM ticket_alerts WHERE ticket_id = %s "
                     "ORDER BY alert_id", (tid,))
    assert kinds == (("overdue",), ("due_soon",))


def test_minutes_left_is_negative_as_soon_as_a_ticket_is_overdue(fresh_conn, scheduler_off):
    tid = ticket(fresh_conn, "urgent", age=timedelta(minutes=120, seconds=20))
    row = next(r for r in call(fresh_conn, "sp_overdue_report", 0) if r["ticket_id"] == tid)
    assert row["minutes_left"] == -1


@pytest.mark.parametrize(("proc", "args"), [
    ("sp_assign_ticket", (1, None)),
    ("sp_claim_next_ticket", (999999, "@t")),
    ("sp_generate_alerts", (-1,)),
    ("sp_snapshot_urgent_tickets", (None,)),
])
def test_a_refused_argument_leaves_the_callers_transaction_alone(db, proc, args):
    c = connect(db, autocommit=False)
    try:
        execute(c, "INSERT INTO categories (name) VALUES (%s)", (f"kept {proc}",))
        placeholders = ", ".join("@t" if a == "@t" else "%s" for a in args)
        expect_error(c, f"CALL {proc}({placeholders})", [a for a in args if a != "@t"],
                     code=1644, match="^ticketdb: ")
        assert one(c, "SELECT COUNT(*) FROM categories WHERE name = %s", (f"kept {proc}",)) == 1
        c.rollback()
    finally:
        c.close()


def test_a_killed_escalation_leaves_nothing_behind(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    cid = customer(c)
    execute(c, "INSERT INTO service_tickets (customer_id, subject, priority, created_at) "
               "SELECT %s, 'backlog', 'medium', UTC_TIMESTAMP() - INTERVAL 2 DAY "
               "FROM information_schema.COLUMNS AS a CROSS JOIN information_schema.COLLATIONS "
               "AS b LIMIT 40000", (cid,))
    victim = connect(fresh_db)
    killer = connect(fresh_db)
    try:
        run = Background(lambda: call(victim, "sp_escalate_priorities"))
        time.sleep(1.0)
        execute(killer, f"KILL QUERY {victim.thread_id()}")
        with pytest.raises(pymysql.MySQLError) as info:
            run.join()
        assert info.value.args[0] == 1317, info.value
        # The same pooled connection: nothing it inherited opens the guard.
        tid = one(victim, "SELECT MIN(ticket_id) FROM service_tickets")
        expect_error(victim, "UPDATE service_tickets SET priority = 'high' WHERE ticket_id = %s",
                     (tid,), code=1644, match="priority changes only through ticket_logs")
        assert one(victim, "SELECT COUNT(*) FROM ticketdb_flow_marks") == 0
        assert one(c, "SELECT COUNT(*) FROM ticket_logs") == 0
        assert one(c, "SELECT COUNT(*) FROM service_tickets WHERE priority = 'high'") == 0
        assert call(victim, "sp_escalate_priorities") == [{"escalated": 40000}]
    finally:
        victim.close()
        killer.close()


def test_retention_deletes_old_alerts_and_snapshots_by_the_settings(fresh_conn, scheduler_off):
    c = fresh_conn
    tid = ticket(c, "urgent", age=timedelta(hours=3))
    execute(c, "INSERT INTO ticket_alerts (ticket_id, alert_type, deadline, created_at) VALUES "
               "(%s, 'overdue', '2026-01-01', UTC_TIMESTAMP() - INTERVAL 40 DAY), "
               "(%s, 'overdue', '2026-01-02', UTC_TIMESTAMP() - INTERVAL 2 DAY)", (tid, tid))
    for days in (400, 10):
        call(c, "sp_snapshot_urgent_tickets", one(c, f"SELECT UTC_DATE() - INTERVAL {days} DAY"))
    assert call(c, "sp_apply_retention") == [{"alerts_deleted": 0, "snapshot_rows_deleted": 1}]
    execute(c, "UPDATE ticketdb_settings SET setting_value = 30 "
               "WHERE setting_name = 'alert_retention_days'")
    assert call(c, "sp_apply_retention") == [{"alerts_deleted": 1, "snapshot_rows_deleted": 0}]
    assert one(c, "SELECT COUNT(*) FROM ticket_alerts") == 1
    assert one(c, "SELECT COUNT(DISTINCT snapshot_date) FROM daily_urgent_tickets") == 1
