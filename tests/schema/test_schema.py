"""Tables, generated deadlines and constraints (docs/schema.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import agent, customer, execute, expect_error, one, query, state, ticket

TABLES = {"customers", "agents", "agent_status", "categories", "kb_articles", "interactions",
          "conversations", "messages", "service_tickets", "ticket_logs", "escalation_rules",
          "ticket_alerts", "daily_urgent_tickets"}


def test_every_table_is_innodb_utf8mb4_with_a_primary_key(conn):
    rows = query(conn, "SELECT t.TABLE_NAME, t.ENGINE, t.TABLE_COLLATION, "
                       "(SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS AS c "
                       " WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME "
                       " AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') "
                       "FROM information_schema.TABLES AS t WHERE t.TABLE_SCHEMA = DATABASE()")
    assert {r[0] for r in rows} >= TABLES
    for name, engine, collation, pks in rows:
        assert (engine, collation, pks) == ("InnoDB", "utf8mb4_unicode_ci", 1), name


@pytest.mark.parametrize(("priority", "resolve_minutes", "respond_minutes"), [
    ("urgent", 120, 30), ("high", 24 * 60, 120), ("medium", 72 * 60, 480),
    ("low", 72 * 60, 24 * 60),
])
def test_generated_deadlines_follow_the_priority(conn, priority, resolve_minutes,
                                                 respond_minutes):
    tid = ticket(conn, priority)
    s = state(conn, tid)
    assert s["deadline"] == s["created_at"] + timedelta(minutes=resolve_minutes)
    assert s["first_response_due"] == s["created_at"] + timedelta(minutes=respond_minutes)


def test_deadline_columns_are_generated(conn):
    rows = dict(query(conn, "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE "
                            "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'service_tickets' "
                            "AND COLUMN_NAME IN ('deadline', 'first_response_due')"))
    assert all("GENERATED" in extra.upper() for extra in rows.values()), rows
    tid = ticket(conn)
    message = expect_error(conn, "UPDATE service_tickets SET deadline = UTC_TIMESTAMP() "
                                 "WHERE ticket_id = %s", (tid,))
    assert "deadline" in message  # MySQL 3105, MariaDB 1906: generated columns are not set


def test_an_explicit_created_at_is_kept_for_imports(conn):
    cid = customer(conn)
    execute(conn, "INSERT INTO service_tickets (customer_id, subject, created_at, priority) "
                  "VALUES (%s, 'old', '2024-03-01 10:00:00', 'urgent')", (cid,))
    assert one(conn, "SELECT deadline FROM service_tickets WHERE subject = 'old'").isoformat() \
        == "2024-03-01T12:00:00"


def test_duplicate_emails_are_refused(conn):
    execute(conn, "INSERT INTO customers (name, email) VALUES ('A', 'dup@example.com')")
    expect_error(conn, "INSERT INTO customers (name, email) VALUES ('B', 'dup@example.com')",
                 code=1062)


def test_knowledge_base_is_full_text_searchable(conn):
    execute(conn, "INSERT INTO kb_articles (title, content) VALUES "
                  "('Reset your password', 'Open settings and choose reset password.'), "
                  "('Billing cycles', 'Invoices are sent monthly.')")
    rows = query(conn, "SELECT title FROM kb_articles WHERE MATCH (title, content) "
                       "AGAINST ('password' IN NATURAL LANGUAGE MODE)")
    assert rows == (("Reset your password",),)


def test_agent_status_goes_with_its_agent(conn):
    aid = agent(conn)
    execute(conn, "INSERT INTO agent_status (agent_id, status, last_seen) "
                  "VALUES (%s, 'online', UTC_TIMESTAMP())", (aid,))
    execute(conn, "DELETE FROM agents WHERE agent_id = %s", (aid,))
    assert one(conn, "SELECT COUNT(*) FROM agent_status WHERE agent_id = %s", (aid,)) == 0


def test_messages_are_indexed_by_conversation_and_time(conn):
    cols = query(conn, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages' AND "
                       "INDEX_NAME = 'ix_messages_conversation' ORDER BY SEQ_IN_INDEX")
    assert [c[0] for c in cols] == ["conversation_id", "created_at"]


def test_the_shipped_escalation_rule_is_there(conn):
    assert query(conn, "SELECT from_priority, to_priority, min_age_minutes, only_status, "
                       "only_unassigned, is_active FROM escalation_rules") == (
        ("medium", "high", 1440, "pending", 1, 1),)
