"""The status flow (docs/api.md), driven by inserting ticket_logs rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import (
    agent,
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

STATUSES = ("pending", "in_progress", "waiting_customer", "resolved", "closed")

# action -> {from status: status afterwards}; everything else is refused.
ALLOWED = {
    "assign": {"pending": "in_progress"},
    "transfer": {"in_progress": "in_progress", "waiting_customer": "waiting_customer"},
    "reply": {"in_progress": "in_progress", "waiting_customer": "waiting_customer"},
    "wait_customer": {"in_progress": "waiting_customer"},
    "resume": {"waiting_customer": "in_progress"},
    "resolve": {"in_progress": "resolved", "waiting_customer": "resolved"},
    "close": {s: "closed" for s in ("pending", "in_progress", "waiting_customer", "resolved")},
    "reopen": {"resolved": "in_progress", "closed": "in_progress"},
    "escalate": {s: s for s in ("pending", "in_progress", "waiting_customer")},
}
CASES = [(a, s) for a in ALLOWED for s in STATUSES]


def ticket_in(conn, status: str) -> tuple[int, int | None]:
    """A low-priority ticket brought to `status` through the flow; returns (ticket, agent)."""
    tid = ticket(conn, priority="low", age=timedelta(hours=2))
    if status == "pending":
        return tid, None
    aid = agent(conn)
    start = state(conn, tid)["created_at"]
    log(conn, tid, "assign", aid, at=start + timedelta(minutes=1))
    path = {"in_progress": [], "waiting_customer": ["wait_customer"], "resolved": ["resolve"],
            "closed": ["resolve", "close"]}[status]
    for n, action in enumerate(path, start=2):
        log(conn, tid, action, at=start + timedelta(minutes=n))
    assert state(conn, tid)["current_status"] == status
    return tid, aid


def attempt(conn, tid: int, action: str) -> None:
    extra = {"new_priority": "high"} if action == "escalate" else {}
    needs_agent = action in ("assign", "transfer", "reply")
    log(conn, tid, action, agent(conn) if needs_agent else None, **extra)


@pytest.mark.parametrize(("action", "from_status"), CASES, ids=[f"{a}-from-{s}" for a, s in CASES])
def test_every_move_allowed_or_refused(conn, action, from_status):
    tid, _ = ticket_in(conn, from_status)
    before, logs_before = state(conn, tid), log_count(conn, tid)
    expected = ALLOWED[action].get(from_status)
    if expected is None:
        message = flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, "
                             "new_priority) VALUES (%s, %s, %s, %s)",
                             (tid, action, agent(conn) if action in ("assign", "transfer", "reply")
                              else None, "high" if action == "escalate" else None))
        assert message == f"ticketdb: ticket {tid}: cannot '{action}' from '{from_status}'"
        assert state(conn, tid) == before, "a refused move changed the ticket"
        assert log_count(conn, tid) == logs_before, "a refused move left a log row"
        return
    attempt(conn, tid, action)
    after = state(conn, tid)
    assert after["current_status"] == expected
    row = one(conn, "SELECT from_status, to_status FROM ticket_logs WHERE ticket_id = %s "
              "ORDER BY log_id DESC LIMIT 1", (tid,))
    assert row == (from_status, expected)
    assert log_count(conn, tid) == logs_before + 1


def test_assign_sets_agent_and_in_progress(conn):
    tid, aid = ticket_in(conn, "in_progress")
    assert state(conn, tid)["assigned_agent_id"] == aid


def test_transfer_changes_agent_and_keeps_status(conn):
    tid, _first = ticket_in(conn, "waiting_customer")
    second = agent(conn)
    log(conn, tid, "transfer", second)
    s = state(conn, tid)
    assert (s["assigned_agent_id"], s["current_status"]) == (second, "waiting_customer")


def test_transfer_to_the_same_agent_is_refused(conn):
    tid, aid = ticket_in(conn, "in_progress")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
               "VALUES (%s, 'transfer', %s)", (tid, aid), match="already assigned")


def test_assign_needs_an_active_agent(conn):
    tid = ticket(conn)
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'assign')",
               (tid,), match="needs an agent_id")
    inactive = agent(conn, active=False)
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
               "VALUES (%s, 'assign', %s)", (tid, inactive), match="is not active")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
               "VALUES (%s, 'assign', 999999)", (tid,), match="no such agent")
    assert log_count(conn, tid) == 0


def test_first_reply_sets_first_response_at_once(conn):
    tid, aid = ticket_in(conn, "in_progress")
    now = utcnow(conn)
    first = now - timedelta(minutes=20)
    log(conn, tid, "reply", aid, at=first)
    log(conn, tid, "reply", aid, at=now)
    assert state(conn, tid)["first_response_at"] == first


def test_reply_needs_an_agent(conn):
    tid, _ = ticket_in(conn, "in_progress")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'reply')",
               (tid,), match="'reply' needs an agent_id")


def test_resolve_and_close_take_the_log_rows_time(conn):
    tid, _ = ticket_in(conn, "in_progress")
    now = utcnow(conn)
    log(conn, tid, "resolve", at=now - timedelta(minutes=10))
    log(conn, tid, "close", at=now - timedelta(minutes=5))
    s = state(conn, tid)
    assert s["resolved_at"] == now - timedelta(minutes=10)
    assert s["closed_at"] == now - timedelta(minutes=5)


def test_reopen_clears_times_and_returns_to_the_agent(conn):
    tid, aid = ticket_in(conn, "closed")
    log(conn, tid, "reopen")
    s = state(conn, tid)
    assert (s["current_status"], s["assigned_agent_id"]) == ("in_progress", aid)
    assert s["resolved_at"] is None and s["closed_at"] is None


def test_reopen_of_an_unassigned_ticket_goes_back_to_pending(conn):
    tid = ticket(conn)
    log(conn, tid, "close")
    log(conn, tid, "reopen")
    assert state(conn, tid)["current_status"] == "pending"


def test_escalate_changes_priority_and_logs_both(conn):
    tid, _ = ticket_in(conn, "in_progress")
    log(conn, tid, "escalate", new_priority="urgent")
    assert state(conn, tid)["priority"] == "urgent"
    row = one(conn, "SELECT old_priority, new_priority, from_status, to_status FROM ticket_logs "
              "WHERE ticket_id = %s AND action_type = 'escalate'", (tid,))
    assert row == ("low", "urgent", "in_progress", "in_progress")


def test_escalate_must_raise_the_priority(conn):
    tid = ticket(conn, priority="high")
    for lower in ("high", "medium"):
        flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, new_priority) "
                   "VALUES (%s, 'escalate', %s)", (tid, lower), match="must raise the priority")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'escalate')",
               (tid,), match="must raise the priority")


def test_only_escalate_changes_priority(conn):
    tid, aid = ticket_in(conn, "in_progress")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, new_priority) "
               "VALUES (%s, 'reply', %s, 'urgent')", (tid, aid), match="only escalate")


def test_pause_and_resume_add_the_paused_minutes_to_the_deadline(conn):
    tid, _ = ticket_in(conn, "in_progress")
    base = state(conn, tid)["deadline"]
    now = utcnow(conn)
    log(conn, tid, "wait_customer", at=now - timedelta(minutes=50))
    assert state(conn, tid)["waiting_since"] == now - timedelta(minutes=50)
    log(conn, tid, "resume", at=now - timedelta(minutes=5))
    log(conn, tid, "wait_customer", at=now - timedelta(minutes=4))
    log(conn, tid, "resume", at=now)
    s = state(conn, tid)
    assert s["paused_minutes"] == 45 + 4
    assert s["deadline"] == base + timedelta(minutes=49)
    assert s["waiting_since"] is None


def test_resolving_while_waiting_counts_the_pause(conn):
    tid, _ = ticket_in(conn, "in_progress")
    now = utcnow(conn)
    log(conn, tid, "wait_customer", at=now - timedelta(minutes=30))
    log(conn, tid, "resolve", at=now)
    assert state(conn, tid)["paused_minutes"] == 30


def test_log_rows_supply_from_and_to_status(conn):
    tid = ticket(conn)
    aid = agent(conn)
    log(conn, tid, "assign", aid)
    assert one(conn, "SELECT CONCAT(from_status, '>', to_status) FROM ticket_logs "
               "WHERE ticket_id = %s", (tid,)) == "pending>in_progress"


def test_a_log_row_that_contradicts_the_ticket_is_refused(conn):
    tid = ticket(conn)
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, from_status) "
               "VALUES (%s, 'assign', %s, 'closed')", (tid, agent(conn)),
               match="the log row says 'closed' but the ticket is 'pending'")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, to_status) "
               "VALUES (%s, 'close', 'resolved')", (tid,), match="leads to 'closed'")


def test_imported_history_replays_exactly(conn):
    tid = ticket(conn, priority="high", age=timedelta(days=3))
    aid = agent(conn)
    created = state(conn, tid)["created_at"]
    times = [created + timedelta(minutes=m) for m in (5, 20, 60, 180, 200, 300)]
    for action, at in zip(("assign", "reply", "wait_customer", "resume", "resolve", "close"),
                          times, strict=True):
        log(conn, tid, action, aid if action in ("assign", "reply") else None, at=at)
    s = state(conn, tid)
    assert s["first_response_at"] == times[1]
    assert s["paused_minutes"] == 120
    assert s["resolved_at"] == times[4] and s["closed_at"] == times[5]
    assert s["deadline"] == created + timedelta(hours=24, minutes=120)


def test_action_time_must_follow_the_ticket(conn):
    tid = ticket(conn, age=timedelta(hours=2))
    created = state(conn, tid)["created_at"]
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
               "VALUES (%s, 'close', %s)", (tid, created - timedelta(minutes=1)),
               match="before the ticket was created")
    log(conn, tid, "assign", agent(conn), at=created + timedelta(minutes=30))
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
               "VALUES (%s, 'close', %s)", (tid, created + timedelta(minutes=10)),
               match="before the ticket's last logged action")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
               "VALUES (%s, 'close', %s)", (tid, utcnow(conn) + timedelta(hours=1)),
               match="in the future")


def test_unknown_ticket_is_refused(conn):
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (987654, 'close')",
               match="ticket 987654: no such ticket")


def test_invalid_action_type_is_the_servers_enum_error(conn):
    tid = ticket(conn)
    expect_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'delete')",
                 (tid,), code=1265)
    assert log_count(conn, tid) == 0


def test_ticket_logs_are_append_only(conn):
    tid, _ = ticket_in(conn, "in_progress")
    lid = one(conn, "SELECT MAX(log_id) FROM ticket_logs WHERE ticket_id = %s", (tid,))
    flow_error(conn, "UPDATE ticket_logs SET note = 'edited' WHERE log_id = %s", (lid,),
               match=f"append-only \\(log {lid} cannot be updated\\)")
    flow_error(conn, "DELETE FROM ticket_logs WHERE log_id = %s", (lid,),
               match="append-only")
    assert log_count(conn, tid) == 1


@pytest.mark.parametrize(("assignment", "column"), [
    ("current_status = 'closed'", "current_status"),
    ("priority = 'urgent'", "priority"),
    ("assigned_agent_id = NULL", "assigned_agent_id"),
    ("resolved_at = UTC_TIMESTAMP()", "resolved_at"),
    ("paused_minutes = 500", "paused_minutes"),
    ("created_at = created_at - INTERVAL 1 DAY", "created_at"),
])
def test_direct_updates_that_bypass_the_flow_are_refused(conn, assignment, column):
    tid, _ = ticket_in(conn, "in_progress")
    before = state(conn, tid)
    flow_error(conn, f"UPDATE service_tickets SET {assignment} WHERE ticket_id = %s", (tid,),
               match=f"ticket {tid}: {column} changes only through ticket_logs")
    assert state(conn, tid) == before


def test_editing_subject_and_category_is_allowed(conn):
    tid = ticket(conn)
    assert execute(conn, "UPDATE service_tickets SET subject = 'Renamed', description = 'x' "
                   "WHERE ticket_id = %s", (tid,)) == 1
    assert state(conn, tid)["subject"] == "Renamed"


def test_a_failed_move_does_not_unlock_direct_updates(conn):
    """The flow's mark is rolled back with the log insert that failed."""
    tid, _ = ticket_in(conn, "in_progress")
    expect_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, note) "
                 "VALUES (%s, 'wait_customer', REPEAT('x', 2000))", (tid,), code=1406)
    assert state(conn, tid)["current_status"] == "in_progress"
    flow_error(conn, "UPDATE service_tickets SET current_status = 'closed' WHERE ticket_id = %s",
               (tid,))
    assert one(conn, "SELECT COUNT(*) FROM ticketdb_flow_marks") == 0


@pytest.mark.parametrize(("column", "value"), [
    ("current_status", "'closed'"),
    ("assigned_agent_id", "1"),
    ("closed_at", "UTC_TIMESTAMP()"),
    ("paused_minutes", "5"),
])
def test_new_tickets_start_pending_and_unassigned(conn, column, value):
    agent(conn)
    cid = one(conn, "SELECT MIN(customer_id) FROM customers") or None
    count = one(conn, "SELECT COUNT(*) FROM service_tickets")
    flow_error(conn, f"INSERT INTO service_tickets (customer_id, subject, {column}) "
               f"VALUES (%s, 'x', {value})", (cid,), match="must start pending and unassigned")
    assert one(conn, "SELECT COUNT(*) FROM service_tickets") == count


def test_a_direct_priority_raise_on_an_untouched_ticket_is_refused(conn):
    tid = ticket(conn, priority="low")
    assert state(conn, tid)["last_action_at"] is None
    flow_error(conn, "UPDATE service_tickets SET priority = 'urgent' WHERE ticket_id = %s", (tid,),
               match="priority changes only through ticket_logs")
    assert state(conn, tid)["priority"] == "low"


# Every session variable the flow has ever trusted, and a few it might.
FORGED_MARKERS = [
    "SET @ticketdb_flow_escalation = UTC_TIMESTAMP()",
    "SET @ticketdb_flow_escalation = '2026-01-01 00:00:00'",
    "SET @ticketdb_flow_ticket = {tid}",
    "SET @ticketdb_flow = 1, @ticketdb_import = 1, @ticketdb_flow_mark = {tid}",
]


@pytest.mark.parametrize("marker", FORGED_MARKERS)
def test_no_session_variable_opens_a_direct_update(conn, marker):
    tid, _ = ticket_in(conn, "in_progress")
    before = state(conn, tid)
    execute(conn, marker.format(tid=tid))
    try:
        for assignment in ("priority = 'urgent'", "current_status = 'closed'",
                           "priority = 'urgent', last_action_at = @ticketdb_flow_escalation"):
            flow_error(conn, f"UPDATE service_tickets SET {assignment} WHERE ticket_id = %s",
                       (tid,), match="changes only through ticket_logs")
    finally:
        execute(conn, "SET @ticketdb_flow_escalation = NULL, @ticketdb_flow_ticket = NULL")
    assert state(conn, tid) == before


@pytest.mark.parametrize("marker", FORGED_MARKERS)
def test_no_session_variable_makes_a_false_log_row_pass(conn, marker):
    """The forgery of the review: an 'escalate' row that claims a move the
    ticket never made (closed to resolved, urgent to low), stamped with the
    escalation's marker time. It must be refused and change nothing."""
    tid, _ = ticket_in(conn, "closed")
    before, logs = state(conn, tid), log_count(conn, tid)
    execute(conn, marker.format(tid=tid))
    try:
        flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, from_status, "
                   "to_status, old_priority, new_priority, action_time) VALUES "
                   "(%s, 'escalate', 'closed', 'resolved', 'urgent', 'low', "
                   "'2026-01-01 00:00:00')", (tid,))
        flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, new_priority) "
                   "VALUES (%s, 'escalate', 'urgent')", (tid,), match="cannot 'escalate' from")
    finally:
        execute(conn, "SET @ticketdb_flow_escalation = NULL, @ticketdb_flow_ticket = NULL")
    assert state(conn, tid) == before
    assert log_count(conn, tid) == logs


def test_a_log_row_must_tell_the_truth_about_the_priority(conn):
    tid, _ = ticket_in(conn, "in_progress")
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, old_priority, "
               "new_priority) VALUES (%s, 'escalate', 'medium', 'high')", (tid,),
               match="says priority 'medium' but the ticket is 'low'")


def test_a_backdated_row_is_refused_unless_it_was_staged_for_import(conn):
    tid, aid = ticket_in(conn, "in_progress")
    earlier = utcnow(conn) - timedelta(minutes=30)
    before, logs = state(conn, tid), log_count(conn, tid)
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
               "VALUES (%s, 'reply', %s, %s)", (tid, aid, earlier),
               match=f"ticket {tid}: action_time is in the past and the row was not staged")
    assert (state(conn, tid), log_count(conn, tid)) == (before, logs)
    # staged for another action: still refused
    at = utcnow(conn) - timedelta(minutes=20)
    execute(conn, "INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
                  "VALUES (%s, 'resolve', %s)", (tid, at))
    flow_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
               "VALUES (%s, 'close', %s)", (tid, at), match="not staged")
    # staged: taken, and the staged row is consumed
    execute(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
                  "VALUES (%s, 'resolve', %s)", (tid, at))
    assert state(conn, tid)["resolved_at"] == at
    assert one(conn, "SELECT COUNT(*) FROM ticket_log_imports WHERE ticket_id = %s", (tid,)) == 0
    # a few minutes of clock skew are tolerated without staging
    execute(conn, "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
                  "VALUES (%s, 'close', UTC_TIMESTAMP() - INTERVAL 2 MINUTE)", (tid,))
    assert state(conn, tid)["current_status"] == "closed"


def test_an_import_replays_exact_times(conn):
    tid = ticket(conn, age=timedelta(days=3))
    aid = agent(conn)
    created = state(conn, tid)["created_at"]
    times = [created + timedelta(hours=h) for h in (1, 2, 5)]
    for action, at in zip(("assign", "reply", "resolve"), times, strict=True):
        execute(conn, "INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
                      "VALUES (%s, %s, %s)", (tid, action, at))
    execute(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
                  "VALUES (%s, 'assign', %s, %s), (%s, 'reply', %s, %s), (%s, 'resolve', %s, %s)",
            (tid, aid, times[0], tid, aid, times[1], tid, aid, times[2]))
    after = state(conn, tid)
    assert (after["first_response_at"], after["resolved_at"]) == (times[1], times[2])
    assert one(conn, "SELECT COUNT(*) FROM ticket_log_imports WHERE ticket_id = %s", (tid,)) == 0


def test_every_move_records_who_made_it(conn):
    tid, first = ticket_in(conn, "in_progress")
    second, supervisor = agent(conn), agent(conn)
    execute(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, actor_agent_id) "
                  "VALUES (%s, 'transfer', %s, %s)", (tid, second, supervisor))
    execute(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, actor_login) "
                  "VALUES (%s, 'reply', %s, 'someone.else@nowhere')", (tid, second))
    rows = query(conn, "SELECT action_type, agent_id, actor_agent_id, actor_login, "
                       "SESSION_USER() FROM ticket_logs WHERE ticket_id = %s "
                       "ORDER BY log_id DESC LIMIT 2", (tid,))
    (reply, r_agent, r_actor, r_login, me), (transfer, t_agent, t_actor, t_login, _) = rows
    assert (transfer, t_agent, t_actor) == ("transfer", second, supervisor)
    assert (reply, r_agent, r_actor) == ("reply", second, second)
    assert r_login == t_login == me  # the client cannot write its own actor_login
    assert state(conn, tid)["assigned_agent_id"] == second and first != second


def test_reopen_never_hands_a_ticket_to_an_inactive_agent(conn):
    tid, aid = ticket_in(conn, "resolved")
    execute(conn, "UPDATE agents SET is_active = FALSE WHERE agent_id = %s", (aid,))
    log(conn, tid, "reopen")
    after = state(conn, tid)
    assert (after["current_status"], after["assigned_agent_id"]) == ("pending", None)
    row = query(conn, "SELECT from_status, to_status FROM ticket_logs WHERE ticket_id = %s "
                      "ORDER BY log_id DESC LIMIT 1", (tid,))[0]
    assert row == ("resolved", "pending")
    other, active = ticket_in(conn, "closed")
    log(conn, other, "reopen")
    assert (state(conn, other)["current_status"], state(conn, other)["assigned_agent_id"]) == (
        "in_progress", active)
