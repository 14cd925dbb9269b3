"""The set-based escalation (issue 22, goal 1; docs/security.md, "The
escalation's mark"): sp_escalate_priorities writes its log rows with their
from/to values, numbers and hashes in one INSERT ... SELECT and raises the
tickets in one UPDATE ... JOIN, and the flow trigger takes such a row as it
is only under the procedure's own mark and secret. What it writes must be
what the row-by-row flow wrote; no role login may use the same door.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pymysql
import pytest
from support import (
    agent,
    call,
    execute,
    expect_error,
    flow_error,
    log,
    one,
    query,
    role_logins,
    state,
    ticket,
)
from support.databases import drop_database, new_database

from ticketdb.connection import Target, connect, fetch_dicts

DENIED = (1142, 1143, 1370)  # table, column, routine access denied
OLD = timedelta(days=2)
NODE = "CRC32(CONCAT(@@hostname, ':', @@port))"


@pytest.fixture(scope="module")
def db(mysql_server) -> Iterator[Target]:
    """The module's database, under a short name: the roles are named after
    it and a role name has at most 32 characters."""
    target = new_database(mysql_server, "esc")
    yield target
    drop_database(target)


@pytest.fixture(scope="module")
def logins(db: Target, scheduler_off: None) -> Iterator[dict[str, Target]]:
    with role_logins(db) as made:
        yield made


@pytest.fixture
def admin(db: Target) -> Iterator[pymysql.connections.Connection]:
    c = connect(db)
    execute(c, "UPDATE escalation_rules SET is_active = FALSE")
    yield c
    execute(c, "UPDATE escalation_rules SET is_active = FALSE")
    c.close()


def rule(conn, from_p: str, to_p: str, status: str | None = None,
         unassigned: bool = False) -> None:
    execute(conn, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes, "
                  "only_status, only_unassigned) VALUES (%s, %s, 60, %s, %s)",
            (from_p, to_p, status, unassigned))


def verify_clean(conn, tid: int) -> None:
    """sp_verify_audit_trail finds nothing, and each row's hash is the one
    fn_ticket_log_hash_seq gives for its stored columns and predecessor."""
    assert call(conn, "sp_verify_audit_trail", tid) == []
    bad = query(conn, """
        SELECT l.log_id FROM ticket_logs AS l
        LEFT JOIN ticket_logs AS p ON p.ticket_id = l.ticket_id
            AND p.ticket_seq = l.ticket_seq - 1
        WHERE l.ticket_id = %s AND NOT l.row_hash <=> fn_ticket_log_hash_seq(
            p.row_hash, l.ticket_seq, l.ticket_id, l.action_type, l.agent_id, l.from_status,
            l.to_status, l.old_priority, l.new_priority, l.note, l.action_time,
            l.actor_agent_id, l.actor_login)""", (tid,))
    assert bad == ()


def escalate_rows(conn, tid: int) -> list[dict]:
    return fetch_dicts(conn, "SELECT * FROM ticket_logs WHERE ticket_id = %s "
                             "AND action_type = 'escalate' ORDER BY ticket_seq", (tid,))


def marks(conn) -> int:
    return one(conn, "SELECT COUNT(*) FROM ticketdb_flow_marks")


def test_the_pass_writes_what_the_flow_would(admin, logins):
    c = admin
    rule(c, "medium", "high")
    rule(c, "low", "medium", status="waiting_customer")
    aid = agent(c)
    fresh = ticket(c, age=OLD)
    working = ticket(c, age=OLD)
    log(c, working, "assign", aid)
    log(c, working, "reply", aid)
    waiting = ticket(c, priority="low", age=OLD)
    log(c, waiting, "assign", aid)
    log(c, waiting, "wait_customer", aid)
    young = ticket(c)  # not old enough
    before = {t: state(c, t) for t in (fresh, working, waiting, young)}

    sup = connect(logins["supervisor"])
    try:
        assert call(sup, "sp_escalate_priorities")[0]["escalated"] >= 3
        login = one(sup, "SELECT SESSION_USER()")
    finally:
        sup.close()

    for tid, new in ((fresh, "high"), (working, "high"), (waiting, "medium")):
        old, now = before[tid], state(c, tid)
        rows = escalate_rows(c, tid)
        assert len(rows) == 1, "one log row per escalated ticket"
        row = rows[0]
        assert (row["from_status"], row["to_status"]) == (old["current_status"],) * 2
        assert (row["old_priority"], row["new_priority"]) == (old["priority"], new)
        assert row["actor_login"] == login, "the secret never stays in the row"
        assert row["ticket_seq"] == old["log_seq"] + 1
        assert row["note"] == "escalation rule" and row["agent_id"] is None
        assert now["priority"] == new and now["current_status"] == old["current_status"]
        assert now["log_seq"] == row["ticket_seq"] and now["log_head"] == row["row_hash"]
        assert now["last_action_at"] == row["action_time"] and now["alert_stage"] == 0
        assert now["assigned_agent_id"] == old["assigned_agent_id"]
        verify_clean(c, tid)
    assert state(c, young) == before[young] and escalate_rows(c, young) == []
    assert marks(c) == 0, "the mark does not outlive the call"
    # the flow goes on from the escalated head
    log(c, working, "resolve", aid)
    log(c, fresh, "close")
    verify_clean(c, working)
    verify_clean(c, fresh)


def forged_rows(tid: int, token: str) -> list[tuple[str, tuple]]:
    """Escalate rows as the procedure sends them, pre-computed by a client:
    each says something about the ticket (pending, medium, log_seq 0) that
    only a row taken as it is could get past the flow."""
    cols = ("INSERT INTO ticket_logs (ticket_id, action_type, from_status, to_status, "
            "old_priority, new_priority, note, actor_login, ticket_seq, row_hash) "
            "VALUES (%s, 'escalate', %s, %s, %s, %s, 'escalation rule', %s, %s, %s)")
    fake = secrets.token_bytes(32)
    return [
        ("a status the ticket is not in", cols,
         (tid, "in_progress", "in_progress", "medium", "high", token, 1, fake)),
        ("a wrong old priority", cols,
         (tid, "pending", "pending", "low", "high", token, 1, fake)),
        ("a lowered priority", cols,
         (tid, "pending", "pending", "medium", "low", token, 1, fake)),
        ("a move the flow never makes", cols.replace("'escalate'", "'resolve'"),
         (tid, "pending", "resolved", None, None, token, 1, fake)),
    ]


def assert_untouched(admin, tid: int, before: dict, logs: int) -> None:
    assert state(admin, tid) == before
    assert one(admin, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == logs


@pytest.mark.parametrize("kind", ["agent", "supervisor"])
def test_a_role_sending_precomputed_rows_is_refused(admin, logins, kind):
    """The agent and supervisor roles may name every ticket_logs column but
    log_id: their pre-computed rows, with or without a guess at the secret,
    go through the full flow, which refuses each one."""
    c = admin
    tid = ticket(c, age=OLD)
    role = connect(logins[kind])
    try:
        for token in (secrets.token_hex(32), None):
            for what, sql, args in forged_rows(tid, token):
                message = flow_error(role, sql, args)
                assert f"ticket {tid}" in message, what
        # a row that tells the truth is taken, but not as it is: the trigger
        # numbers it, hashes it and records the login
        fake = secrets.token_bytes(32)
        execute(role, "INSERT INTO ticket_logs (ticket_id, action_type, from_status, to_status, "
                      "old_priority, new_priority, actor_login, ticket_seq, row_hash) VALUES "
                      "(%s, 'escalate', 'pending', 'pending', 'medium', 'high', %s, 7, %s)",
                (tid, secrets.token_hex(32), fake))
        login = one(role, "SELECT SESSION_USER()")
    finally:
        role.close()
    row = escalate_rows(c, tid)[0]
    assert row["row_hash"] != fake and row["ticket_seq"] == 1 and row["actor_login"] == login
    assert state(c, tid)["log_head"] == row["row_hash"]
    verify_clean(c, tid)


def test_the_app_role_cannot_even_name_the_columns(admin, logins):
    tid = ticket(admin, age=OLD)
    app = connect(logins["app"])
    try:
        expect_error(app, "INSERT INTO ticket_logs (ticket_id, action_type, actor_login, "
                          "ticket_seq, row_hash) VALUES (%s, 'escalate', 'x', 1, "
                          "REPEAT('x', 32))", (tid,), code=DENIED)
    finally:
        app.close()


def test_no_role_reads_or_writes_the_mark(admin, logins):
    for target in logins.values():
        role = connect(target)
        try:
            expect_error(role, "SELECT * FROM ticketdb_flow_marks", code=DENIED)
            expect_error(role, f"INSERT INTO ticketdb_flow_marks (node_key, connection_id, "
                               f"ticket_id, batch_token) VALUES ({NODE}, CONNECTION_ID(), "
                               f"NULL, 'x')", code=DENIED)
        finally:
            role.close()


def test_a_mark_left_behind_is_no_door_without_its_secret(admin, logins):
    """As if a call were cut off after it took its mark (on a server whose
    handler did not roll back): the session holds an escalation mark it
    cannot read. Its rows still take the full flow, and a direct change of
    the ticket is still refused by the grants."""
    c = admin
    tid = ticket(c, age=OLD)
    before = state(c, tid)
    sup = connect(logins["supervisor"])
    try:
        conn_id = one(sup, "SELECT CONNECTION_ID()")
        secret = secrets.token_hex(32)
        execute(c, f"INSERT INTO ticketdb_flow_marks (node_key, connection_id, ticket_id, "
                   f"batch_token) VALUES ({NODE}, %s, NULL, %s)", (conn_id, secret))
        try:
            for token in (secrets.token_hex(32), secret.upper()[:63], "", None):
                for _what, sql, args in forged_rows(tid, token):
                    flow_error(sup, sql, args)
            expect_error(sup, "UPDATE service_tickets SET priority = 'high', log_seq = 1 "
                              "WHERE ticket_id = %s", (tid,), code=DENIED)
        finally:
            execute(c, "DELETE FROM ticketdb_flow_marks WHERE connection_id = %s", (conn_id,))
    finally:
        sup.close()
    assert_untouched(c, tid, before, 0)


def test_a_pass_cut_off_holding_its_mark_leaves_no_door(admin, logins, db):
    """The supervisor's pass is stopped (KILL QUERY) while it waits to
    write its log rows, holding its mark: the call fails, its transaction
    and mark are rolled back, and rows the same session sends next take the
    full flow."""
    c = admin
    rule(c, "medium", "high")
    tid = ticket(c, age=OLD)
    other = ticket(c, age=OLD)
    before = state(c, tid)
    logs_before = one(c, "SELECT COUNT(*) FROM ticket_logs")
    # A gap lock above the last log row: the pass's INSERT waits on it.
    blocker = connect(db, autocommit=False)
    sup = connect(logins["supervisor"])
    watcher = connect(db)
    try:
        execute(blocker, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        execute(blocker, "START TRANSACTION")
        execute(blocker, "SELECT * FROM ticket_logs WHERE log_id > %s FOR UPDATE",
                (one(c, "SELECT COALESCE(MAX(log_id), 0) FROM ticket_logs"),))
        conn_id = one(sup, "SELECT CONNECTION_ID()")
        failure: list[BaseException] = []

        def run() -> None:
            try:
                call(sup, "sp_escalate_priorities")
            except pymysql.MySQLError as exc:
                failure.append(exc)

        caller = threading.Thread(target=run)
        caller.start()
        execute(watcher, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and one(
                watcher, "SELECT COUNT(*) FROM ticketdb_flow_marks WHERE connection_id = %s "
                         "AND ticket_id IS NULL AND batch_token IS NOT NULL", (conn_id,)) == 0:
            time.sleep(0.05)
        # the pass holds its mark now, and waits on the gap lock
        time.sleep(0.3)
        execute(watcher, f"KILL QUERY {conn_id}")
        caller.join(30)
        assert not caller.is_alive() and failure, "the pass was cut off"
        blocker.rollback()
        assert one(sup, "SELECT @@in_transaction") == 0
        assert one(watcher, "SELECT COUNT(*) FROM ticketdb_flow_marks") == 0
        for _what, sql, args in forged_rows(tid, secrets.token_hex(32)):
            flow_error(sup, sql, args)
    finally:
        blocker.close()
        sup.close()
        watcher.close()
    assert_untouched(c, tid, before, 0)
    assert state(c, other)["priority"] == "medium"
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == logs_before
    # and the next pass escalates both
    assert call(c, "sp_escalate_priorities")[0]["escalated"] >= 2
    assert state(c, tid)["priority"] == state(c, other)["priority"] == "high"
    verify_clean(c, tid)
    verify_clean(c, other)


def test_a_rule_that_does_not_raise_stops_the_pass(admin):
    """The trigger no longer checks each escalate row's priority: the pass
    does, per rule, and refuses a rule that would lower one (here an admin
    took the table's CHECK away to write it)."""
    c = admin
    tid = ticket(c, age=OLD)
    execute(c, "ALTER TABLE escalation_rules DROP CONSTRAINT chk_escalation_rules_raises")
    try:
        execute(c, "INSERT INTO escalation_rules (from_priority, to_priority, min_age_minutes) "
                   "VALUES ('medium', 'low', 60)")
        flow_error(c, "CALL sp_escalate_priorities()", match="does not raise the priority")
        assert state(c, tid)["priority"] == "medium" and escalate_rows(c, tid) == []
    finally:
        execute(c, "DELETE FROM escalation_rules WHERE to_priority = 'low'")
        execute(c, "ALTER TABLE escalation_rules ADD CONSTRAINT chk_escalation_rules_raises "
                   "CHECK (to_priority + 0 < from_priority + 0)")
