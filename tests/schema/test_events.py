"""The scheduled events (docs/operations.md), run by the server's own event scheduler."""

from __future__ import annotations

import time
from datetime import timedelta

from support import execute, one, query, ticket

from ticketdb.connection import connect


def wait_for(conn, sql: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        value = one(conn, sql)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_events_are_scheduled_as_the_contract_says(conn):
    rows = {r[0]: r[1:] for r in query(
        conn, "SELECT EVENT_NAME, INTERVAL_VALUE, INTERVAL_FIELD, STATUS, TIME_ZONE "
              "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")}
    assert rows == {
        "ev_escalate_priorities": ("10", "MINUTE", "ENABLED", "+00:00"),
        "ev_generate_alerts": ("1", "MINUTE", "ENABLED", "+00:00"),
        "ev_snapshot_urgent_tickets": ("1", "DAY", "ENABLED", "+00:00"),
        "ev_apply_retention": ("1", "DAY", "ENABLED", "+00:00"),
        "ev_archive_ticket_logs": ("1", "DAY", "ENABLED", "+00:00"),
        "ev_refresh_customer_tiers": ("1", "DAY", "ENABLED", "+00:00"),
        "ev_seal_audit_trail": ("1", "DAY", "ENABLED", "+00:00"),
    }


def test_the_scheduler_runs_the_alert_event(fresh_conn):
    c = fresh_conn
    assert one(c, "SELECT @@global.event_scheduler") == "ON"
    overdue = ticket(c, "urgent", age=timedelta(hours=3))
    # The shipped schedule is every minute; run it every second for the test.
    execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 SECOND")
    assert wait_for(c, "SELECT COUNT(*) FROM ticket_alerts", 15) == 1
    assert one(c, "SELECT ticket_id FROM ticket_alerts") == overdue


def test_the_scheduler_runs_the_escalation_event(fresh_conn):
    c = fresh_conn
    tid = ticket(c, "medium", age=timedelta(hours=30))
    execute(c, "ALTER EVENT ev_escalate_priorities ON SCHEDULE EVERY 1 SECOND")
    assert wait_for(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_type = 'escalate'", 15) == 1
    assert one(c, "SELECT priority FROM service_tickets WHERE ticket_id = %s", (tid,)) == "high"


def test_events_do_nothing_on_a_read_only_server(fresh_db, fresh_conn):
    c = fresh_conn
    ticket(c, "urgent", age=timedelta(hours=3))
    admin = connect(fresh_db)
    try:
        execute(admin, "SET GLOBAL read_only = ON")
        recorded = one(c, "SELECT COUNT(*) FROM ticketdb_job_runs")
        execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 SECOND")
        time.sleep(3.5)
        assert one(c, "SELECT COUNT(*) FROM ticket_alerts") == 0, "an event wrote on a replica"
        assert one(c, "SELECT COUNT(*) FROM ticketdb_job_runs") == recorded, \
            "a replica recorded a run"
    finally:
        execute(admin, "SET GLOBAL read_only = OFF")
        admin.close()
    # The same event writes as soon as the server is writable: the test can fail.
    assert wait_for(c, "SELECT COUNT(*) FROM ticket_alerts", 15) == 1


def test_an_event_skips_its_turn_while_the_previous_run_holds_its_lease(fresh_db, fresh_conn):
    c = fresh_conn
    ticket(c, "urgent", age=timedelta(hours=3))
    holder = connect(fresh_db)  # the deployer's account: definer code may take a lease
    try:
        execute(holder, "CALL sp_job_lease_take('generate_alerts', NULL, @taken)")
        assert one(holder, "SELECT @taken") == 1
        execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 SECOND")
        time.sleep(3)
        assert one(c, "SELECT COUNT(*) FROM ticket_alerts") == 0, "a run overlapped"
        assert one(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE outcome = 'skipped'") >= 1
        execute(holder, "CALL sp_job_lease_release('generate_alerts')")
        deadline = time.monotonic() + 15
        while one(c, "SELECT COUNT(*) FROM ticket_alerts") == 0:
            assert time.monotonic() < deadline, "the event never ran once the lease was free"
            time.sleep(0.25)
    finally:
        execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 MINUTE "
                   "STARTS '2026-01-01 00:00:00'")
        holder.close()
