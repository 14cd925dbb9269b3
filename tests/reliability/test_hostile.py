"""Hostile sessions (issue 20, items 1-3; docs/security.md): what a login can
SET or name must not stop, forge or skew the helpdesk.

Every case logs in over TCP as a real role login (support.role_logins), sets
up its session, tries one write or call, and then checks that nothing changed
(a checksum of every table a role can reach, and the case's ticket) and that
the message names the rule or the setting. The AUTO_INCREMENT counters are in
the checksum too: a refused row with an explicit MAX id must not have moved
one. Cases are tables of (role, what, statement) so the matrix reads at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import pymysql
import pytest
from support import agent, bind_login, customer, execute, log, one, query, role_logins, ticket

from ticketdb import splitter
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT

DENIED = (1142, 1143, 1370)  # table, column, routine access denied
REFUSED = 1644  # SQLSTATE 45000 from a trigger or procedure: a ticketdb: message
WATCHED = ("service_tickets", "ticket_logs", "messages", "interactions", "conversations",
           "agents", "agent_status", "escalation_rules", "ticket_alerts",
           "daily_urgent_tickets", "customers", "ticket_ratings", "ticket_log_imports",
           "customer_orders")
_n = itertools.count(1)


@pytest.fixture(scope="module")
def logins(db: Target, scheduler_off: None) -> Iterator[dict[str, Target]]:
    with role_logins(db) as made:
        c = connect(db)
        try:  # a merge acts as the login's agent (agent_logins, V037)
            bind_login(c, agent(c), user=made["supervisor"].user)
        finally:
            c.close()
        yield made


@pytest.fixture(scope="module")
def admin(db: Target) -> Iterator[pymysql.connections.Connection]:
    c = connect(db)
    yield c
    c.close()


@pytest.fixture
def w(admin) -> dict[str, int]:
    """Fresh rows for one case: a pending and an open ticket, agents, a
    conversation with a message, a rule, an alert and an agent_status row."""
    aid, other = agent(admin), agent(admin)
    cid, keep, drop = customer(admin), customer(admin), customer(admin)
    pending, opened = ticket(admin, customer_id=cid), ticket(admin, customer_id=cid)
    log(admin, opened, "assign", aid)
    execute(admin, "INSERT INTO conversations (customer_id) VALUES (%s)", (cid,))
    conv = one(admin, "SELECT LAST_INSERT_ID()")
    execute(admin, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                   "VALUES (%s, 'customer', %s, 'help')", (conv, cid))
    execute(admin, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes, "
                   "is_active) VALUES ('low', 'medium', 99999, FALSE)")
    rule = one(admin, "SELECT LAST_INSERT_ID()")
    execute(admin, "INSERT INTO ticket_alerts (ticket_id, alert_type, deadline) "
                   "VALUES (%s, 'overdue', UTC_TIMESTAMP())", (opened,))
    alert = one(admin, "SELECT LAST_INSERT_ID()")
    execute(admin, "INSERT INTO agent_status (agent_id, status) VALUES (%s, 'offline')", (other,))
    return {"agent": aid, "other": other, "customer": cid, "keep": keep, "drop": drop,
            "pending": pending, "open": opened, "conversation": conv, "rule": rule,
            "alert": alert, "n": next(_n)}


def fingerprint(admin, w: dict[str, int]) -> tuple:
    """The contents of every table a role can reach."""
    return query(admin, f"CHECKSUM TABLE {', '.join(WATCHED)}")


def counters_are_sane(admin) -> None:
    """No AUTO_INCREMENT counter was pushed towards its end (a refused
    multi-row insert may leave a gap of a few ids, no more)."""
    high = query(admin, "SELECT table_name, auto_increment FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() AND auto_increment > 1000000")
    assert not high, high


def session(target: Target, *settings: str) -> pymysql.connections.Connection:
    c = connect(target)
    for setting in settings:
        execute(c, setting)
    return c


def refused(admin, w: dict, target: Target, settings: tuple[str, ...], sql: str,
            names: str | tuple[str, ...], honest: bool = False) -> tuple[int, str]:
    """Run sql in a session with settings; it must fail, change nothing, and
    its message must name one of `names`. honest: then the same sql must
    succeed in a session without the settings (the refusal was theirs)."""
    before = fingerprint(admin, w)
    c = session(target, *settings)
    try:
        with pytest.raises(pymysql.MySQLError) as info, c.cursor() as cur:
            cur.execute(sql.format(**w))
            while cur.nextset():
                pass
    finally:
        c.close()
    code, message = info.value.args[0], info.value.args[1]
    assert code in (REFUSED, *DENIED), (code, message)
    if code == REFUSED:
        assert message.startswith("ticketdb: "), message
    wanted = (names,) if isinstance(names, str) else names
    assert any(n in message for n in wanted), f"{message!r} names none of {wanted}"
    assert fingerprint(admin, w) == before, f"{sql} changed something: {message}"
    counters_are_sane(admin)
    if honest:
        c = connect(target)
        try:
            execute(c, sql.format(**w))
        finally:
            c.close()
    return code, message


# --- what each role may write (every table and procedure it is granted) ----

AGENT_WRITES = {
    "ticket_logs": "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                   "VALUES ({open}, 'reply', {agent})",
    "service_tickets": "INSERT INTO service_tickets (customer_id, subject) "
                       "VALUES ({customer}, 'Hostile')",
    "service_tickets update": "UPDATE service_tickets SET subject = 'Renamed' "
                              "WHERE ticket_id = {open}",
    "messages": "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                "VALUES ({conversation}, 'agent', {agent}, 'hello')",
    "interactions": "INSERT INTO interactions (customer_id, ticket_id, channel) "
                    "VALUES ({customer}, {open}, 'email')",
    "conversations": "INSERT INTO conversations (customer_id) VALUES ({customer})",
    "conversations update": "UPDATE conversations SET status = 'pending' "
                            "WHERE conversation_id = {conversation}",
    "agent_status": "INSERT INTO agent_status (agent_id, status) VALUES ({agent}, 'online')",
    "agent_status update": "UPDATE agent_status SET status = 'busy' WHERE agent_id = {other}",
}
SUPERVISOR_WRITES = {
    **AGENT_WRITES,
    "agents": "INSERT INTO agents (name, email) VALUES ('New', 'new{n}.h@example.com')",
    "agents update": "UPDATE agents SET department = 'night' WHERE agent_id = {agent}",
    "agent_status delete": "DELETE FROM agent_status WHERE agent_id = {other}",
    "escalation_rules": "INSERT INTO escalation_rules (from_priority, to_priority, "
                        "min_age_minutes, is_active) VALUES ('low', 'high', 5, FALSE)",
    "escalation_rules update": "UPDATE escalation_rules SET min_age_minutes = 1 "
                               "WHERE rule_id = {rule}",
    "escalation_rules delete": "DELETE FROM escalation_rules WHERE rule_id = {rule}",
    "ticket_alerts update": "UPDATE ticket_alerts SET sent_at = UTC_TIMESTAMP() "
                            "WHERE alert_id = {alert}",
}
AGENT_CALLS = {
    "sp_assign_ticket": "CALL sp_assign_ticket({pending}, {agent})",
    "sp_claim_next_ticket": "CALL sp_claim_next_ticket({agent}, @t)",
    "sp_claim_conversation": "CALL sp_claim_conversation({conversation}, {agent})",
    "sp_mark_conversation_read": "CALL sp_mark_conversation_read({conversation}, 'agent')",
}
SUPERVISOR_CALLS = {
    **AGENT_CALLS,
    "sp_escalate_priorities": "CALL sp_escalate_priorities()",
    "sp_generate_alerts": "CALL sp_generate_alerts(60)",
    "sp_snapshot_urgent_tickets": "CALL sp_snapshot_urgent_tickets(UTC_DATE())",
    "sp_apply_retention": "CALL sp_apply_retention()",
    "sp_archive_ticket_logs": "CALL sp_archive_ticket_logs('2001-01-01')",
    "sp_merge_customers": "CALL sp_merge_customers({keep}, {drop}, NULL)",
}
REPORTS = {
    "sp_overdue_report": "CALL sp_overdue_report(60)",
    "sp_agent_efficiency": "CALL sp_agent_efficiency('2001-01-01', '2100-01-01')",
    "sp_ticket_trace": "CALL sp_ticket_trace({open})",
    "sp_satisfaction_report": "CALL sp_satisfaction_report('2001-01-01', '2100-01-01')",
    "sp_verify_audit_trail": "CALL sp_verify_audit_trail({open})",
}
APP_WRITES = {  # the application backend's account (ticketdb/app_role.py)
    "customers": "INSERT INTO customers (name, email) VALUES ('App', 'app{n}.h@example.com')",
    "customers update": "UPDATE customers SET phone = '+15550001111' "
                        "WHERE customer_id = {customer}",
    "service_tickets": "INSERT INTO service_tickets (customer_id, subject) "
                       "VALUES ({customer}, 'From the app')",
    "ticket_logs": "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                   "VALUES ({open}, 'reply', {agent})",
    "messages": "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
                "VALUES ({conversation}, 'customer', {customer}, 'hello')",
    "interactions": "INSERT INTO interactions (customer_id, ticket_id, channel) "
                    "VALUES ({customer}, {open}, 'web')",
    "conversations": "INSERT INTO conversations (customer_id) VALUES ({customer})",
    "customer_orders": "INSERT INTO customer_orders (customer_id, amount, currency) "
                       "VALUES ({customer}, 10, 'EUR')",
}
APP_CALLS = {k: AGENT_CALLS[k] for k in ("sp_assign_ticket", "sp_claim_next_ticket",
                                         "sp_claim_conversation", "sp_mark_conversation_read")}
WRITES = {"agent": AGENT_WRITES, "supervisor": SUPERVISOR_WRITES, "app": APP_WRITES}
CALLS = {"agent": AGENT_CALLS, "supervisor": {**SUPERVISOR_CALLS, "sp_find_duplicate_customers":
                                              "CALL sp_find_duplicate_customers()"},
         "app": APP_CALLS}


def cases(table: dict[str, dict[str, str]]) -> list:
    return [pytest.param(role, sql, id=f"{role}-{what}")
            for role, by_what in table.items() for what, sql in by_what.items()]


# --- 1. surrogate keys --------------------------------------------------------

MAX = 18446744073709551615
NAMED_KEYS = {
    "agent": {
        "ticket_logs": ("INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                        "VALUES ({key}, {open}, 'reply', {agent})", "log_id"),
        "service_tickets": ("INSERT INTO service_tickets (ticket_id, customer_id, subject) "
                            "VALUES ({key}, {customer}, 'Hostile')", "ticket_id"),
        "messages": ("INSERT INTO messages (message_id, conversation_id, sender_type, "
                     "sender_id, content) VALUES ({key}, {conversation}, 'agent', {agent}, 'x')",
                     "message_id"),
        "interactions": ("INSERT INTO interactions (interaction_id, customer_id, channel) "
                         "VALUES ({key}, {customer}, 'email')", "interaction_id"),
        "conversations": ("INSERT INTO conversations (conversation_id, customer_id) "
                          "VALUES ({key}, {customer})", "conversation_id"),
    },
    "app": {
        "customers": ("INSERT INTO customers (customer_id, name, email) "
                      "VALUES ({key32}, 'Max', 'maxapp{n}.h@example.com')", "customer_id"),
        "service_tickets": ("INSERT INTO service_tickets (ticket_id, customer_id, subject) "
                            "VALUES ({key}, {customer}, 'Hostile')", "ticket_id"),
        "ticket_logs": ("INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                        "VALUES ({key}, {open}, 'reply', {agent})", "log_id"),
        "customer_orders": ("INSERT INTO customer_orders (order_id, customer_id, amount) "
                            "VALUES ({key}, {customer}, 10)", "order_id"),
    },
    "supervisor": {
        "agents": ("INSERT INTO agents (agent_id, name, email) "
                   "VALUES ({key32}, 'Max', 'max{n}.h@example.com')", "agent_id"),
        "agents update": ("UPDATE agents SET agent_id = {key32} WHERE agent_id = {other}",
                          "agent_id"),
        "escalation_rules": ("INSERT INTO escalation_rules (rule_id, from_priority, "
                             "to_priority, min_age_minutes) VALUES ({key32}, 'low', 'high', 5)",
                             "rule_id"),
        "escalation_rules update": ("UPDATE escalation_rules SET rule_id = {key32} "
                                    "WHERE rule_id = {rule}", "rule_id"),
        "ticket_logs": ("INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                        "VALUES ({key}, {open}, 'reply', {agent})", "log_id"),
    },
}
KEY_VALUES = {
    "max": ((), {"key": MAX, "key32": 4294967295}),
    "zero under NO_AUTO_VALUE_ON_ZERO": (("SET SESSION sql_mode = CONCAT(@@sql_mode, "
                                          "',NO_AUTO_VALUE_ON_ZERO')",), {"key": 0, "key32": 0}),
}


@pytest.mark.parametrize("value", list(KEY_VALUES))
@pytest.mark.parametrize(("role", "sql", "column"), [
    pytest.param(role, sql, column, id=f"{role}-{what}")
    for role, by_what in NAMED_KEYS.items() for what, (sql, column) in by_what.items()])
def test_no_role_chooses_a_surrogate_key(admin, logins, w, role, sql, column, value):
    settings, keys = KEY_VALUES[value]
    refused(admin, w, logins[role], settings, sql.replace("{key}", str(keys["key"]))
            .replace("{key32}", str(keys["key32"])), column)


ADMIN_KEYS = [  # table-level grants (an admin, an application account): the triggers refuse
    ("ticket_logs", "INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                    "VALUES ({key}, {open}, 'reply', {agent})", "log_id"),
    ("service_tickets", "INSERT INTO service_tickets (ticket_id, customer_id, subject) "
                        "VALUES ({key}, {customer}, 'Hostile')", "ticket_id"),
    ("messages", "INSERT INTO messages (message_id, conversation_id, sender_type, sender_id, "
                 "content) VALUES ({key}, {conversation}, 'agent', {agent}, 'x')", "message_id"),
    ("interactions", "INSERT INTO interactions (interaction_id, customer_id, channel) "
                     "VALUES ({key}, {customer}, 'email')", "interaction_id"),
    ("conversations", "INSERT INTO conversations (conversation_id, customer_id) "
                      "VALUES ({key}, {customer})", "conversation_id"),
    ("customers", "INSERT INTO customers (customer_id, name, email) "
                  "VALUES ({key32}, 'Max', 'max{n}.c@example.com')", "customer_id"),
    ("agents", "INSERT INTO agents (agent_id, name, email) "
               "VALUES ({key32}, 'Max', 'max{n}.a@example.com')", "agent_id"),
    ("escalation_rules", "INSERT INTO escalation_rules (rule_id, from_priority, to_priority, "
                         "min_age_minutes) VALUES ({key32}, 'low', 'high', 5)", "rule_id"),
    ("ticket_ratings", "INSERT INTO ticket_ratings (rating_id, ticket_id, rating) "
                       "VALUES ({key}, {open}, 5)", "rating_id"),
]


@pytest.mark.parametrize(("table", "sql", "column"), ADMIN_KEYS, ids=[c[0] for c in ADMIN_KEYS])
def test_the_triggers_refuse_a_named_key_even_for_the_admin(admin, db, w, table, sql, column):
    """The grants stop the roles; the triggers stop any account with table
    grants (the admin, an application account): a MAX key, and an archived
    log_id reused, are refused with a ticketdb: message naming the key."""
    _, message = refused(admin, w, db, (), sql.replace("{key}", str(MAX))
                         .replace("{key32}", "4294967295"), column)
    assert "chosen by the server" in message


def test_a_reused_archived_log_id_is_refused(admin, db, w):
    """An id below the live counter (here: the first row of this ticket, as
    an archived row would be) is refused like any named key."""
    first = one(admin, "SELECT MIN(log_id) FROM ticket_logs WHERE ticket_id = %s", (w["open"],))
    refused(admin, w, db, (), "INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
            f"VALUES ({first}, {{open}}, 'reply', {{agent}})", "log_id")


def test_the_admin_cleans_up_a_row_that_took_the_last_id(fresh_db):
    """A row stored before this fix with log_id 18446744073709551615 stops
    every later log insert (1467). docs/security.md's steps clear it."""
    admin = connect(fresh_db)
    try:
        tid, aid = ticket(admin), agent(admin)
        log(admin, tid, "assign", aid)
        trigger = ROOT / "triggers" / "trg_ticket_logs_before_insert.sql"
        # Yesterday's database: the row went in while the trigger let it.
        execute(admin, "DROP TRIGGER trg_ticket_logs_before_insert")
        execute(admin, "INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                       f"VALUES ({MAX}, %s, 'reply', %s)", (tid, aid))
        with admin.cursor() as cur:
            for st in splitter.split(trigger.read_text()):
                cur.execute(st.text)
        with pytest.raises(pymysql.MySQLError) as stuck:
            log(admin, tid, "reply", aid)
        assert stuck.value.args[0] in (1467, 167), stuck.value.args
        # docs/security.md, "A row that took the last id": as the admin.
        execute(admin, "START TRANSACTION")
        execute(admin, "INSERT INTO ticketdb_flow_marks (node_key, connection_id, ticket_id) "
                       "VALUES (CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID(), 0)")
        execute(admin, f"DELETE FROM ticket_logs WHERE log_id = {MAX}")
        execute(admin, "DELETE FROM ticketdb_flow_marks WHERE connection_id = CONNECTION_ID() "
                       "AND node_key = CRC32(CONCAT(@@hostname, ':', @@port))")
        execute(admin, "COMMIT")
        execute(admin, "ALTER TABLE ticket_logs AUTO_INCREMENT = 1")
        new_id = log(admin, tid, "reply", aid)
        assert new_id < MAX
        assert one(admin, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == 2
        # and the door stays shut: the same row is refused now
        with pytest.raises(pymysql.MySQLError, match="log_id is chosen by the server"):
            execute(admin, "INSERT INTO ticket_logs (log_id, ticket_id, action_type, agent_id) "
                           f"VALUES ({MAX}, %s, 'reply', %s)", (tid, aid))
    finally:
        admin.close()


# --- 2. the session's clock ----------------------------------------------------

FORGED = {
    "40 days back": "SET SESSION timestamp = UNIX_TIMESTAMP() - 40 * 86400",
    "2038": "SET SESSION timestamp = UNIX_TIMESTAMP('2038-01-01 00:00:00')",
}
DEFAULTED_TIMES = {  # (role, write): the time column the default fills
    ("agent", "ticket_logs"): ("ticket_logs", "action_time", "log_id"),
    ("agent", "service_tickets"): ("service_tickets", "created_at", "ticket_id"),
    ("agent", "messages"): ("messages", "created_at", "message_id"),
    ("agent", "interactions"): ("interactions", "occurred_at", "interaction_id"),
    ("agent", "conversations"): ("conversations", "created_at", "conversation_id"),
    ("supervisor", "agents"): ("agents", "created_at", "agent_id"),
    ("app", "customer_orders"): ("customer_orders", "ordered_at", "order_id"),
}


def real_now(admin) -> datetime:
    return one(admin, "SELECT CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00')")


@pytest.mark.parametrize("forged", list(FORGED))
@pytest.mark.parametrize(("role", "what"), list(DEFAULTED_TIMES),
                         ids=[f"{r}-{t}" for r, t in DEFAULTED_TIMES])
def test_a_moved_clock_does_not_date_a_row(admin, logins, w, role, what, forged):
    """SET timestamp moves the column default; the row gets the real time."""
    table, column, key = DEFAULTED_TIMES[(role, what)]
    c = session(logins[role], FORGED[forged])
    try:
        execute(c, WRITES[role][what].format(**w))
        row = one(c, "SELECT LAST_INSERT_ID()")
    finally:
        c.close()
    stored = one(admin, f"SELECT {column} FROM {table} WHERE {key} = %s", (row,))
    assert abs(stored - real_now(admin)) < timedelta(minutes=1), (forged, stored)


def test_a_backdated_wait_does_not_pause_the_deadline(admin, logins, w):
    """The issue's case: wait_customer 'months ago', resume now: no paused time."""
    c = session(logins["agent"], FORGED["40 days back"])
    try:
        execute(c, "INSERT INTO ticket_logs (ticket_id, action_type) "
                   f"VALUES ({w['open']}, 'wait_customer')")
        execute(c, "SET SESSION timestamp = DEFAULT")
        execute(c, "INSERT INTO ticket_logs (ticket_id, action_type) "
                   f"VALUES ({w['open']}, 'resume')")
    finally:
        c.close()
    assert one(admin, "SELECT paused_minutes FROM service_tickets WHERE ticket_id = %s",
               (w["open"],)) <= 1


def test_a_row_dated_2038_does_not_freeze_the_ticket(admin, logins, w):
    c = session(logins["agent"], FORGED["2038"])
    try:
        execute(c, f"INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                   f"VALUES ({w['open']}, 'reply', {w['agent']})")
    finally:
        c.close()
    other = connect(logins["agent"])
    try:  # another agent, honest clock, moves the same ticket
        execute(other, f"INSERT INTO ticket_logs (ticket_id, action_type) "
                       f"VALUES ({w['open']}, 'resolve')")
    finally:
        other.close()
    assert one(admin, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (w["open"],)) == "resolved"


def test_a_rating_under_a_moved_clock_is_dated_now(admin, w):
    """ticket_ratings is written by the application's account (table grants)."""
    log(admin, w["open"], "resolve")
    execute(admin, FORGED["2038"])
    try:
        execute(admin, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (%s, 4)",
                (w["open"],))
    finally:
        execute(admin, "SET SESSION timestamp = DEFAULT")
    rated = one(admin, "SELECT rated_at FROM ticket_ratings WHERE ticket_id = %s", (w["open"],))
    assert abs(rated - real_now(admin)) < timedelta(minutes=1)


NEAR_THE_FORGED_CLOCK = {  # explicit times a session with the 2038 clock would call "now"
    "action_time": "INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
                   "VALUES ({open}, 'reply', {agent}, UTC_TIMESTAMP() - INTERVAL 1 MINUTE)",
    "created_at": "INSERT INTO service_tickets (customer_id, subject, created_at) "
                  "VALUES ({customer}, 'Hostile', UTC_TIMESTAMP() - INTERVAL 1 MINUTE)",
    "created_at of a message": "INSERT INTO messages (conversation_id, sender_type, sender_id, "
                               "content, created_at) VALUES ({conversation}, 'agent', {agent}, "
                               "'x', UTC_TIMESTAMP() - INTERVAL 1 MINUTE)",
}


@pytest.mark.parametrize("sql", list(NEAR_THE_FORGED_CLOCK.values()),
                         ids=list(NEAR_THE_FORGED_CLOCK))
def test_a_time_near_a_forged_clock_is_judged_by_the_real_one(admin, logins, w, sql):
    refused(admin, w, logins["agent"], (FORGED["2038"],), sql, "in the future")


def test_a_rating_near_a_forged_clock_is_refused(admin, db, w):
    log(admin, w["open"], "resolve")
    refused(admin, w, db, (FORGED["2038"],), "INSERT INTO ticket_ratings (ticket_id, rating, "
            "rated_at) VALUES ({open}, 4, UTC_TIMESTAMP() - INTERVAL 1 MINUTE)", "rated_at")


CLOCK_CALLS = {**CALLS, "reporting": REPORTS}


@pytest.mark.parametrize("forged", list(FORGED))
@pytest.mark.parametrize(("role", "sql"), cases(CLOCK_CALLS))
def test_no_procedure_runs_under_a_moved_clock(admin, logins, w, role, sql, forged):
    refused(admin, w, logins[role], (FORGED[forged],), sql, "timestamp", honest=True)


# --- 3. the session's switches ---------------------------------------------------

SWITCHES = {
    "foreign_key_checks": "SET SESSION foreign_key_checks = 0",
    "unique_checks": "SET SESSION unique_checks = 0",
    "check_constraint_checks": "SET SESSION check_constraint_checks = 0",
    "max_error_count": "SET SESSION max_error_count = 0",
}


@pytest.mark.parametrize("switch", list(SWITCHES))
@pytest.mark.parametrize(("role", "sql"), cases(WRITES))
def test_no_write_under_a_weakening_switch(admin, logins, w, role, sql, switch):
    """Under the switch the write is refused, naming the switch; the same
    write then succeeds in an honest session."""
    refused(admin, w, logins[role], (SWITCHES[switch],), sql, switch, honest=True)


@pytest.mark.parametrize("switch", ["foreign_key_checks", "unique_checks",
                                    "check_constraint_checks"])
@pytest.mark.parametrize(("role", "sql"), cases(CALLS))
def test_no_procedure_writes_under_a_weakening_switch(admin, logins, w, role, sql, switch):
    refused(admin, w, logins[role], (SWITCHES[switch],), sql, switch, honest=True)


WEAK_MODE = "SET SESSION sql_mode = ''"
EXPLOITS = {  # what a weak sql_mode or IGNORE would let through, by role
    "agent": {
        "unknown action_type": (WEAK_MODE, "INSERT INTO ticket_logs (ticket_id, action_type) "
                                           "VALUES ({open}, 'wait_customerX')"),
        "IGNORE unknown action_type": ("SET @x = 1", "INSERT IGNORE INTO ticket_logs "
                                       "(ticket_id, action_type) VALUES ({open}, 'bogus')"),
        "truncated note": (WEAK_MODE, "INSERT INTO ticket_logs (ticket_id, action_type, "
                           "agent_id, note) VALUES ({open}, 'reply', {agent}, REPEAT('n', 1200))"),
        "unknown priority": (WEAK_MODE, "INSERT INTO service_tickets (customer_id, subject, "
                             "priority) VALUES ({customer}, 'Hostile', 'critical')"),
        "truncated subject": (WEAK_MODE, "INSERT INTO service_tickets (customer_id, subject) "
                              "VALUES ({customer}, REPEAT('s', 300))"),
        "bad date": (WEAK_MODE, "INSERT INTO service_tickets (customer_id, subject, created_at)"
                     " VALUES ({customer}, 'Hostile', '2026-13-45')"),
        "unknown channel": (WEAK_MODE, "INSERT INTO interactions (customer_id, channel) "
                            "VALUES ({customer}, 'fax')"),
        "unknown sender_type": (WEAK_MODE, "INSERT INTO messages (conversation_id, sender_type, "
                                "sender_id, content) VALUES ({conversation}, 'bot', 1, 'x')"),
        "unknown conversation status": (WEAK_MODE, "UPDATE conversations SET status = 'gone' "
                                        "WHERE conversation_id = {conversation}"),
        "IGNORE missing agent": ("SET @x = 1", "INSERT IGNORE INTO ticket_logs "
                                 "(ticket_id, action_type, agent_id) "
                                 "VALUES ({open}, 'reply', 4000000000)"),
        "max_error_count hides warnings": ("SET SESSION sql_mode = '', max_error_count = 0",
                                           "INSERT INTO ticket_logs (ticket_id, action_type) "
                                           "VALUES ({open}, 'bogus')"),
    },
    "supervisor": {
        "unknown role": (WEAK_MODE, "INSERT INTO agents (name, email, role) "
                         "VALUES ('Boss', 'boss{n}.h@example.com', 'root')"),
        "unknown rule priority": (WEAK_MODE, "UPDATE escalation_rules SET to_priority = 'now' "
                                  "WHERE rule_id = {rule}"),
    },
}
RULES_NAMED = ("sql_mode", "IGNORE", "no such agent", "max_error_count")


@pytest.mark.parametrize(("role", "setting", "sql"), [
    pytest.param(role, setting, sql, id=f"{role}-{what}")
    for role, by_what in EXPLOITS.items() for what, (setting, sql) in by_what.items()])
def test_a_weak_sql_mode_or_ignore_changes_nothing(admin, logins, w, role, setting, sql):
    """A trigger runs under its own (strict) sql_mode and cannot read the
    caller's: what the caller's weak mode or IGNORE did to the row shows as a
    warning, and any warning before the rules ran is refused."""
    _, message = refused(admin, w, logins[role], (setting,), sql, RULES_NAMED)
    if setting == WEAK_MODE:
        assert "sql_mode" in message, message


def test_a_waiting_ticket_is_not_stuck_after_a_weak_session(admin, logins, w):
    """The issue's case: '' stored as an action left a waiting ticket stuck."""
    log(admin, w["open"], "wait_customer")
    c = session(logins["agent"], WEAK_MODE)
    try:
        with pytest.raises(pymysql.MySQLError):
            execute(c, "INSERT INTO ticket_logs (ticket_id, action_type) "
                       f"VALUES ({w['open']}, 'x')")
    finally:
        c.close()
    log(admin, w["open"], "resume")
    assert one(admin, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (w["open"],)) == "in_progress"
