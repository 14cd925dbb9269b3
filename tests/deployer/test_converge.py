"""`up` converges, `plan | mysql` and `baseline` adopt: after any of them the
database is what the files say and `verify` is clean. Through the real CLI
and the real mysql client."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import agent, execute, expect_error, log, one, query, ticket
from support.deploy import DEPLOY, FILES, history_rows, mysql_client, run, status_of

from ticketdb import history
from ticketdb.connection import connect
from ticketdb.sources import ROOT, all_files


def _pipe(srv, database: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(mysql_client(srv, database), input=script, capture_output=True,
                          text=True, check=False)


def test_objects_dropped_or_changed_by_hand_are_put_back_by_up(fresh_db, mysql_server):
    """A DBA drops the append-only guard, re-creates a procedure under another
    sql_mode with the mysql client, and disables an event: status shows each,
    up re-applies exactly those three and says why, verify is clean after."""
    body = (ROOT / "procedures" / "sp_overdue_report.sql").read_text()
    script = ("DROP TRIGGER trg_ticket_logs_before_update;\n"
              "ALTER EVENT ev_apply_retention DISABLE;\n"
              "SET SESSION sql_mode = 'ANSI_QUOTES';\n" + body)
    done = _pipe(mysql_server, fresh_db.database, script)
    assert done.returncode == 0, done.stderr
    assert run(fresh_db, "verify").returncode == 1

    states = status_of(fresh_db)
    changed = {f: s["note"] for f, s in states.items() if s["state"] != "applied"}
    assert set(changed) == {"triggers/trg_ticket_logs_before_update.sql",
                            "procedures/sp_overdue_report.sql",
                            "events/ev_apply_retention.sql"}, changed
    assert "dropped by hand" in changed["triggers/trg_ticket_logs_before_update.sql"]
    assert "sql_mode was" in changed["procedures/sp_overdue_report.sql"]
    assert "status was ENABLED, is DISABLED" in changed["events/ev_apply_retention.sql"]
    assert run(fresh_db, "status", "--check").returncode == 1

    result = run(fresh_db, "up")
    assert result.returncode == 0, result.stderr
    assert "done: 3 file(s) applied" in result.stdout
    assert "re-applying triggers/trg_ticket_logs_before_update.sql: changed in the " \
           "database since applied (trigger trg_ticket_logs_before_update is missing: " \
           "dropped by hand)" in result.stdout.replace("\n", " ")
    assert run(fresh_db, "verify").returncode == 0
    assert run(fresh_db, "status", "--check").returncode == 0
    assert "nothing to do" in run(fresh_db, "up").stdout
    conn = connect(fresh_db)
    try:  # the guard is back
        log(conn, ticket(conn), "assign", agent(conn))
        expect_error(conn, "UPDATE ticket_logs SET note = 'forged'", code=1644)
    finally:
        conn.close()


def test_a_body_replaced_by_hand_with_the_same_name_is_noticed(fresh_db):
    conn = connect(fresh_db)
    try:
        execute(conn, "DROP PROCEDURE sp_ticket_trace")
        execute(conn, "CREATE PROCEDURE sp_ticket_trace(IN in_ticket_id BIGINT UNSIGNED) "
                      "SELECT 'hot fix' AS note")
    finally:
        conn.close()
    note = status_of(fresh_db)["procedures/sp_ticket_trace.sql"]["note"]
    assert "re-created by hand with another definition" in note
    assert run(fresh_db, "up").returncode == 0
    assert run(fresh_db, "verify").returncode == 0


def test_objects_created_under_another_database_collation_are_re_created(fresh_db):
    conn = connect(fresh_db)
    try:
        execute(conn, f"ALTER DATABASE `{fresh_db.database}` COLLATE utf8mb4_general_ci")
    finally:
        conn.close()
    result = run(fresh_db, "up")
    assert result.returncode == 0, result.stderr
    assert "default collation utf8mb4_general_ci changed" in result.stdout
    assert run(fresh_db, "verify").returncode == 0


def test_plan_piped_into_mysql_leaves_what_up_would(empty_db, mysql_server):
    """The review's case: after the pipe, up failed on V001 with 1050 and
    verify listed 49 differences. Now: up has nothing to do, verify is clean,
    and the history names the plan."""
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    script = run(empty_db, "plan").stdout
    done = _pipe(mysql_server, empty_db.database, script)
    assert done.returncode == 0, done.stderr
    after = run(empty_db, "up")
    assert after.returncode == 0, after.stderr
    assert "nothing to do" in after.stdout
    assert run(empty_db, "verify").returncode == 0
    assert history_rows(empty_db) == FILES
    states = status_of(empty_db)
    assert {s["state"] for s in states.values()} == {"applied"}
    assert all(s["applied_by"].endswith("(plan)") for s in states.values())


def test_a_plan_stops_in_the_wrong_database_before_anything(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    other = f"{empty_db.database}_other"
    execute(conn, f"CREATE DATABASE `{other}`")
    try:
        script = run(empty_db, "plan").stdout
        done = _pipe(mysql_server, other, script)
        assert done.returncode == 1
        assert f"ticketdb: this plan is for database {empty_db.database}" in done.stderr
        assert query(conn, "SELECT TABLE_NAME FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = %s", (other,)) == ()
    finally:
        execute(conn, f"DROP DATABASE `{other}`")
        conn.close()


def test_a_plan_that_stops_halfway_is_resumed_by_up(empty_db, mysql_server, source):
    (source / "sql" / "V900__two_steps.sql").write_text(
        "CREATE TABLE t_first (a INT PRIMARY KEY);\nINSERT INTO t_missing VALUES (1);\n")
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    done = _pipe(mysql_server, empty_db.database, run(empty_db, "plan", source=source).stdout)
    assert done.returncode == 1 and "t_missing" in done.stderr
    (source / "sql" / "V900__two_steps.sql").write_text(
        "CREATE TABLE t_first (a INT PRIMARY KEY);\nINSERT INTO t_first VALUES (1);\n")
    result = run(empty_db, "up", source=source)
    assert result.returncode == 0, result.stderr
    assert "resuming where it stopped" in result.stdout
    assert "applied sql/V900__two_steps.sql (resumed at statement 2" in result.stdout
    assert run(empty_db, "verify", source=source).returncode == 0


def test_baseline_adopts_a_database_built_by_the_mysql_client(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    mode = one(conn, "SELECT @@SESSION.sql_mode")
    conn.close()
    for f in all_files():
        done = subprocess.run(
            mysql_client(mysql_server,
                         f"--init-command=SET time_zone = '+00:00', sql_mode = '{mode}'",
                         empty_db.database),
            input=(ROOT / f.path).read_text(), capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{f.path}: {done.stderr}"
    assert run(empty_db, "verify").returncode == 1  # no history yet: every file pending
    result = run(empty_db, "baseline")
    assert result.returncode == 0, result.stderr
    assert f"baseline: {FILES} file(s) recorded" in result.stdout
    assert "nothing to do" in run(empty_db, "up").stdout
    assert run(empty_db, "verify").returncode == 0
    again = run(empty_db, "baseline")
    assert again.returncode == 0 and "nothing to record" in again.stdout


def test_baseline_refuses_a_database_that_differs(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    script = "".join((ROOT / f.path).read_text() + "\n" for f in all_files()
                     if f.kind == "versioned")
    done = _pipe(mysql_server, empty_db.database, script)
    assert done.returncode == 0, done.stderr
    conn = connect(empty_db)
    try:
        execute(conn, "CREATE INDEX ix_by_hand ON customers (name)")
        result = run(empty_db, "baseline")
        assert result.returncode == 1
        assert "index customers.ix_by_hand: in the database, not in the files" in result.stderr
        assert "trigger trg_ticket_logs_before_insert: in the files, missing" in result.stderr
        assert "nothing was recorded" in result.stderr
        assert one(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                         "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (history.TABLE,)) == 0
    finally:
        conn.close()


def test_a_history_table_from_before_gets_its_new_columns(fresh_db):
    conn = connect(fresh_db)
    try:
        execute(conn, f"ALTER TABLE {history.TABLE} DROP COLUMN object_state, MODIFY COLUMN "
                      "state ENUM('running', 'applied', 'failed', 'interrupted') NOT NULL")
        notes = {s["note"] for s in status_of(fresh_db).values() if s["kind"] == "repeatable"}
        assert all("no record of how up created it" in n for n in notes), notes
        plan = run(fresh_db, "plan").stdout
        assert f"ALTER TABLE {history.TABLE} ADD COLUMN object_state" in plan
        result = run(fresh_db, "up")
        assert result.returncode == 0, result.stderr
        assert run(fresh_db, "status", "--check").returncode == 0
        assert one(conn, f"SELECT COUNT(*) FROM {history.TABLE} "
                         "WHERE object_state IS NOT NULL") > 0
    finally:
        conn.close()
    assert run(fresh_db, "verify").returncode == 0


@pytest.mark.parametrize("where", ["before", "after"])
def test_connection_options_work_before_or_after_the_subcommand(db, where):
    options = ["--url", db.url()]
    args = [*options, "status", "--json"] if where == "before" else ["status", "--json", *options]
    done = subprocess.run([sys.executable, DEPLOY, *args], capture_output=True, text=True,
                          check=False, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert db.database in done.stdout


def test_server_text_is_printed_never_read_as_markup(fresh_db, source):
    (source / "sql" / "V900__markup.sql").write_text("SELEC '[/bold] [red]x';\n")
    result = run(fresh_db, "up", source=source)
    assert result.returncode == 1
    assert "[/bold] [red]x" in result.stderr
    assert "unexpected" not in result.stderr
    status = run(fresh_db, "status", source=source)
    assert status.returncode == 0, status.stderr
    assert "failed" in status.stdout


def test_verify_shows_both_values_and_accepts_differences_by_name(fresh_db, source):
    conn = connect(fresh_db)
    try:
        execute(conn, "CREATE INDEX ix_by_hand ON customers (name)")
        execute(conn, "ALTER TABLE customers MODIFY COLUMN name VARCHAR(150) NOT NULL")
        execute(conn, "DROP PROCEDURE sp_ticket_trace")
        execute(conn, "CREATE PROCEDURE sp_ticket_trace(IN in_ticket_id BIGINT UNSIGNED) "
                      "COMMENT 'x' SELECT 'hot fix' AS note")
    finally:
        conn.close()
    result = run(fresh_db, "verify", source=source)
    assert result.returncode == 1
    out = result.stdout
    assert "column customers.name: type differ from the files (type: files varchar(" in out
    assert ", database varchar(150))" in out
    assert "routine sp_ticket_trace: body," in out and "database 'SELECT 'hot fix' AS note'" in out
    (source / "verify-accept.txt").write_text(
        "# added on purpose by the DBA, ticket OPS-12\nindex customers.ix_by_hand\n"
        "column customers.name\nindex kb_articles.ix_gone  # no longer there\n")
    result = run(fresh_db, "verify", source=source)
    assert result.returncode == 1  # the routine still counts
    assert "accepted (" in result.stdout and "index customers.ix_by_hand: in the database" \
        in result.stdout
    assert "note: index kb_articles.ix_gone is accepted" in result.stdout
    assert "drift in" in result.stdout and "2 difference(s)" in result.stdout  # routine + state
    assert run(fresh_db, "up").returncode == 0  # puts the routine back
    clean = run(fresh_db, "verify", "--accept", str(source / "verify-accept.txt"))
    assert clean.returncode == 0, clean.stdout
    assert "with 2 accepted difference(s)" in clean.stdout


def test_a_syntax_error_names_the_files_line(fresh_db, source):
    (source / "sql" / "V900__typo.sql").write_text(
        "-- a header\n\nCREATE TABLE t_typo (\n    a INT,\n    b INT PRIMARY KEYY\n);\n")
    result = run(fresh_db, "up", source=source)
    assert result.returncode == 1
    assert "sql/V900__typo.sql statement 1 (line 3): error 1064" in result.stderr
    assert "at line 5 of sql/V900__typo.sql" in result.stderr


def test_lint_refuses_a_routine_file_without_its_drop(source):
    path = source / "procedures" / "sp_ticket_trace.sql"
    path.write_text(path.read_text().replace("DROP PROCEDURE IF EXISTS sp_ticket_trace;", ""))
    result = subprocess.run([sys.executable, DEPLOY, "--source-dir", str(source), "lint",
                             str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert ("procedures/sp_ticket_trace.sql: no `DROP PROCEDURE IF EXISTS sp_ticket_trace` "
            "before its CREATE") in result.stderr


def test_sample_on_an_empty_database_says_to_run_up_first(empty_db):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    result = run(empty_db, "sample", "--tickets", "10")
    assert result.returncode == 1
    assert "has no ticketdb schema yet: run `deploy.py up` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_objects_made_under_the_old_database_collation_are_re_created(fresh_db, mysql_server):
    """A database MySQL 8 made as utf8mb4_0900_ai_ci (here: general_ci), and a
    routine created in it by hand from its own file: up aligns the database
    and re-creates the routine under the new collation."""
    conn = connect(fresh_db)
    try:
        execute(conn, f"ALTER DATABASE `{fresh_db.database}` COLLATE utf8mb4_general_ci")
        done = _pipe(mysql_server, fresh_db.database,
                     (ROOT / "procedures" / "sp_ticket_trace.sql").read_text())
        assert done.returncode == 0, done.stderr
        result = run(fresh_db, "up")
        assert result.returncode == 0, result.stderr
        assert "re-applying procedures/sp_ticket_trace.sql" in result.stdout
        assert one(conn, "SELECT DATABASE_COLLATION FROM information_schema.ROUTINES WHERE "
                         "ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'sp_ticket_trace'") \
            == "utf8mb4_unicode_ci"
    finally:
        conn.close()
    assert run(fresh_db, "verify").returncode == 0
