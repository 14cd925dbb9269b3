"""deploy.py as a DBA runs it: a real process against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pymysql
import pytest
from support import Background, execute, one, query, role_logins
from support.deploy import (
    DEPLOY,
    FILES,
    edit,
    history_rows,
    mysql_client,
    run,
    server_setting,
    status_of,
)

from ticketdb import deploy_lock, history, preflight, verify
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT, all_files


def test_fresh_up_then_a_second_up_does_nothing(empty_db):
    first = run(empty_db, "up")
    assert first.returncode == 0, first.stderr
    assert f"done: {FILES} file(s) applied" in first.stdout
    rows = history_rows(empty_db)
    assert rows == FILES
    second = run(empty_db, "up")
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert history_rows(empty_db) == rows
    assert run(empty_db, "verify").returncode == 0


def test_plan_runs_nothing(empty_db):
    result = run(empty_db, "plan")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE customers" in result.stdout
    conn = connect(empty_db, database=None)
    if preflight.server_version(conn).mariadb:  # the swap in one statement
        assert "CREATE OR REPLACE TRIGGER trg_ticket_logs_before_insert" in result.stdout
        assert "LOCK TABLES `ticket_logs` WRITE" not in result.stdout
    else:
        assert "LOCK TABLES `ticket_logs` WRITE" in result.stdout
    try:
        assert one(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA "
                         "WHERE SCHEMA_NAME = %s", (empty_db.database,)) == 0
    finally:
        conn.close()


def test_plan_output_pipes_into_the_mysql_client(empty_db, mysql_server):
    script = run(empty_db, "plan").stdout
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    done = subprocess.run(mysql_client(mysql_server, "--init-command=SET time_zone = '+00:00'",
                                       empty_db.database),
                          input=script, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_files_piped_into_the_mysql_client_build_the_same_schema(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    t = empty_db
    mode = one(conn, "SELECT @@SESSION.sql_mode")
    for f in all_files():
        done = subprocess.run(
            mysql_client(mysql_server,
                         f"--init-command=SET time_zone = '+00:00', sql_mode = '{mode}'",
                         t.database),
            input=(ROOT / f.path).read_text(), capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{f.path}: {done.stderr}"
    scratch = f"t_ref_{t.database[-6:]}"
    try:
        verify.build_reference(conn, scratch, all_files())
        expected = verify.snapshot(conn, scratch)
        assert verify.compare(expected, verify.snapshot(conn, t.database)) == []
    finally:
        execute(conn, f"DROP DATABASE IF EXISTS `{scratch}`")
        conn.close()


def test_status_json_has_one_entry_per_file(db):
    result = run(db, "status", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [f["file"] for f in data["files"]] == [f.path for f in all_files()]
    assert {f["state"] for f in data["files"]} == {"applied"}


def test_status_before_anything_is_applied_shows_pending(empty_db):
    assert {f["state"] for f in status_of(empty_db).values()} == {"pending"}


BROKEN = """CREATE TABLE broken_one (id INT PRIMARY KEY) ENGINE = InnoDB;
ALTER TABLE no_such_table ADD COLUMN x INT;
CREATE TABLE broken_three (id INT PRIMARY KEY) ENGINE = InnoDB;
"""


def test_a_failed_migration_resumes_at_the_failed_statement(empty_db, source):
    path = source / "sql" / "V900__broken.sql"
    path.write_text(BROKEN)
    failed = run(empty_db, "up", source=source)
    assert failed.returncode == 1
    assert "sql/V900__broken.sql statement 2 (line 2): error 1146" in failed.stderr
    entry = status_of(empty_db, source)["sql/V900__broken.sql"]
    assert (entry["state"], entry["statements_done"]) == ("failed", 1)
    path.write_text(BROKEN.replace("no_such_table", "broken_one"))
    fixed = run(empty_db, "up", source=source)
    assert fixed.returncode == 0, fixed.stderr
    assert "resumed at statement 2" in fixed.stdout
    assert run(empty_db, "verify", source=source).returncode == 0


def test_a_failed_migration_whose_done_part_changed_is_refused(empty_db, source):
    path = source / "sql" / "V900__broken.sql"
    path.write_text(BROKEN)
    assert run(empty_db, "up", source=source).returncode == 1
    path.write_text(BROKEN.replace("broken_one (id INT", "broken_one (id BIGINT")
                    .replace("no_such_table", "broken_one"))
    refused = run(empty_db, "up", source=source)
    assert refused.returncode == 1
    assert "statements 1-1 had been applied and have changed" in refused.stderr


def test_an_edited_applied_migration_is_refused_and_shown(db, source):
    edit(source, "sql/V004__categories.sql", "VARCHAR(500)", "VARCHAR(600)")
    refused = run(db, "up", source=source)
    assert refused.returncode == 1
    assert "sql/V004__categories.sql: edited after it was applied" in refused.stderr
    assert status_of(db, source)["sql/V004__categories.sql"]["state"] == "changed"


def test_a_changed_routine_is_reapplied(fresh_db, source):
    edit(source, "procedures/sp_ticket_trace.sql", "for audits and complaints", "for audits")
    result = run(fresh_db, "up", source=source)
    assert result.returncode == 0, result.stderr
    assert "applied procedures/sp_ticket_trace.sql" in result.stdout
    assert "done: 1 file(s) applied" in result.stdout
    assert run(fresh_db, "verify", source=source).returncode == 0


def test_a_broken_routine_leaves_the_previous_version_in_place(fresh_db, source):
    edit(source, "procedures/sp_ticket_trace.sql", "PREPARE stmt_trace FROM",
         "PREPARE stmt_trace FROM FROM")
    result = run(fresh_db, "up", source=source)
    assert result.returncode == 1
    assert "procedures/sp_ticket_trace.sql statement 2" in result.stderr
    assert "previously applied version was put back" in result.stderr
    conn = connect(fresh_db)
    try:
        assert one(conn, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE "
                         "ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'sp_ticket_trace'") == 1
    finally:
        conn.close()


def test_a_trigger_swap_leaves_no_moment_without_the_trigger(fresh_db, source):
    """Writers hammer a direct status UPDATE (which the trigger refuses) while the
    trigger is swapped again and again: not one UPDATE may get through."""
    conn = connect(fresh_db)
    execute(conn, "INSERT INTO customers (name, email) VALUES ('S', 's@example.com')")
    execute(conn, "INSERT INTO service_tickets (customer_id, subject) VALUES (1, 'swap')")
    stop = threading.Event()
    leaked: list[str] = []
    attempts = [0]

    def hammer() -> None:
        c = connect(fresh_db)
        try:
            while not stop.is_set():
                attempts[0] += 1
                try:
                    execute(c, "UPDATE service_tickets SET current_status = 'closed'")
                    leaked.append("an UPDATE bypassed the flow")
                except pymysql.MySQLError as exc:
                    assert exc.args[0] == 1644, exc  # re-raised by join()
        finally:
            c.close()

    path = source / "triggers" / "trg_service_tickets_before_update.sql"
    text = path.read_text()
    writers = [Background(hammer) for _ in range(3)]
    try:
        for n in range(6):
            path.write_text(f"{text}\n-- swap {n}\n")
            result = run(fresh_db, "up", source=source)
            assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert attempts[0] > 50
    assert leaked == []
    assert one(conn, "SELECT current_status FROM service_tickets") == "pending"
    conn.close()


def test_two_concurrent_ups_apply_everything_once(empty_db):
    procs = [subprocess.Popen([sys.executable, DEPLOY, "--url", empty_db.url(), "up"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    for out, err, code in outputs:
        assert code == 0 or "another deploy is running" in err, (out, err)
    applied = [out for out, _, code in outputs if f"done: {FILES} file(s)" in out]
    assert len(applied) == 1, outputs
    conn = connect(empty_db)
    try:
        assert query(conn, f"SELECT script FROM {history.TABLE} GROUP BY script "
                           "HAVING COUNT(*) > 1") == ()
    finally:
        conn.close()
    assert run(empty_db, "verify").returncode == 0


def test_a_second_deployer_gives_up_saying_who_holds_the_lock(db):
    holder = connect(db)
    try:
        lease = deploy_lock.acquire(holder, db, db.database, 0, command="test")
        holder_id = one(holder, "SELECT CONNECTION_ID()")
        result = run(db, "up", "--lock-timeout", "2")
        assert result.returncode == 1
        assert "waiting for the deploy lock" in result.stdout + result.stderr
        assert "waiting up to 2 s (--lock-timeout)" in result.stdout + result.stderr
        assert "another deploy is running" in result.stderr
        assert f"connection {holder_id}" in result.stderr and "`test`" in result.stderr
        lease.release()
        assert run(db, "up", "--lock-timeout", "0").returncode == 0
    finally:
        holder.close()


def test_a_killed_deployers_lease_is_free_at_once_on_its_own_server(db):
    holder = connect(db)
    deploy_lock.acquire(holder, None, db.database, 0, command="test", heartbeat=False)
    holder.close()  # died without releasing: its connection is gone
    result = run(db, "up", "--lock-timeout", "0")
    assert result.returncode == 0, result.stderr


def test_no_role_login_can_block_up_with_a_lock_name(db):
    """GET_LOCK names are anyone's (issue 20, item 4): the deploy lock is a row
    only the deployer's account can write."""
    with role_logins(db) as logins:
        agent = connect(logins["agent"])
        try:
            assert one(agent, "SELECT GET_LOCK(%s, 0)", (f"ticketdb.deploy.{db.database}",)) == 1
            result = run(db, "up", "--lock-timeout", "1")
            assert result.returncode == 0, result.stderr
            for login in logins.values():
                c = connect(login)
                try:
                    with pytest.raises(pymysql.MySQLError) as refused:
                        execute(c, f"UPDATE {deploy_lock.TABLE} SET holder_connection = 1")
                    assert refused.value.args[0] in (1142, 1143), refused.value
                finally:
                    c.close()
        finally:
            agent.close()


def test_verify_catches_a_trigger_changed_by_hand(fresh_db):
    conn = connect(fresh_db)
    try:
        execute(conn, "DROP TRIGGER trg_ticket_logs_before_delete")
        execute(conn, "CREATE TRIGGER trg_ticket_logs_before_delete BEFORE DELETE ON ticket_logs "
                      "FOR EACH ROW SET @deleted = OLD.log_id")
    finally:
        conn.close()
    result = run(fresh_db, "verify")
    assert result.returncode == 1
    assert "trigger trg_ticket_logs_before_delete: body" in result.stdout


@pytest.mark.parametrize("change", [
    "ALTER TABLE customers ADD COLUMN nickname VARCHAR(20)",
    "ALTER TABLE service_tickets DROP INDEX ix_tickets_queue",
    "DROP PROCEDURE sp_ticket_trace",
    "ALTER EVENT ev_generate_alerts DISABLE",
    "ALTER TABLE customers DROP CONSTRAINT chk_customers_phone",
])
def test_verify_catches_drift(fresh_db, change):
    conn = connect(fresh_db)
    try:
        execute(conn, change)
    finally:
        conn.close()
    result = run(fresh_db, "verify")
    assert result.returncode == 1, result.stdout
    assert "drift" in result.stdout


def test_verify_could_not_check(empty_db):
    result = run(empty_db, "verify")
    assert result.returncode == 2
    assert "could not check" in result.stderr


def test_up_refuses_a_read_only_server(fresh_db):
    with server_setting(fresh_db, "read_only", "ON", "OFF"):
        result = run(fresh_db, "up")
    assert result.returncode == 1
    assert "read-only" in result.stderr


def test_up_warns_when_the_event_scheduler_is_off(fresh_db):
    with server_setting(fresh_db, "event_scheduler", "OFF", "ON"):
        result = run(fresh_db, "up")
    assert result.returncode == 0
    assert "warning: event_scheduler is OFF" in result.stdout


def test_a_defaults_file_names_the_server(db, tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text(f"[client]\nuser = {db.user}\nhost = {db.host}\nport = {db.port}\n"
                   f"database = {db.database}\n")
    result = subprocess.run([sys.executable, DEPLOY, "--defaults-file", str(cnf), "status"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout


SECRET = "S3cr3t-Pa55"


@pytest.fixture(scope="module")
def secret_user(db):
    conn = connect(db)
    execute(conn, f"CREATE USER 'ticketdb_pw'@'%' IDENTIFIED BY '{SECRET}'")
    execute(conn, "GRANT ALL ON *.* TO 'ticketdb_pw'@'%'")
    conn.close()
    yield Target(host=db.host, port=db.port, user="ticketdb_pw", password=SECRET,
                 database=db.database)
    conn = connect(db)
    execute(conn, "DROP USER 'ticketdb_pw'@'%'")
    conn.close()


@pytest.mark.parametrize(("args", "code"), [
    (("plan",), 0), (("up",), 0), (("status",), 0), (("status", "--json"), 0), (("verify",), 0),
    (("up", "--lock-timeout", "notanumber"), 2),
])
def test_no_command_prints_the_password(secret_user, args, code):
    good = run(secret_user, *args)
    wrong = run(Target(**{**secret_user.__dict__, "password": SECRET + "x"}), *args)
    unreachable = run(Target(**{**secret_user.__dict__, "port": 1}), *args)
    for result in (good, wrong, unreachable):
        assert SECRET not in result.stdout + result.stderr
    assert good.returncode == code, good.stderr
    assert wrong.returncode == 2 and unreachable.returncode == 2
    assert "Traceback" not in wrong.stderr + unreachable.stderr


def test_the_environment_url_is_used_and_not_printed(secret_user):
    env = {"TICKETDB_URL": secret_user.url(), "PATH": "/usr/bin:/bin"}
    result = run(None, "status", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "ticketdb_pw:***@" in result.stdout


@pytest.mark.parametrize(("url", "message"), [
    ("postgres://x@localhost/db", "must look like mysql://"),
    ("mysql://root@localhost:notaport/db", "port is not a number"),
    ("mysql://root@localhost/bad`name", "database name 'bad`name' is not allowed"),
    ("mysql://root@localhost/it's", "is not allowed"),
    ("mysql://root@localhost/db?sslmode=x", "unknown URL option"),
])
def test_a_malformed_url_is_a_usage_error(url, message):
    result = subprocess.run([sys.executable, DEPLOY, "--url", url, "status"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_connection_given_is_a_usage_error():
    result = subprocess.run([sys.executable, DEPLOY, "status"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 2
    assert "no server given" in result.stderr


def test_a_file_with_an_unterminated_string_is_refused_before_anything_runs(empty_db, source):
    (source / "sql" / "V900__bad_quote.sql").write_text("INSERT INTO t VALUES ('oops);\n")
    result = run(empty_db, "up", source=source)
    assert result.returncode == 1
    assert "sql/V900__bad_quote.sql" in result.stderr and "unterminated" in result.stderr


def test_a_file_with_an_unterminated_begin_is_refused(empty_db, source):
    (source / "procedures" / "sp_zz_bad.sql").write_text(
        "CREATE PROCEDURE sp_zz_bad()\nBEGIN\n  SELECT 1;\n")
    result = run(empty_db, "up", source=source)
    assert result.returncode == 1
    assert "procedures/sp_zz_bad.sql" in result.stderr and "never closed" in result.stderr


def test_lint_is_clean_and_finds_findings(tmp_path):
    clean = subprocess.run([sys.executable, DEPLOY, "lint"], capture_output=True, text=True,
                           check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    bad = tmp_path / "bad.sql"
    bad.write_text("select a from t\n")
    dirty = subprocess.run([sys.executable, DEPLOY, "lint", str(bad)], capture_output=True,
                           text=True, check=False)
    assert dirty.returncode == 1
