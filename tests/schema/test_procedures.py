"""The CALL API (docs/api.md), one test per behaviour, on a real server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import (
    agent,
    call,
    customer,
    execute,
    expect_error,
    flow_error,
    log,
    log_count,
    one,
    query,
    state,
    ticket,
    utcnow,
)

from ticketdb.connection import fetch_dicts

pytestmark = pytest.mark.usefixtures("scheduler_off")

# --- sp_assign_ticket ---------------------------------------------------------


def test_assign_ticket_assigns_then_transfers(conn):
    tid, first, second = ticket(conn), agent(conn), agent(conn)
    call(conn, "sp_assign_ticket", tid, first)
    call(conn, "sp_assign_ticket", tid, second)
    actions = query(conn, "SELECT action_type, agent_id FROM ticket_logs WHERE ticket_id = %s "
                    "ORDER BY log_id", (tid,))
    assert actions == (("assign", first), ("transfer", second))
    assert state(conn, tid)["assigned_agent_id"] == second


def test_assign_ticket_refuses_bad_input_and_changes_nothing(conn):
    tid, aid = ticket(conn), agent(conn)
    flow_error(conn, "CALL sp_assign_ticket(%s, NULL)", (tid,), match="needs an agent")
    flow_error(conn, "CALL sp_assign_ticket(424242, %s)", (aid,), match="no such ticket")
    call(conn, "sp_assign_ticket", tid, aid)
    flow_error(conn, "CALL sp_assign_ticket(%s, %s)", (tid, aid), match="already assigned")
    assert log_count(conn, tid) == 1


def test_assign_ticket_of_a_closed_ticket_is_refused(conn):
    tid = ticket(conn)
    log(conn, tid, "close")
    flow_error(conn, "CALL sp_assign_ticket(%s, %s)", (tid, agent(conn)),
               match="cannot 'assign' from 'closed'")


# --- sp_claim_next_ticket -----------------------------------------------------


def claim(conn, agent_id: int) -> int | None:
    execute(conn, "CALL sp_claim_next_ticket(%s, @claimed)", (agent_id,))
    return one(conn, "SELECT @claimed")


def test_claim_takes_highest_priority_then_earliest_deadline(fresh_conn):
    c = fresh_conn
    low = ticket(c, "low", age=timedelta(days=2))
    high_new = ticket(c, "high", age=timedelta(minutes=5))
    high_old = ticket(c, "high", age=timedelta(hours=3))
    urgent = ticket(c, "urgent", age=timedelta(minutes=1))
    taken = ticket(c, "urgent", age=timedelta(hours=1))
    log(c, taken, "assign", agent(c))
    aid = agent(c)
    order = [claim(c, aid) for _ in range(5)]
    assert order == [urgent, high_old, high_new, low, None]
    assert state(c, urgent)["assigned_agent_id"] == aid
    assert one(c, "SELECT note FROM ticket_logs WHERE ticket_id = %s", (urgent,)) == "claimed"


def test_claim_needs_an_active_agent(conn):
    flow_error(conn, "CALL sp_claim_next_ticket(%s, @t)", (agent(conn, active=False),),
               match="no such active agent")
    flow_error(conn, "CALL sp_claim_next_ticket(999999, @t)", match="no such active agent")


# --- sp_escalate_priorities ---------------------------------------------------


def escalated(conn) -> int:
    return call(conn, "sp_escalate_priorities")[0]["escalated"]


def test_shipped_rule_escalates_old_pending_unassigned_medium(fresh_conn):
    c = fresh_conn
    due = [ticket(c, "medium", age=timedelta(hours=25)) for _ in range(3)]
    young = ticket(c, "medium", age=timedelta(hours=23))
    low = ticket(c, "low", age=timedelta(days=3))
    assigned = ticket(c, "medium", age=timedelta(days=2))
    log(c, assigned, "assign", agent(c), at=utcnow(c) - timedelta(days=1))
    closed = ticket(c, "medium", age=timedelta(days=2))
    log(c, closed, "close")
    assert escalated(c) == 3
    for tid in due:
        assert state(c, tid)["priority"] == "high"
        rows = query(c, "SELECT old_priority, new_priority, agent_id FROM ticket_logs "
                     "WHERE ticket_id = %s AND action_type = 'escalate'", (tid,))
        assert rows == (("medium", "high", None),)
    for tid in (young, assigned, closed):
        assert state(c, tid)["priority"] == "medium"
    assert state(c, low)["priority"] == "low"
    assert escalated(c) == 0, "a second pass found the same tickets again"


def test_escalation_moves_the_deadline(fresh_conn):
    c = fresh_conn
    tid = ticket(c, "medium", age=timedelta(hours=30))
    created = state(c, tid)["created_at"]
    escalated(c)
    assert state(c, tid)["deadline"] == created + timedelta(hours=24)


def test_custom_rules_any_status_and_the_highest_target_wins(fresh_conn):
    c = fresh_conn
    execute(c, "UPDATE escalation_rules SET is_active = FALSE")
    execute(c, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes, "
               "only_status, only_unassigned) VALUES ('low', 'medium', 60, NULL, FALSE), "
               "('low', 'high', 120, 'in_progress', FALSE)")
    pending = ticket(c, "low", age=timedelta(minutes=90))
    working = ticket(c, "low", age=timedelta(minutes=150))
    log(c, working, "assign", agent(c), at=utcnow(c) - timedelta(minutes=100))
    waiting = ticket(c, "low", age=timedelta(minutes=150))
    log(c, waiting, "assign", agent(c), at=utcnow(c) - timedelta(minutes=100))
    log(c, waiting, "wait_customer", at=utcnow(c) - timedelta(minutes=90))
    fresh = ticket(c, "low", age=timedelta(minutes=30))
    assert escalated(c) == 3
    assert state(c, pending)["priority"] == "medium"
    assert state(c, working)["priority"] == "high"
    assert state(c, waiting)["priority"] == "medium"
    assert state(c, fresh)["priority"] == "low"
    assert one(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_type = 'escalate'") == 3
    assert one(c, "SELECT from_status, to_status, old_priority, new_priority FROM ticket_logs "
                  "WHERE action_type = 'escalate' AND ticket_id = %s", (waiting,)) == (
        "waiting_customer", "waiting_customer", "low", "medium")


def test_a_pass_raises_a_ticket_one_step_even_when_rules_chain(fresh_conn):
    # medium -> high and high -> urgent: a medium ticket old enough for both
    # becomes high, not urgent, in one pass; a high one becomes urgent
    c = fresh_conn
    execute(c, "UPDATE escalation_rules SET is_active = FALSE")
    execute(c, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes) "
               "VALUES ('medium', 'high', 60), ('high', 'urgent', 60)")
    medium = ticket(c, "medium", age=timedelta(hours=3))
    high = ticket(c, "high", age=timedelta(hours=3))
    assert escalated(c) == 2
    assert state(c, medium)["priority"] == "high"
    assert state(c, high)["priority"] == "urgent"
    assert one(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_type = 'escalate'") == 2
    assert escalated(c) == 1, "the next pass takes the next step"
    assert state(c, medium)["priority"] == "urgent"


def test_inactive_rules_do_nothing(fresh_conn):
    c = fresh_conn
    execute(c, "UPDATE escalation_rules SET is_active = FALSE")
    ticket(c, "medium", age=timedelta(days=2))
    assert escalated(c) == 0


def test_a_rule_must_raise_the_priority(conn):
    expect_error(conn, "INSERT INTO escalation_rules (from_priority, to_priority, "
                 "min_age_minutes) VALUES ('high', 'low', 10)", match="chk_escalation_rules_raises")


# --- sp_generate_alerts -------------------------------------------------------


def alerts(conn) -> list[tuple]:
    return list(query(conn, "SELECT ticket_id, alert_type, deadline FROM ticket_alerts "
                            "ORDER BY alert_id"))


def test_alerts_due_soon_and_overdue_once_each(fresh_conn):
    c = fresh_conn
    overdue = ticket(c, "urgent", age=timedelta(hours=3))
    soon = ticket(c, "urgent", age=timedelta(minutes=90))
    later = ticket(c, "urgent", age=timedelta(minutes=10))
    waiting = ticket(c, "urgent", age=timedelta(hours=3))
    log(c, waiting, "assign", agent(c), at=utcnow(c) - timedelta(hours=2))
    log(c, waiting, "wait_customer", at=utcnow(c) - timedelta(hours=1))
    assert call(c, "sp_generate_alerts", 60)[0]["alerts_written"] == 2
    got = {(t, kind) for t, kind, _ in alerts(c)}
    assert got == {(overdue, "overdue"), (soon, "due_soon")}
    assert later not in {t for t, _ in got}
    assert call(c, "sp_generate_alerts", 60)[0]["alerts_written"] == 0, "duplicate alerts"
    assert len(alerts(c)) == 2


def test_a_moved_deadline_is_alerted_again(fresh_conn):
    c = fresh_conn
    tid = ticket(c, "urgent", age=timedelta(minutes=100))
    aid = agent(c)
    log(c, tid, "assign", aid, at=utcnow(c) - timedelta(minutes=95))
    call(c, "sp_generate_alerts", 60)
    first_deadline = state(c, tid)["deadline"]
    log(c, tid, "wait_customer", at=utcnow(c) - timedelta(minutes=30))
    log(c, tid, "resume")
    assert state(c, tid)["deadline"] > first_deadline
    assert call(c, "sp_generate_alerts", 60)[0]["alerts_written"] == 1
    assert [a[2] for a in alerts(c)] == [first_deadline, state(c, tid)["deadline"]]


def test_alerts_window_must_be_sensible(conn):
    flow_error(conn, "CALL sp_generate_alerts(-1)", match="window")
    flow_error(conn, "CALL sp_generate_alerts(NULL)", match="window")


# --- sp_overdue_report --------------------------------------------------------


def test_overdue_report_contents_and_order(fresh_conn):
    c = fresh_conn
    aid = agent(c)
    very_late = ticket(c, "urgent", age=timedelta(hours=5))
    late = ticket(c, "high", age=timedelta(hours=25))
    log(c, late, "assign", aid, at=utcnow(c) - timedelta(hours=1))
    soon = ticket(c, "urgent", age=timedelta(minutes=100))
    ticket(c, "urgent", age=timedelta(minutes=10))  # due in 110 minutes: outside
    resolved = ticket(c, "urgent", age=timedelta(hours=5))
    log(c, resolved, "assign", aid, at=utcnow(c) - timedelta(hours=4))
    log(c, resolved, "resolve", at=utcnow(c) - timedelta(hours=3))
    rows = call(c, "sp_overdue_report", 60)
    assert [r["ticket_id"] for r in rows] == [very_late, late, soon]
    assert list(rows[0]) == ["ticket_id", "priority", "current_status", "assigned_agent_id",
                             "deadline", "minutes_left"]
    assert rows[0]["minutes_left"] == -180
    assert rows[1]["assigned_agent_id"] == aid and rows[1]["current_status"] == "in_progress"
    assert 19 <= rows[2]["minutes_left"] <= 20
    assert [r["ticket_id"] for r in call(c, "sp_overdue_report", 0)] == [very_late, late]


def test_overdue_scan_reads_the_index_alone(conn):
    # By name: MySQL 8's EXPLAIN has 12 columns (partitions, filtered), MariaDB's 10.
    plan = fetch_dicts(conn, "EXPLAIN SELECT ticket_id, priority, current_status, "
                             "assigned_agent_id, deadline FROM service_tickets WHERE "
                             "current_status IN ('pending', 'in_progress') AND "
                             "deadline < UTC_TIMESTAMP() ORDER BY deadline")
    row = plan[0]
    assert row["type"] == "range", plan
    assert row["key"] == "ix_tickets_status_deadline", plan
    assert "Using index" in row["Extra"], plan


# --- sp_agent_efficiency ------------------------------------------------------


def test_agent_efficiency_on_a_known_history(fresh_conn):
    c = fresh_conn
    ann, bob = agent(c, name="Ann"), agent(c, name="Bob")
    day = utcnow(c).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)

    def closed_ticket(who: int, reply_after: int | None, close_after: int) -> None:
        cid = customer(c)
        with c.cursor() as cur:
            cur.execute("INSERT INTO service_tickets (customer_id, subject, created_at) "
                        "VALUES (%s, 'x', %s)", (cid, day))
            tid = cur.lastrowid
        log(c, tid, "assign", who, at=day + timedelta(minutes=1))
        if reply_after is not None:
            log(c, tid, "reply", who, at=day + timedelta(minutes=reply_after))
        log(c, tid, "resolve", at=day + timedelta(minutes=close_after - 1))
        log(c, tid, "close", at=day + timedelta(minutes=close_after))

    closed_ticket(ann, 10, 100)
    closed_ticket(ann, 30, 200)
    closed_ticket(ann, None, 300)
    closed_ticket(bob, 5, 60)
    rows = call(c, "sp_agent_efficiency", day, day + timedelta(days=1))
    assert [(r["agent_name"], r["tickets_closed"]) for r in rows] == [("Ann", 3), ("Bob", 1)]
    assert float(rows[0]["avg_resolution_minutes"]) == 200.0
    assert float(rows[0]["avg_first_response_minutes"]) == 20.0
    assert float(rows[1]["avg_resolution_minutes"]) == 60.0
    assert call(c, "sp_agent_efficiency", day + timedelta(days=1), day + timedelta(days=2)) == []


def test_agent_efficiency_needs_a_period(conn):
    flow_error(conn, "CALL sp_agent_efficiency('2026-02-01', '2026-01-01')", match="in_from")


# --- sp_ticket_trace ----------------------------------------------------------


def test_trace_lists_the_log_in_order(conn):
    tid = ticket(conn, age=timedelta(hours=1))
    aid = agent(conn, name="Tracy")
    now = utcnow(conn)
    log(conn, tid, "assign", aid, at=now - timedelta(minutes=50))
    log(conn, tid, "reply", aid, at=now - timedelta(minutes=40))
    log(conn, tid, "resolve", at=now - timedelta(minutes=40))
    log(conn, tid, "close", at=now)
    rows = call(conn, "sp_ticket_trace", tid)
    assert [r["action_type"] for r in rows] == ["assign", "reply", "resolve", "close"]
    assert rows[0]["agent_name"] == "Tracy"
    assert [(r["from_status"], r["to_status"]) for r in rows][-1] == ("resolved", "closed")
    flow_error(conn, "CALL sp_ticket_trace(31337)", match="no such ticket")


# --- sp_snapshot_urgent_tickets -----------------------------------------------


def test_snapshot_twice_leaves_one_snapshot(fresh_conn):
    c = fresh_conn
    vip = customer(c, tier="vip")
    overdue = ticket(c, "high", age=timedelta(hours=30), customer_id=vip)
    urgent = ticket(c, "urgent", age=timedelta(minutes=1))
    ticket(c, "low", age=timedelta(minutes=1))  # due in 3 days: not on today's list
    today = utcnow(c).date()
    first = call(c, "sp_snapshot_urgent_tickets", today)
    assert first[0]["tickets"] == 2
    ticket(c, "urgent")
    second = call(c, "sp_snapshot_urgent_tickets", today)
    assert second[0]["tickets"] == 3
    rows = query(c, "SELECT ticket_id, reason, customer_tier FROM daily_urgent_tickets "
                    "WHERE snapshot_date = %s ORDER BY ticket_id", (today,))
    assert len(rows) == 3
    assert rows[0] == (overdue, "overdue", "vip")
    assert rows[1][0] == urgent and rows[1][1] in ("due_today", "urgent")
    assert one(c, "SELECT COUNT(DISTINCT snapshot_date) FROM daily_urgent_tickets") == 1


# --- conversations ------------------------------------------------------------


def conversation(conn, status: str = "open") -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO conversations (customer_id, status) VALUES (%s, %s)",
                    (customer(conn), status))
        return cur.lastrowid


def test_claim_conversation_once(conn):
    conv, first, second = conversation(conn), agent(conn), agent(conn)
    assert call(conn, "sp_claim_conversation", conv, first) == [{"claimed": 1}]
    assert call(conn, "sp_claim_conversation", conv, second) == [{"claimed": 0}]
    assert one(conn, "SELECT agent_id FROM conversations WHERE conversation_id = %s",
               (conv,)) == first
    closed = conversation(conn, status="closed")
    assert call(conn, "sp_claim_conversation", closed, first) == [{"claimed": 0}]
    flow_error(conn, "CALL sp_claim_conversation(777777, %s)", (first,),
               match="no such conversation")
    flow_error(conn, "CALL sp_claim_conversation(%s, 777777)", (conv,),
               match="not an active agent")


def test_mark_conversation_read_marks_the_other_side(conn):
    conv = conversation(conn)
    aid = agent(conn)
    for sender in ("customer", "customer", "agent"):
        execute(conn, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                      "VALUES (%s, %s, %s, 'hello')", (conv, sender, aid))
    assert call(conn, "sp_mark_conversation_read", conv, "agent") == [{"marked": 2}]
    assert call(conn, "sp_mark_conversation_read", conv, "agent") == [{"marked": 0}]
    assert call(conn, "sp_mark_conversation_read", conv, "customer") == [{"marked": 1}]
    flow_error(conn, "CALL sp_mark_conversation_read(%s, 'robot')", (conv,),
               match="reader type")
    flow_error(conn, "CALL sp_mark_conversation_read(888888, 'agent')",
               match="no such conversation")


def test_messages_go_with_their_conversation(conn):
    conv = conversation(conn)
    execute(conn, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                  "VALUES (%s, 'customer', 1, 'hi')", (conv,))
    execute(conn, "DELETE FROM conversations WHERE conversation_id = %s", (conv,))
    assert one(conn, "SELECT COUNT(*) FROM messages WHERE conversation_id = %s", (conv,)) == 0


@pytest.mark.parametrize("routine", [
    "sp_assign_ticket", "sp_claim_next_ticket", "sp_escalate_priorities", "sp_generate_alerts",
    "sp_overdue_report", "sp_agent_efficiency", "sp_ticket_trace", "sp_snapshot_urgent_tickets",
    "sp_claim_conversation", "sp_mark_conversation_read",
])
def test_every_routine_documents_itself(conn, routine):
    comment = one(conn, "SELECT ROUTINE_COMMENT FROM information_schema.ROUTINES "
                        "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = %s", (routine,))
    for section in ("Description", "Parameters", "Example"):
        assert section in comment
    assert f"CALL {routine}(" in comment
