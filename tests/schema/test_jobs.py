"""The scheduled jobs: exclusion by a lease only definer code can touch, a
record of every run (ticketdb_job_runs), `deploy.py jobs` and `status
--check`, tried with real role logins and the real event scheduler."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pymysql
import pytest
from support import (
    Background,
    agent,
    execute,
    expect_error,
    one,
    query,
    role_logins,
    ticket,
)
from support.deploy import run

from ticketdb import roles
from ticketdb.connection import connect
from ticketdb.sources import ROOT

DENIED = (1142, 1143, 1370)
OLD_LOCK = ("SELECT CONCAT('ticketdb.', LEFT(DATABASE(), 24), '.', LEFT(MD5(DATABASE()), 8), "
            "'.', %s)")


def wait_for(conn, sql: str, seconds: float, args=None):
    deadline = time.monotonic() + seconds
    while True:
        value = one(conn, sql, args)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def every_second(conn, event: str) -> None:
    execute(conn, f"ALTER EVENT {event} ON SCHEDULE EVERY 1 SECOND ENABLE")


def runs(conn, job: str) -> list[dict]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT * FROM ticketdb_job_runs WHERE job = %s ORDER BY run_id", (job,))
        return list(cur.fetchall())


def job_state(conn, job: str) -> str:
    """What a failed wait for a job shows: its runs, its lease, its event and
    the server's sessions (a flaky wait explains itself in CI's output)."""
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT * FROM ticketdb_job_leases WHERE job = %s", (job,))
        lease = cur.fetchall()
        cur.execute("SELECT event_name, status, interval_value, interval_field, starts, "
                    "last_executed, time_zone, sql_mode FROM information_schema.events "
                    "WHERE event_schema = DATABASE() AND event_name = %s", (f"ev_{job}",))
        event = cur.fetchall()
        cur.execute("SELECT id, user, db, command, time, state, LEFT(info, 80) AS info "
                    "FROM information_schema.processlist WHERE id <> CONNECTION_ID()")
        sessions = cur.fetchall()
        cur.execute("SELECT UTC_TIMESTAMP(6) AS now, @@global.event_scheduler AS scheduler, "
                    "@@global.read_only AS read_only")
        server = cur.fetchall()
    return "\n".join([f"runs: {runs(conn, job)}", f"lease: {lease}", f"event: {event}",
                      f"server: {server}", f"sessions: {sessions}"])


def test_every_event_is_one_call_of_the_job_runner(conn):
    events = query(conn, "SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS "
                         "WHERE EVENT_SCHEMA = DATABASE()")
    jobs = {r[0] for r in query(conn, "SELECT job FROM ticketdb_job_leases")}
    assert events
    for name, body in events:
        assert body == f"CALL sp_run_job('{name[3:]}')", (name, body)
        assert name[3:] in jobs, f"{name} has no lease row"
    # No lock name any login can compute is left (issue 20 item 4, issue 21
    # item 6); only the lease's own beacon, a random name, is a user lock.
    for folder in ("events", "procedures", "functions", "triggers", "sql"):
        for path in (ROOT / folder).glob("*.sql"):
            text = path.read_text()
            assert "LEFT(DATABASE(), 24)" not in text, path
            if path.stem not in ("sp_job_lease_take", "V032__job_leases"):
                assert "GET_LOCK" not in text, path


def test_no_skip(fresh_db, fresh_conn):
    """No login can make a job skip. Every role takes every lock name the
    events used to take, and tries the lease itself; the alert event still
    runs. (Short test names: roles are named after the test's database.)"""
    c = fresh_conn
    overdue = ticket(c, "urgent", age=timedelta(hours=3))
    with role_logins(fresh_db) as logins:
        held = []
        try:
            for kind, login in logins.items():
                s = connect(login)
                held.append(s)
                for name in ("alerts", "escalate", "snapshot", "retention", "archive",
                             "archive-event"):
                    lock = one(s, OLD_LOCK, (name,))
                    assert one(s, "SELECT GET_LOCK(%s, 0)", (lock,)) in (0, 1), kind
                execute(s, "START TRANSACTION")
                for sql in ("SELECT * FROM ticketdb_job_leases FOR UPDATE",
                            "SELECT * FROM ticketdb_job_leases LOCK IN SHARE MODE",
                            "UPDATE ticketdb_job_leases SET lease_until = '2099-01-01'",
                            "CALL sp_job_lease_take('generate_alerts', NULL, @t)",
                            "CALL sp_run_job('generate_alerts')",
                            "SELECT * FROM ticketdb_job_runs"):
                    expect_error(s, sql, code=DENIED)
            every_second(c, "ev_generate_alerts")
            assert wait_for(c, "SELECT COUNT(*) FROM ticket_alerts", 20) == 1, \
                "a login's lock made the alert event skip"
            assert one(c, "SELECT ticket_id FROM ticket_alerts") == overdue
        finally:
            for s in held:
                s.close()


def test_no_role_reads_an_internal_table(db):
    with role_logins(db) as logins:
        for login in logins.values():
            s = connect(login)
            try:
                for table in roles.INTERNAL_TABLES:
                    expect_error(s, f"SELECT * FROM {table} LOCK IN SHARE MODE", code=DENIED)
            finally:
                s.close()


def test_stall(fresh_db, fresh_conn):
    """Issue 20 item 4: a reporting login's share lock on the flow marks
    made another login's move wait until 1205. It may no longer take it;
    the move goes through at once."""
    c = fresh_conn
    tid = ticket(c)
    aid = agent(c)
    execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
               "VALUES (%s, 'assign', %s)", (tid, aid))
    with role_logins(fresh_db) as logins:
        reader, mover = connect(logins["reporting"]), connect(logins["agent"])
        try:
            execute(reader, "START TRANSACTION")
            expect_error(reader, "SELECT COUNT(*) FROM ticketdb_flow_marks LOCK IN SHARE MODE",
                         code=DENIED)
            one(reader, "SELECT COUNT(*) FROM service_tickets")  # it still reads tickets
            execute(mover, "SET SESSION innodb_lock_wait_timeout = 2")
            started = time.monotonic()
            execute(mover, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                           "VALUES (%s, 'reply', %s)", (tid, aid))
            assert time.monotonic() - started < 1.5
        finally:
            reader.close()
            mover.close()


def test_bound(fresh_db, fresh_conn):
    """docs/operations.md: an agent's locking read of tickets holds up a
    move for the mover's innodb_lock_wait_timeout, then the move fails with
    1205 and changes nothing; once the reader commits, the move goes."""
    c = fresh_conn
    tid = ticket(c)
    aid = agent(c)
    execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
               "VALUES (%s, 'assign', %s)", (tid, aid))
    with role_logins(fresh_db) as logins:
        holder, mover = connect(logins["agent"]), connect(logins["agent"])
        try:
            execute(holder, "START TRANSACTION")
            one(holder, "SELECT MAX(subject) FROM service_tickets LOCK IN SHARE MODE")
            execute(mover, "SET SESSION innodb_lock_wait_timeout = 2")
            started = time.monotonic()
            expect_error(mover, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                                "VALUES (%s, 'reply', %s)", (tid, aid), code=1205)
            assert 1.5 < time.monotonic() - started < 6
            assert one(c, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == 1
            execute(holder, "COMMIT")
            execute(mover, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                           "VALUES (%s, 'reply', %s)", (tid, aid))
        finally:
            holder.close()
            mover.close()


def test_every_run_is_recorded(fresh_conn):
    c = fresh_conn
    ticket(c, "urgent", age=timedelta(hours=3))
    every_second(c, "ev_generate_alerts")
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = 'generate_alerts' "
                       "AND outcome = 'succeeded' AND rows_affected = 1", 20) == 1
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = 'generate_alerts' "
                       "AND outcome = 'succeeded' AND rows_affected = 0", 20) >= 1
    execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 MINUTE "
               "STARTS '2026-01-01 00:00:00'")
    node = one(c, "SELECT CONCAT(@@hostname, ':', @@port)")
    for r in runs(c, "generate_alerts"):
        assert r["node"] == node and r["holder"].startswith(node + "#"), r
        assert r["finished_at"] >= r["started_at"] and r["error_code"] is None, r
    assert one(c, "SELECT holder FROM ticketdb_job_leases WHERE job = 'generate_alerts'") is None


def test_fails(fresh_db, fresh_conn):
    """An agent's share lock on one of two tickets due for escalation makes
    the escalation's lock wait run out (1205): the run is recorded failed
    with the server's error, neither ticket moved, `jobs` and `status
    --check` say so; once the lock goes, the next run escalates both."""
    c = fresh_conn
    # The shipped event fires at every tenth minute: one landing mid-test would
    # find the lease held and record a skip instead of the failure.
    execute(c, "ALTER EVENT ev_escalate_priorities DISABLE")
    first = ticket(c, "medium", age=timedelta(hours=30))
    second = ticket(c, "medium", age=timedelta(hours=30))
    with role_logins(fresh_db) as logins:
        holder = connect(logins["agent"])
        try:
            execute(holder, "START TRANSACTION")
            one(holder, "SELECT subject FROM service_tickets WHERE ticket_id = %s "
                        "LOCK IN SHARE MODE", (second,))
            execute(c, "SET SESSION innodb_lock_wait_timeout = 1")
            execute(c, "UPDATE ticketdb_job_leases SET slot_start = NULL "  # an event may have
                       "WHERE job = 'escalate_priorities'")                # run this period
            expect_error(c, "CALL sp_run_job('escalate_priorities')", code=1205)
            last = runs(c, "escalate_priorities")[-1]
            assert last["outcome"] == "failed" and last["error_code"] == 1205, last
            assert "Lock wait timeout" in last["error_message"], last
            assert one(c, "SELECT COUNT(*) FROM service_tickets WHERE priority = 'high'") == 0
            assert one(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_type = 'escalate'") == 0
            assert one(c, "SELECT holder FROM ticketdb_job_leases "
                          "WHERE job = 'escalate_priorities'") is None

            result = run(fresh_db, "status", "--check")
            assert result.returncode == 1, result.stdout + result.stderr
            assert "status --check: job escalate_priorities failed last" in result.stderr
            assert "error 1205: Lock wait timeout" in result.stderr
            report = json.loads(run(fresh_db, "jobs", "--json").stdout)
            job = {j["job"]: j for j in report["jobs"]}["escalate_priorities"]
            assert job["last_failure"]["error_code"] == 1205
            assert job["last_success"] is None and report["problems"]
            table = run(fresh_db, "jobs")
            assert table.returncode == 0 and "Lock wait timeout" in table.stdout, table.stdout
        finally:
            holder.close()
    every_second(c, "ev_escalate_priorities")
    assert wait_for(c, "SELECT COUNT(*) = 2 FROM service_tickets WHERE priority = 'high'", 20)
    execute(c, "ALTER EVENT ev_escalate_priorities ON SCHEDULE EVERY 10 MINUTE "
               "STARTS '2026-01-01 00:00:00'")
    assert {first, second} == {r[0] for r in query(
        c, "SELECT ticket_id FROM ticket_logs WHERE action_type = 'escalate'")}
    result = run(fresh_db, "status", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scheduler_turned_off_fails_status_check(fresh_db, fresh_conn, mysql_server):
    c = fresh_conn
    every_second(c, "ev_generate_alerts")
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = 'generate_alerts'", 20)
    admin = connect(mysql_server.target, database=None)
    try:
        execute(admin, "SET GLOBAL event_scheduler = OFF")
        time.sleep(3)
        result = run(fresh_db, "status", "--check")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "status --check: job generate_alerts has not run for" in result.stderr
        assert "event_scheduler is OFF" in result.stderr
        report = json.loads(run(fresh_db, "jobs", "--json").stdout)
        assert report["event_scheduler"] == "OFF"
        job = {j["job"]: j for j in report["jobs"]}["generate_alerts"]
        assert job["event_status"] == "ENABLED" and job["schedule"] == "every 1 SECOND"
        assert job["last_success"]["outcome"] == "succeeded"
        table = run(fresh_db, "jobs")
        assert table.returncode == 0 and "event_scheduler: OFF" in table.stdout, table.stdout
    finally:
        execute(admin, "SET GLOBAL event_scheduler = ON")
        admin.close()
    execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 MINUTE "
               "STARTS '2026-01-01 00:00:00'")
    assert run(fresh_db, "status", "--check").returncode == 0


def test_a_period_runs_once_and_a_lease_is_one_sessions(fresh_db, fresh_conn):
    """Two sessions (two nodes' events, on a cluster) for one period: one
    takes the lease, the other does not, and once the period ran nobody
    runs it again; the next period is free."""
    c = fresh_conn
    other = connect(fresh_db)
    try:
        slot, later = "2030-01-01 00:00:00", "2030-01-01 00:01:00"
        take = "CALL sp_job_lease_take('generate_alerts', %s, @t)"
        execute(c, take, (slot,))
        assert one(c, "SELECT @t") == 1
        execute(other, take, (slot,))
        assert one(other, "SELECT @t") == 0
        execute(c, take, (None,))
        assert one(c, "SELECT @t") == 2  # renewed: it is already this session's
        execute(c, "CALL sp_job_lease_release('generate_alerts')")
        execute(other, take, (slot,))
        assert one(other, "SELECT @t") == 0, "a period ran twice"
        execute(other, take, (later,))
        assert one(other, "SELECT @t") == 1
        assert one(c, "SELECT holder FROM ticketdb_job_leases WHERE job = 'generate_alerts'") \
            == one(other, "SELECT fn_job_holder()")
        execute(other, "CALL sp_job_lease_release('generate_alerts')")
    finally:
        other.close()


def test_a_dead_holder_gives_the_lease_back(fresh_db, fresh_conn):
    """A session holds the alert job's lease: the event skips (recorded,
    naming the holder). The session dies without giving it back: on its
    own server that is seen at once (its beacon lock is gone), and the
    event runs again long before the lease would expire."""
    c = fresh_conn
    ticket(c, "urgent", age=timedelta(hours=3))
    holder = connect(fresh_db)
    execute(holder, "CALL sp_job_lease_take('generate_alerts', NULL, @t)")
    assert one(holder, "SELECT @t") == 1
    name = one(holder, "SELECT fn_job_holder()")
    every_second(c, "ev_generate_alerts")
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = 'generate_alerts' "
                       "AND outcome = 'skipped'", 10)
    assert one(c, "SELECT COUNT(*) FROM ticket_alerts") == 0, "a run overlapped"
    message = runs(c, "generate_alerts")[0]["error_message"]
    assert message.startswith("ticketdb: job generate_alerts: the previous run (" + name), message
    execute(c, "KILL %s", (int(name.rsplit("#", 1)[1]),))
    assert wait_for(c, "SELECT COUNT(*) FROM ticket_alerts", 10) == 1
    execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 MINUTE "
               "STARTS '2026-01-01 00:00:00'")


def test_another_nodes_lease_lasts_until_it_expires(fresh_conn):
    """A lease written by another node (as on a cluster: its holder names
    its own host and port) is only known by lease_until: the event skips
    until then, and runs once it has expired (the node died)."""
    c = fresh_conn
    ticket(c, "urgent", age=timedelta(hours=3))
    execute(c, "UPDATE ticketdb_job_leases SET holder = 'node-2.example:3306#7', "
               "beacon = 'ticketdb.lease.elsewhere', "
               "lease_until = fn_job_clock() + INTERVAL 6 SECOND WHERE job = 'generate_alerts'")
    taken = time.monotonic()
    every_second(c, "ev_generate_alerts")
    assert wait_for(c, "SELECT COUNT(*) FROM ticket_alerts", 20) == 1
    assert time.monotonic() - taken > 4, "another node's lease was taken before it expired"
    assert one(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE outcome = 'skipped' "
                  "AND error_message LIKE '%node-2.example:3306#7%'") >= 1
    execute(c, "ALTER EVENT ev_generate_alerts ON SCHEDULE EVERY 1 MINUTE "
               "STARTS '2026-01-01 00:00:00'")


def test_a_run_whose_session_died_is_marked_interrupted(fresh_db, fresh_conn):
    c = fresh_conn
    tid = ticket(c, "medium", age=timedelta(hours=30))
    execute(c, "UPDATE ticketdb_job_leases SET lease_seconds = 10, slot_start = NULL "
               "WHERE job = 'escalate_priorities'")
    blocker, runner = connect(fresh_db), connect(fresh_db)
    execute(blocker, "START TRANSACTION")
    one(blocker, "SELECT subject FROM service_tickets WHERE ticket_id = %s FOR UPDATE", (tid,))
    execute(runner, "SET SESSION innodb_lock_wait_timeout = 60")
    runner_id, name = one(runner, "SELECT CONNECTION_ID(), fn_job_holder()")
    job = Background(lambda: execute(runner, "CALL sp_run_job('escalate_priorities')"))
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE outcome = 'running'", 10)
    execute(c, "KILL %s", (runner_id,))
    with pytest.raises(pymysql.MySQLError):
        job.join()
    blocker.close()
    mine = [r for r in runs(c, "escalate_priorities") if r["holder"] == name]
    assert [r["outcome"] for r in mine] == ["running"]
    every_second(c, "ev_escalate_priorities")
    assert wait_for(c, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = 'escalate_priorities' "
                       "AND outcome = 'succeeded' AND rows_affected = 1", 60), \
        job_state(c, "escalate_priorities")
    execute(c, "ALTER EVENT ev_escalate_priorities ON SCHEDULE EVERY 10 MINUTE "
               "STARTS '2026-01-01 00:00:00'")
    first = next(r for r in runs(c, "escalate_priorities") if r["holder"] == name)
    assert first["outcome"] == "interrupted" and first["finished_at"] is not None, first
    assert one(c, "SELECT priority FROM service_tickets WHERE ticket_id = %s", (tid,)) == "high"


def test_runs_are_kept_as_long_as_the_setting_says(fresh_conn):
    c = fresh_conn
    execute(c, "UPDATE ticketdb_settings SET setting_value = 30 "
               "WHERE setting_name = 'job_run_retention_days'")
    for days in (100, 10):
        execute(c, "INSERT INTO ticketdb_job_runs (job, started_at, finished_at, outcome, node, "
                   "holder) VALUES ('apply_retention', UTC_TIMESTAMP() - INTERVAL %s DAY, "
                   "UTC_TIMESTAMP() - INTERVAL %s DAY, 'succeeded', 'old', 'old#1')",
                (days, days))
    execute(c, "CALL sp_run_job('apply_retention')")
    ages = [r[0] for r in query(c, "SELECT TIMESTAMPDIFF(DAY, started_at, UTC_TIMESTAMP()) "
                                   "FROM ticketdb_job_runs WHERE job = 'apply_retention' "
                                   "ORDER BY started_at")]
    assert ages == [10, 0]


def test_a_misconfigured_job_fails_with_its_own_message(fresh_db, fresh_conn):
    """sp_apply_retention refuses to run without its settings: the run is
    recorded with the ticketdb: message, and `status --check` names it."""
    c = fresh_conn
    execute(c, "DELETE FROM ticketdb_settings WHERE setting_name = 'alert_retention_days'")
    expect_error(c, "CALL sp_run_job('apply_retention')", code=1644)
    last = runs(c, "apply_retention")[-1]
    assert last["outcome"] == "failed" and last["error_code"] == 1644
    assert last["error_message"].startswith("ticketdb: sp_apply_retention: a retention setting")
    result = run(fresh_db, "status", "--check")
    assert result.returncode == 1
    assert "job apply_retention failed last" in result.stderr
    expect_error(c, "CALL sp_run_job('no_such_job')", code=1644, match="unknown job no_such_job")
