"""`<db>_app` (issue 23 item 3): a real login with only the app role, over
TCP, takes a ticket through its whole life, inside and outside
transactions; and everything an application must not do is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import (
    agent,
    call,
    execute,
    expect_error,
    fetch_dicts,
    flow_error,
    one,
    role_logins,
    ticket,
)

from ticketdb import roles
from ticketdb.connection import Target, connect

DENIED = (1142, 1143, 1370)  # table, column, routine access denied


@pytest.fixture(scope="module")
def app(db: Target) -> Iterator[Target]:
    with role_logins(db) as made:
        yield made["app"]


def test_the_app_role_is_created_by_up_roles(db, app):
    assert "app" in roles.role_names(db.database)
    c = connect(app)
    try:
        assert one(c, "SELECT CURRENT_ROLE()") == f"{db.database}_app"
    finally:
        c.close()


def test_an_app_login_takes_a_ticket_through_its_whole_life(db, app):
    admin = connect(db)
    c = connect(app)
    try:
        ag = agent(admin)  # agents are the supervisors' to create
        execute(c, "INSERT INTO customers (name, email, phone) "
                   "VALUES ('Ada App', 'ada.app@example.com', '+15550001234')")
        cid = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "UPDATE customers SET phone = '+15550004321' WHERE customer_id = %s", (cid,))
        execute(c, "INSERT INTO service_tickets (customer_id, subject, description, priority) "
                   "VALUES (%s, 'Cannot pay', 'The card is refused', 'high')", (cid,))
        tid = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "INSERT INTO conversations (customer_id, ticket_id) VALUES (%s, %s)",
                (cid, tid))
        conv = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                   "VALUES (%s, 'customer', %s, 'Help, please')", (conv, cid))
        execute(c, "INSERT INTO interactions (customer_id, ticket_id, channel, summary) "
                   "VALUES (%s, %s, 'web', 'opened from the help page')", (cid, tid))

        # the agent's screen, served by the same backend
        execute(c, "START TRANSACTION")  # in the app's own transaction (docs/api.md)
        execute(c, "CALL sp_assign_ticket(%s, %s)", (tid, ag))
        assert call(c, "sp_claim_conversation", conv, ag) == [{"claimed": 1}]
        execute(c, "COMMIT")
        assert call(c, "sp_mark_conversation_read", conv, "agent") == [{"marked": 1}]
        execute(c, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                   "VALUES (%s, 'agent', %s, 'Try again now')", (conv, ag))
        for action in ("reply", "wait_customer", "resume", "resolve"):
            execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                       "VALUES (%s, %s, %s)", (tid, action, ag))
        execute(c, "INSERT INTO ticket_ratings (ticket_id, rating, rating_comment) "
                   "VALUES (%s, 5, 'quick')", (tid,))
        execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                   "VALUES (%s, 'close', %s)", (tid, ag))
        execute(c, "UPDATE conversations SET status = 'closed' WHERE conversation_id = %s",
                (conv,))

        row = one(c, "SELECT current_status, assigned_agent_id, first_response_at IS NOT NULL "
                     "FROM service_tickets WHERE ticket_id = %s", (tid,))
        assert row == ("closed", ag, 1)
        trace = fetch_dicts(c, "CALL sp_ticket_trace(%s)", (tid,))
        assert [r["action_type"] for r in trace] == ["assign", "reply", "wait_customer",
                                                     "resume", "resolve", "close"]
        assert one(c, "SELECT rating FROM ticket_ratings WHERE ticket_id = %s", (tid,)) == 5
        assert one(c, "SELECT customer_id FROM ticket_ratings WHERE ticket_id = %s",
                   (tid,)) == cid
        assert one(admin, "SELECT SUBSTRING_INDEX(actor_login, '@', 1) FROM ticket_logs "
                          "WHERE ticket_id = %s AND action_type = 'close'", (tid,)) == app.user
    finally:
        c.close()
        admin.close()


def test_an_app_login_works_inside_its_own_transaction_and_rolls_back(db, app):
    admin = connect(db)
    c = connect(app)
    try:
        ag = agent(admin)
        execute(c, "INSERT INTO customers (name, email) VALUES ('Tx App', 'tx.app@example.com')")
        cid = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "START TRANSACTION")
        execute(c, "INSERT INTO service_tickets (customer_id, subject) VALUES (%s, 'rolled')",
                (cid,))
        tid = one(c, "SELECT LAST_INSERT_ID()")
        execute(c, "CALL sp_assign_ticket(%s, %s)", (tid, ag))
        execute(c, "ROLLBACK")
        assert one(admin, "SELECT COUNT(*) FROM service_tickets WHERE ticket_id = %s",
                   (tid,)) == 0
    finally:
        c.close()
        admin.close()


@pytest.mark.parametrize(("what", "sql"), [
    ("choose a ticket id", "INSERT INTO service_tickets (ticket_id, customer_id, subject) "
                           "VALUES (18446744073709551615, {cid}, 'x')"),
    ("choose a log id", "INSERT INTO ticket_logs (log_id, ticket_id, action_type) "
                        "VALUES (18446744073709551615, {tid}, 'close')"),
    ("choose a customer id", "INSERT INTO customers (customer_id, name, email) "
                             "VALUES (4294967295, 'x', 'x.key@example.com')"),
    ("choose a message id", "INSERT INTO messages (message_id, conversation_id, sender_type, "
                            "sender_id, content) VALUES (4294967295, 1, 'customer', 1, 'x')"),
    ("make a customer vip", "INSERT INTO customers (name, email, tier) "
                            "VALUES ('v', 'v.app@example.com', 'vip')"),
    ("backdate a ticket", "INSERT INTO service_tickets (customer_id, subject, created_at) "
                          "VALUES ({cid}, 'x', '2020-01-01')"),
    ("backdate a log row", "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
                           "VALUES ({tid}, 'close', '2020-01-01')"),
    ("move a ticket by hand", "UPDATE service_tickets SET current_status = 'closed' "
                              "WHERE ticket_id = {tid}"),
    ("assign by hand", "UPDATE service_tickets SET assigned_agent_id = NULL "
                       "WHERE ticket_id = {tid}"),
    ("edit a log row", "UPDATE ticket_logs SET note = 'x' WHERE ticket_id = {tid}"),
    ("delete a ticket", "DELETE FROM service_tickets WHERE ticket_id = {tid}"),
    ("delete a customer", "DELETE FROM customers WHERE customer_id = {cid}"),
    ("create an agent", "INSERT INTO agents (name, email) VALUES ('a', 'a.app@example.com')"),
    ("bind itself to an agent", "INSERT INTO agent_logins (login_user, agent_id) "
                                "VALUES ('x', 1)"),
    ("read the flow's marks", "SELECT * FROM ticketdb_flow_marks"),
    ("read the settings", "SELECT * FROM ticketdb_settings"),
    ("read the deploy history", "SELECT * FROM ticketdb_schema_history"),
    ("run the escalation", "CALL sp_escalate_priorities()"),
    ("merge customers", "CALL sp_merge_customers(1, 2, NULL)"),
])
def test_what_an_app_login_may_not_do_is_refused(db, app, what, sql):
    admin = connect(db)
    c = connect(app)
    try:
        cid = one(admin, "SELECT MIN(customer_id) FROM customers") or 1
        tid = one(admin, "SELECT MIN(ticket_id) FROM service_tickets") or 1
        expect_error(c, sql.format(cid=cid, tid=tid), code=DENIED)
    finally:
        c.close()
        admin.close()


def test_a_new_ticket_with_a_status_is_refused_by_the_flow(db, app):
    admin = connect(db)
    c = connect(app)
    try:
        cid = one(admin, "SELECT MIN(customer_id) FROM customers")
        expect_error(c, "INSERT INTO service_tickets (customer_id, subject, current_status) "
                        "VALUES (%s, 'x', 'closed')", (cid,), code=DENIED)
        tid = ticket(admin)
        flow_error(c, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'resolve')",
                   (tid,), match="cannot 'resolve' from 'pending'")
    finally:
        c.close()
        admin.close()
