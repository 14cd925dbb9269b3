"""The monthly archive of the audit trail (issue 14, part 1): sp_archive_ticket_logs,
ticket_logs_YYYYMM and ticket_log_archives, ev_archive_ticket_logs, and every
reader that must follow rows into the archives."""

from __future__ import annotations

import time
from datetime import timedelta

import pymysql
import pytest
from support import (
    Background,
    agent,
    call,
    execute,
    expect_error,
    flow_error,
    log,
    month_start,
    old_history,
    one,
    query,
    role_logins,
    state,
    utcnow,
)
from support.deploy import run
from support.replay import replay

from ticketdb.connection import connect


def this_month(conn) -> str:
    return month_start(utcnow(conn)).date().isoformat()


def archives(conn) -> dict[str, int]:
    """Each archive table and the rows it really holds."""
    names = [r[0] for r in query(
        conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
              "AND TABLE_NAME REGEXP '^ticket_logs_[0-9]{6}$' ORDER BY TABLE_NAME")]
    return {n: one(conn, f"SELECT COUNT(*) FROM `{n}`") for n in names}


def every_log_id(conn) -> list[int]:
    """log_id of every row, live or archived (duplicates kept)."""
    ids = [r[0] for r in query(conn, "SELECT log_id FROM ticket_logs")]
    for name in archives(conn):
        ids += [r[0] for r in query(conn, f"SELECT log_id FROM `{name}`")]
    return sorted(ids)


def trace(conn, tid: int) -> list[dict]:
    return call(conn, "sp_ticket_trace", tid)


def test_old_months_move_to_their_archives_and_every_reader_follows(fresh_db, fresh_conn,
                                                                     scheduler_off):
    c = fresh_conn
    aid = agent(c)
    tid, other = old_history(c, months=13, tickets=2, agent_id=aid)
    log(c, tid, "reply", aid)  # this month's: stays live
    before_trace = trace(c, tid)
    before_ids = every_log_id(c)
    assert len(before_trace) == 1 + 13 + 1

    moved = call(c, "sp_archive_ticket_logs", this_month(c))
    held = archives(c)
    assert len(held) == 13, held
    assert {r["table_name"]: r["rows_moved"] for r in moved} == held
    listed = {r[0]: r[1] for r in query(
        c, "SELECT table_name, rows_archived FROM ticket_log_archives")}
    assert listed == held
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == 1
    assert every_log_id(c) == before_ids  # nothing lost, nothing twice
    for name in held:  # each row in its own month's table
        month = name[-6:]
        assert one(c, f"SELECT COUNT(*) FROM `{name}` "
                      f"WHERE DATE_FORMAT(action_time, '%Y%m') <> '{month}'") == 0

    assert trace(c, tid) == before_trace  # same rows, same order, across 14 tables
    assert [r["action_type"] for r in trace(c, other)][:2] == ["assign", "reply"]
    ticket_row = state(c, tid)
    implied = replay(trace(c, tid), "medium")
    assert {k: ticket_row[k] for k in implied} == implied
    assert call(c, "sp_verify_audit_trail", None) == []

    # The flow goes on for a ticket whose history is archived; so does rating
    # the resolution after a reopen that now lies in an archive.
    log(c, tid, "resolve", aid)
    log(c, tid, "reopen", aid)
    log(c, tid, "resolve", aid)
    execute(c, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (%s, 4)", (tid,))
    assert state(c, tid)["current_status"] == "resolved"
    assert call(c, "sp_verify_audit_trail", tid) == []

    # Running it again moves nothing more; verify sees the archives as no drift.
    assert call(c, "sp_archive_ticket_logs", this_month(c)) == []
    assert archives(c) == held
    result = run(fresh_db, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_efficiency_is_the_same_after_archiving(fresh_conn, scheduler_off):
    c = fresh_conn
    aid = agent(c)
    for tid in old_history(c, months=3, tickets=3, agent_id=aid):
        log(c, tid, "resolve", aid)
        log(c, tid, "close", aid)
    now = utcnow(c)
    period = (month_start(now, 4), now + timedelta(minutes=1))
    before = call(c, "sp_agent_efficiency", *period)
    assert before and before[0]["tickets_closed"] == 3
    call(c, "sp_archive_ticket_logs", this_month(c))
    assert archives(c)
    assert call(c, "sp_agent_efficiency", *period) == before


def test_bad_requests_are_refused_and_move_nothing(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    old_history(c, months=2, tickets=2)
    count = one(c, "SELECT COUNT(*) FROM ticket_logs")
    flow_error(c, "CALL sp_archive_ticket_logs(NULL)", match="in_before is required")
    next_month = month_start(utcnow(c), -1).date().isoformat()
    flow_error(c, "CALL sp_archive_ticket_logs(%s)", (next_month,), match="after the current")

    other = connect(fresh_db)  # a run in progress holds the archive job's lease
    execute(other, "CALL sp_job_lease_take('archive_ticket_logs', NULL, @taken)")
    assert one(other, "SELECT @taken") == 1
    flow_error(c, "CALL sp_archive_ticket_logs(%s)", (this_month(c),), match="in progress")
    execute(other, "CALL sp_job_lease_release('archive_ticket_logs')")
    other.close()

    # An archive that no longer has ticket_logs' columns is refused, not filled.
    name = "ticket_logs_" + month_start(utcnow(c), 2).strftime("%Y%m")
    execute(c, f"CREATE TABLE `{name}` LIKE ticket_logs")
    execute(c, f"ALTER TABLE `{name}` DROP COLUMN note")
    flow_error(c, "CALL sp_archive_ticket_logs(%s)", (this_month(c),), match="other columns")
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == count
    assert one(c, f"SELECT COUNT(*) FROM `{name}`") == 0
    assert one(c, "SELECT holder FROM ticketdb_job_leases "  # the failed run let go
                  "WHERE job = 'archive_ticket_logs'") is None

    # And verify reports it: its shape is ticket_logs' shape.
    result = run(fresh_db, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"column {name}.note: in the files, missing from the database" in result.stdout


def test_verify_reports_an_archive_changed_or_unlisted(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    old_history(c, months=2)
    call(c, "sp_archive_ticket_logs", this_month(c))
    first, second = sorted(archives(c))
    assert run(fresh_db, "verify").returncode == 0
    execute(c, f"ALTER TABLE `{first}` DROP INDEX ix_ticket_logs_ticket")
    execute(c, "DELETE FROM ticket_log_archives WHERE table_name = %s", (second,))
    result = run(fresh_db, "verify")
    assert result.returncode == 1
    assert f"index {first}.ix_ticket_logs_ticket: in the files, missing" in result.stdout
    assert f"archive {second}: in the database, not listed" in result.stdout


def test_rights(fresh_db, fresh_conn, scheduler_off):
    """No role may change an archive; agents trace through it. (A short name:
    the roles are named after the test's database, 32 characters at most.)"""
    c = fresh_conn
    tid = old_history(c, months=2)[0]
    call(c, "sp_archive_ticket_logs", this_month(c))
    name = sorted(archives(c))[0]
    with role_logins(fresh_db) as logins:
        for kind in ("agent", "supervisor", "reporting"):
            login = connect(logins[kind])
            for sql in (f"UPDATE `{name}` SET note = 'x'", f"DELETE FROM `{name}`",
                        f"INSERT INTO `{name}` SELECT * FROM `{name}`",
                        "DELETE FROM ticket_log_archives",
                        "UPDATE ticket_log_archives SET rows_archived = 0",
                        f"DROP TABLE `{name}`",
                        "INSERT INTO ticketdb_flow_marks VALUES (CONNECTION_ID(), 0)"):
                expect_error(login, sql, code=(1142, 1143))
            if kind != "reporting":
                assert [r["action_type"] for r in trace(login, tid)] == ["assign", "reply",
                                                                        "reply"]
            else:  # granted table by table: the archives up --roles found
                assert one(login, f"SELECT COUNT(*) FROM `{name}`") > 0
                expect_error(login, "SELECT * FROM ticket_log_archives", code=1142)
            login.close()
        assert call(connect(logins["supervisor"]), "sp_verify_audit_trail", None) == []
        assert call(connect(logins["reporting"]), "sp_verify_audit_trail", tid) == []
        expect_error(connect(logins["agent"]), "CALL sp_archive_ticket_logs(CURRENT_DATE)",
                     code=1370)


def test_a_direct_delete_of_log_rows_is_still_refused(fresh_conn, scheduler_off):
    c = fresh_conn
    old_history(c, months=1)
    count = one(c, "SELECT COUNT(*) FROM ticket_logs")
    flow_error(c, "DELETE FROM ticket_logs", match="append-only")
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == count


def test_the_event_keeps_the_live_months_the_settings_say(fresh_conn, scheduler_off):
    c = fresh_conn
    old_history(c, months=4)
    execute(c, "UPDATE ticketdb_settings SET setting_value = 3 "
               "WHERE setting_name = 'archive_live_months'")
    execute(c, "UPDATE ticketdb_settings SET setting_value = 1 "
               "WHERE setting_name = 'archive_day_of_month'")
    execute(c, "ALTER EVENT ev_archive_ticket_logs ON SCHEDULE EVERY 1 SECOND")
    execute(c, "SET GLOBAL event_scheduler = ON")
    try:
        deadline = time.monotonic() + 30
        while len(archives(c)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        execute(c, "SET GLOBAL event_scheduler = OFF")
    oldest_live = month_start(utcnow(c), 2)
    assert sorted(archives(c)) == [
        "ticket_logs_" + month_start(utcnow(c), m).strftime("%Y%m") for m in (4, 3)]
    assert one(c, "SELECT MIN(action_time) FROM ticket_logs") >= oldest_live


@pytest.mark.slow
def test_a_server_killed_mid_archive_loses_and_duplicates_nothing(own_server):
    target = own_server.target.with_database("ticketdb")
    deployed = run(target, "up")
    assert deployed.returncode == 0, deployed.stderr
    c = connect(target)
    execute(c, "SET GLOBAL event_scheduler = OFF")
    old_history(c, months=6, tickets=1500, per_month=6)
    execute(c, "UPDATE ticketdb_settings SET setting_value = 200 "
               "WHERE setting_name = 'archive_batch_rows'")
    before = every_log_id(c)
    assert len(before) > 50_000
    cutoff = this_month(c)

    def archive() -> None:
        runner = connect(target)
        with pytest.raises(pymysql.MySQLError), runner.cursor() as cur:
            cur.execute("CALL sp_archive_ticket_logs(%s)", (cutoff,))
            while cur.nextset():
                pass

    mover = Background(archive)
    deadline = time.monotonic() + 60
    while one(c, "SELECT COALESCE(SUM(rows_archived), 0) FROM ticket_log_archives") < 10_000:
        assert time.monotonic() < deadline, "the archive did not get going"
        time.sleep(0.05)
    own_server.crash()
    mover.join()
    own_server.restart()

    c = connect(target)
    after = every_log_id(c)
    assert after == before  # every row in exactly one table
    held = archives(c)
    assert held and one(c, "SELECT COUNT(*) FROM ticket_logs") > 0, "killed before the end"
    listed = dict(query(c, "SELECT table_name, rows_archived FROM ticket_log_archives"))
    assert {t: n for t, n in held.items() if n} == {t: n for t, n in listed.items() if n}
    assert call(c, "sp_verify_audit_trail", None) == []

    call(c, "sp_archive_ticket_logs", cutoff)  # the next run goes on
    assert every_log_id(c) == before
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == 0
    assert call(c, "sp_verify_audit_trail", None) == []
    c.close()
