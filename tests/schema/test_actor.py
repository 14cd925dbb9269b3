"""Smaller truths (issue 20 item 7), with real role logins over TCP: the
merge's actor is the agent the login is bound to (agent_logins), never the
in_agent the caller names; ratings follow a merge; the overdue report and
the snapshot refuse bounds they cannot honour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import (
    agent,
    bind_login,
    call,
    execute,
    flow_error,
    log,
    one,
    query,
    role_logins,
    ticket,
)

from ticketdb.connection import Target, connect


@pytest.fixture(scope="module")
def logins(db: Target) -> Iterator[dict[str, Target]]:
    with role_logins(db) as made:
        yield made


def _customer(conn, label: str) -> int:
    execute(conn, "INSERT INTO customers (name, email) VALUES (%s, %s)",
            (f"Merge {label}", f"merge.{label}@example.com"))
    return one(conn, "SELECT LAST_INSERT_ID()")


def _state(conn, keep: int, drop: int) -> tuple:
    return (query(conn, "SELECT customer_id FROM customers WHERE customer_id IN (%s, %s) "
                        "ORDER BY customer_id", (keep, drop)),
            query(conn, "SELECT customer_id, agent_id FROM conversations "
                        "WHERE customer_id IN (%s, %s) ORDER BY conversation_id", (keep, drop)),
            one(conn, "SELECT COUNT(*) FROM customer_merges"))


def test_a_supervisor_naming_the_claiming_agent_is_refused(db, logins):
    """The issue's case: the conversation of the duplicate is claimed by
    another agent; naming that agent as in_agent let the merge through."""
    admin = connect(db)
    sup_login = connect(logins["supervisor"])
    try:
        sup, other = agent(admin), agent(admin)
        bind_login(admin, sup, logins["supervisor"].user)
        keep, drop = _customer(admin, "keep1"), _customer(admin, "drop1")
        execute(admin, "INSERT INTO conversations (customer_id, agent_id, status) "
                       "VALUES (%s, %s, 'open')", (drop, other))
        before = _state(admin, keep, drop)
        flow_error(sup_login, "CALL sp_merge_customers(%s, %s, %s)", (keep, drop, other),
                   match=f"is agent {sup}, not agent {other}")
        flow_error(sup_login, "CALL sp_merge_customers(%s, %s, NULL)", (keep, drop),
                   match=f"open conversation claimed by agent {other}")
        assert _state(admin, keep, drop) == before
    finally:
        sup_login.close()
        admin.close()


def test_an_unbound_login_may_not_merge(db, logins):
    admin = connect(db)
    sup_login = connect(logins["supervisor"])
    try:
        execute(admin, "DELETE FROM agent_logins WHERE login_user = %s",
                (logins["supervisor"].user,))
        keep, drop = _customer(admin, "keep2"), _customer(admin, "drop2")
        before = _state(admin, keep, drop)
        flow_error(sup_login, "CALL sp_merge_customers(%s, %s, %s)", (keep, drop, agent(admin)),
                   match="is bound to no agent")
        assert _state(admin, keep, drop) == before
    finally:
        sup_login.close()
        admin.close()


def test_a_bound_login_merges_as_its_agent_and_ratings_follow(db, logins):
    admin = connect(db)
    sup_login = connect(logins["supervisor"])
    try:
        sup = agent(admin)
        bind_login(admin, sup, logins["supervisor"].user)
        keep, drop = _customer(admin, "keep3"), _customer(admin, "drop3")
        tid = ticket(admin, customer_id=drop)
        log(admin, tid, "assign", sup)
        log(admin, tid, "resolve", sup)
        execute(admin, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (%s, 4)", (tid,))
        assert one(admin, "SELECT customer_id FROM ticket_ratings WHERE ticket_id = %s",
                   (tid,)) == drop
        result = call(sup_login, "sp_merge_customers", keep, drop, None)[0]
        assert result["tickets_moved"] == 1
        assert one(admin, "SELECT merged_by_agent_id, SUBSTRING_INDEX(merged_login, '@', 1) "
                          "FROM customer_merges WHERE dropped_customer_id = %s",
                   (drop,)) == (sup, logins["supervisor"].user)
        assert one(admin, "SELECT COUNT(*) FROM ticket_ratings WHERE customer_id = %s",
                   (drop,)) == 0
        assert one(admin, "SELECT customer_id FROM ticket_ratings WHERE ticket_id = %s",
                   (tid,)) == keep
        # the one move the ratings guard allows is the merge's; any other edit is refused
        flow_error(admin, "UPDATE ticket_ratings SET rating = 1 WHERE ticket_id = %s", (tid,),
                   match="ratings cannot be changed")
        flow_error(admin, "UPDATE ticket_ratings SET customer_id = %s WHERE ticket_id = %s",
                   (drop, tid), match="ratings cannot be changed")
    finally:
        sup_login.close()
        admin.close()


@pytest.mark.parametrize("window", [-5, -1])
def test_a_negative_overdue_window_is_refused(logins, window):
    c = connect(logins["reporting"])
    try:
        flow_error(c, "CALL sp_overdue_report(%s)", (window,), match="0 or more minutes")
    finally:
        c.close()


def test_a_snapshot_of_a_far_day_is_refused_with_a_ticketdb_message(db, logins):
    admin = connect(db)
    c = connect(logins["supervisor"])
    try:
        before = one(admin, "SELECT COUNT(*) FROM daily_urgent_tickets")
        for day in ("9999-12-31", "2999-01-01"):
            flow_error(c, "CALL sp_snapshot_urgent_tickets(%s)", (day,),
                       match=f"date {day} is after tomorrow")
        assert one(admin, "SELECT COUNT(*) FROM daily_urgent_tickets") == before
        tomorrow = one(admin, "SELECT UTC_DATE() + INTERVAL 1 DAY")
        assert call(c, "sp_snapshot_urgent_tickets", tomorrow)[0]["snapshot_date"] == tomorrow
    finally:
        c.close()
        admin.close()
