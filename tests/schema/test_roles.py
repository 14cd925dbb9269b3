"""The roles (docs/security.md), proved by real users logging in with each."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from support import agent, execute, expect_error, log, one, role_logins, ticket

from ticketdb import roles
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT

DENIED = (1142, 1143, 1370)  # table, column, routine access denied


@pytest.fixture(scope="module")
def accounts(db: Target) -> Iterator[dict[str, Target]]:
    with role_logins(db) as made:
        yield made


@pytest.fixture(scope="module")
def work(db: Target) -> dict[str, int]:
    admin = connect(db)
    tid = ticket(admin)
    aid = agent(admin)
    log(admin, tid, "assign", aid)
    admin.close()
    return {"ticket": tid, "agent": aid}


def as_role(accounts: dict[str, Target], kind: str):
    return connect(accounts[kind])


def test_up_roles_twice_is_the_same(db, accounts):
    again = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "--url", db.url(), "up",
                            "--roles"], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr


def test_an_agent_works_through_the_flow(accounts, work):
    c = as_role(accounts, "agent")
    try:
        assert one(c, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
                   (work["ticket"],)) == "in_progress"
        execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                   "VALUES (%s, 'reply', %s)", (work["ticket"], work["agent"]))
        execute(c, "UPDATE service_tickets SET subject = 'Edited by agent' WHERE ticket_id = %s",
                (work["ticket"],))
        execute(c, "CALL sp_claim_next_ticket(%s, @t)", (work["agent"],))
        execute(c, "CALL sp_overdue_report(60)")
        one(c, "SELECT COUNT(*) FROM kb_articles")
    finally:
        c.close()


@pytest.mark.parametrize("sql", [
    "UPDATE ticket_logs SET note = 'x'",
    "DELETE FROM ticket_logs",
    "DELETE FROM service_tickets",
    "UPDATE service_tickets SET current_status = 'closed'",
    "UPDATE service_tickets SET assigned_agent_id = NULL",
    "UPDATE service_tickets SET priority = 'urgent'",
    "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes) "
    "VALUES ('low', 'high', 1)",
    "CALL sp_escalate_priorities()",
    "DROP TABLE ticket_logs",
    "TRUNCATE TABLE ticket_logs",
    "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (1, 5)",
    "DELETE FROM ticket_ratings",
])
def test_an_agent_cannot(accounts, work, sql):
    c = as_role(accounts, "agent")
    try:
        expect_error(c, sql, code=(*DENIED, 1044))
    finally:
        c.close()


def test_a_supervisor_manages_rules_and_runs_the_automation(accounts):
    c = as_role(accounts, "supervisor")
    try:
        execute(c, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes) "
                   "VALUES ('low', 'medium', 10000)")
        execute(c, "UPDATE escalation_rules SET is_active = FALSE WHERE min_age_minutes = 10000")
        execute(c, "CALL sp_escalate_priorities()")
        execute(c, "INSERT INTO agents (name, email) VALUES ('New Hire', 'hire@example.com')")
        expect_error(c, "DELETE FROM service_tickets", code=DENIED)
        expect_error(c, "DELETE FROM ticket_logs", code=DENIED)
    finally:
        c.close()


def test_reporting_reads_and_cannot_write(accounts, work):
    c = as_role(accounts, "reporting")
    try:
        assert one(c, "SELECT COUNT(*) FROM service_tickets") >= 1
        execute(c, "CALL sp_overdue_report(60)")
        execute(c, "CALL sp_ticket_trace(%s)", (work["ticket"],))
        for sql in ("INSERT INTO ticket_logs (ticket_id, action_type) VALUES (1, 'close')",
                    "UPDATE service_tickets SET subject = 'x'",
                    "INSERT INTO customers (name, email) VALUES ('x', 'x@example.com')",
                    "CALL sp_assign_ticket(1, 1)", "CALL sp_generate_alerts(60)"):
            expect_error(c, sql, code=DENIED)
    finally:
        c.close()


def test_role_names_fit_mysqls_limit():
    with pytest.raises(ValueError, match="longer than 32"):
        roles.role_names("a_database_name_that_is_far_too_long")


SESSION_TRICKS = [
    "SET @ticketdb_flow_escalation = '2026-01-01 00:00:00'",
    "SET @ticketdb_flow_escalation = UTC_TIMESTAMP(), @ticketdb_flow_ticket = {tid}",
    "SET @ticketdb_flow_ticket = {tid}, @ticketdb_import = 1, @ticketdb_flow_mark = {tid}",
]


@pytest.mark.parametrize("kind", ["agent", "supervisor"])
@pytest.mark.parametrize("trick", SESSION_TRICKS)
def test_no_login_can_forge_the_trail(accounts, db, kind, trick):
    """Issue 10's forgery, as a real login with the role: set every marker
    variable, then log a move the ticket never made, backdate a row, or
    write the flow's own tables. Everything is refused and nothing moves."""
    admin = connect(db)
    tid = ticket(admin)
    aid = agent(admin)
    log(admin, tid, "assign", aid)
    log(admin, tid, "resolve")
    log(admin, tid, "close")
    before = one(admin, "SELECT CONCAT_WS('|', current_status, priority, assigned_agent_id, "
                        "closed_at) FROM service_tickets WHERE ticket_id = %s", (tid,))
    logs = one(admin, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,))
    c = as_role(accounts, kind)
    try:
        execute(c, trick.format(tid=tid))
        for sql in (
            "INSERT INTO ticket_logs (ticket_id, action_type, from_status, to_status, "
            "old_priority, new_priority, action_time) VALUES ({tid}, 'escalate', 'closed', "
            "'resolved', 'urgent', 'low', '2026-01-01 00:00:00')",
            "INSERT INTO ticket_logs (ticket_id, action_type, from_status, to_status, "
            "old_priority, new_priority, action_time) VALUES ({tid}, 'escalate', 'closed', "
            "'resolved', 'urgent', 'low', @ticketdb_flow_escalation)",
            "INSERT INTO ticket_logs (ticket_id, action_type, new_priority) "
            "VALUES ({tid}, 'escalate', 'urgent')",
            "INSERT INTO ticket_logs (ticket_id, action_type, action_time) "
            "VALUES ({tid}, 'reopen', UTC_TIMESTAMP() - INTERVAL 1 DAY)",
        ):
            message = expect_error(c, sql.format(tid=tid), code=1644)
            assert message.startswith(f"ticketdb: ticket {tid}: "), message
        for sql in (
            "INSERT INTO ticketdb_flow_marks (connection_id, ticket_id) "
            "VALUES (CONNECTION_ID(), {tid})",
            "CREATE TEMPORARY TABLE ticketdb_flow_marks (connection_id BIGINT PRIMARY KEY, "
            "ticket_id BIGINT)",
            "INSERT INTO ticket_log_imports (ticket_id, action_type, action_time) "
            "VALUES ({tid}, 'reopen', '2026-01-01')",
            "UPDATE service_tickets SET current_status = 'resolved' WHERE ticket_id = {tid}",
        ):
            expect_error(c, sql.format(tid=tid), code=(*DENIED, 1044))
    finally:
        c.close()
    assert one(admin, "SELECT CONCAT_WS('|', current_status, priority, assigned_agent_id, "
                      "closed_at) FROM service_tickets WHERE ticket_id = %s", (tid,)) == before
    assert one(admin, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == logs
    admin.close()


def test_ratings_are_read_by_every_role_and_written_by_none(accounts):
    for kind in ("agent", "supervisor", "reporting"):
        c = as_role(accounts, kind)
        try:
            one(c, "SELECT COUNT(*) FROM ticket_ratings")
            execute(c, "CALL sp_satisfaction_report('2026-01-01', '2027-01-01')")
            expect_error(c, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (1, 5)",
                         code=DENIED)
        finally:
            c.close()
