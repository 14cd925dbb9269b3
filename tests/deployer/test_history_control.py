"""Never lose track, back up first, never freeze production: missing files,
repair, --target, --backup, bounded lock waits, roles without a window, and
verify on a replica. Through the real CLI against a real server."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest
from support import Background, execute, one, query
from support.deploy import history_rows, mysql_client, run, server_setting, status_of

from ticketdb import migrate, roles
from ticketdb.connection import Target, connect
from ticketdb.sources import all_files

VERSIONED = [f for f in all_files() if f.kind == "versioned"]


def _write(source, name: str, text: str) -> None:
    (source / "sql" / name).write_text(text)


def test_a_gone_migration_shows_missing_and_up_refuses_until_allowed(fresh_db, source):
    _write(source, "V900__extra.sql", "CREATE TABLE t_extra (a INT PRIMARY KEY);\n")
    assert run(fresh_db, "up", source=source).returncode == 0
    (source / "sql" / "V900__extra.sql").unlink()

    state = status_of(fresh_db, source)["sql/V900__extra.sql"]
    assert state["state"] == "missing"
    assert "the file is gone" in state["note"]
    table = run(fresh_db, "status", source=source)
    assert table.returncode == 0 and "missing" in table.stdout
    assert run(fresh_db, "status", "--check", source=source).returncode == 1

    refused = run(fresh_db, "up", source=source)
    assert refused.returncode == 1
    assert "sql/V900__extra.sql: applied in the history, but the file is gone" in refused.stderr
    assert "--allow-missing" in refused.stderr
    allowed = run(fresh_db, "up", "--allow-missing", source=source)
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: missing file allowed" in allowed.stdout

    repaired = run(fresh_db, "repair", source=source)
    assert repaired.returncode == 0, repaired.stderr
    assert "sql/V900__extra.sql: file gone, marked deleted (was applied)" in repaired.stdout
    assert "sql/V900__extra.sql" not in status_of(fresh_db, source)
    assert run(fresh_db, "up", source=source).returncode == 0
    assert "nothing to repair" in run(fresh_db, "repair", source=source).stdout


def test_repair_marks_a_migration_finished_by_hand_as_resolved(fresh_db, source):
    _write(source, "V900__two_steps.sql",
           "CREATE TABLE t_two (a INT PRIMARY KEY);\nINSERT INTO t_two VALUES (1), (1);\n")
    failed = run(fresh_db, "up", source=source)
    assert failed.returncode == 1 and "Duplicate entry" in failed.stderr
    conn = connect(fresh_db)
    try:
        execute(conn, "INSERT INTO t_two VALUES (1)")  # the DBA finishes it by hand
        rows = history_rows(fresh_db)
        result = run(fresh_db, "repair", source=source)
        assert result.returncode == 0, result.stderr
        assert "sql/V900__two_steps.sql: failed attempt" in result.stdout
        assert "marked resolved" in result.stdout
        assert history_rows(fresh_db) == rows + 1  # a row added, none changed
        state = status_of(fresh_db, source)["sql/V900__two_steps.sql"]
        assert state["state"] == "applied"
        assert state["note"].startswith("resolved by hand: repair: attempt")
        assert "nothing to do" in run(fresh_db, "up", source=source).stdout
        assert one(conn, "SELECT COUNT(*) FROM t_two") == 1
    finally:
        conn.close()


def test_up_target_applies_migrations_up_to_that_version(empty_db):
    result = run(empty_db, "up", "--target", "V005")
    assert result.returncode == 0, result.stderr
    assert "stopped at V005" in result.stdout
    states = status_of(empty_db)
    applied = sorted(f for f, s in states.items() if s["state"] == "applied")
    assert applied == [f.path for f in VERSIONED[:5]]
    assert run(empty_db, "up", "--target", "V999").returncode == 1
    rest = run(empty_db, "up")
    assert rest.returncode == 0, rest.stderr
    below = run(empty_db, "up", "--target", "V003")
    assert below.returncode == 1
    assert "never undoes a migration" in below.stderr
    assert run(empty_db, "verify").returncode == 0


def test_up_backup_dumps_first_and_the_dump_restores(fresh_db, source, tmp_path, mysql_server):
    conn = connect(fresh_db)
    try:
        execute(conn, "INSERT INTO customers (name, email) VALUES ('Kept', 'kept@example.com')")
    finally:
        conn.close()
    _write(source, "V900__later.sql", "CREATE TABLE t_later (a INT PRIMARY KEY);\n")
    backups = tmp_path / "backups"
    result = run(fresh_db, "up", "--backup", str(backups), source=source)
    assert result.returncode == 0, result.stderr
    dumps = list(backups.glob(f"{fresh_db.database}-*.sql"))
    assert len(dumps) == 1, list(backups.iterdir())
    assert f"backup: {dumps[0]}" in result.stdout
    text = dumps[0].read_text()
    assert "t_later" not in text  # taken before anything changed

    restored = Target(**{**fresh_db.__dict__, "database": fresh_db.database[:50] + "_rst"})
    admin = connect(fresh_db, database=None)
    execute(admin, f"CREATE DATABASE `{restored.database}`")
    try:
        done = subprocess.run(mysql_client(mysql_server, restored.database), input=text,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        c = connect(restored)
        assert one(c, "SELECT name FROM customers WHERE email = 'kept@example.com'") == "Kept"
        c.close()
        # every object, as the files make it, with its history: verify is clean
        check = run(restored, "verify")
        assert check.returncode == 0, check.stdout
    finally:
        execute(admin, f"DROP DATABASE `{restored.database}`")
        admin.close()


def test_a_failed_backup_changes_nothing(fresh_db, source, tmp_path):
    _write(source, "V900__later.sql", "CREATE TABLE t_later (a INT PRIMARY KEY);\n")
    env = {**os.environ, "PATH": str(tmp_path)}  # no dump tool to be found
    result = run(fresh_db, "up", "--backup", str(tmp_path / "b"), source=source, env=env)
    assert result.returncode == 1
    assert "backup" in result.stderr and "nothing was changed" in result.stderr
    assert status_of(fresh_db, source)["sql/V900__later.sql"]["state"] == "pending"
    fake = tmp_path / "mariadb-dump"
    fake.write_text("#!/bin/sh\necho 'mysqldump: Got error: 1045: denied' >&2\nexit 2\n")
    fake.chmod(0o755)
    result = run(fresh_db, "up", "--backup", str(tmp_path / "b"), source=source, env=env)
    assert result.returncode == 1
    assert "backup failed, nothing was changed: mariadb-dump: mysqldump: Got error: 1045" \
        in result.stderr
    assert list((tmp_path / "b").iterdir()) == []  # no partial file left
    assert status_of(fresh_db, source)["sql/V900__later.sql"]["state"] == "pending"


def test_an_idle_transaction_never_freezes_readers_behind_up(fresh_db, source):
    """The review's case: an idle transaction that read service_tickets. up
    waits --lock-wait seconds per attempt, steps back, retries, names the
    idle session, and gives up; a reader that queued behind it waits at most
    that long."""
    _write(source, "V900__add_column.sql",
           "ALTER TABLE service_tickets ADD COLUMN t_extra INT NULL;\n")
    idle = connect(fresh_db)
    reader = connect(fresh_db)
    try:
        idle.begin()
        query(idle, "SELECT COUNT(*) FROM service_tickets")
        idle_id = one(idle, "SELECT CONNECTION_ID()")
        deploy = Background(lambda: run(fresh_db, "up", "--lock-wait", "2", "--retries", "1",
                                        source=source))
        waits = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and deploy.thread.is_alive():
            started = time.monotonic()
            query(reader, "SELECT COUNT(*) FROM service_tickets")
            waits.append(time.monotonic() - started)
            time.sleep(0.2)
        result = deploy.join()
        assert result.returncode == 1
        assert "error 1205" in result.stderr
        assert f"held by connection {idle_id} (" in result.stderr
        assert "retry 1 of 1" in result.stdout
        assert max(waits) < 2 + 1.5, waits  # the bound, plus scheduling slack
        assert max(waits) > 0.5, waits  # the reader did queue behind the DDL
        assert status_of(fresh_db, source)["sql/V900__add_column.sql"]["state"] == "failed"
        idle.rollback()
        again = run(fresh_db, "up", "--lock-wait", "2", source=source)
        assert again.returncode == 0, again.stderr
    finally:
        idle.close()
        reader.close()


@pytest.fixture
def short_db(mysql_server) -> Iterator[Target]:
    """A deployed database whose name leaves room for the role names."""
    target = mysql_server.target.with_database(f"r_{secrets.token_hex(3)}")
    migrate.up(target, lambda _line: None)
    yield target
    admin = connect(target, database=None)
    execute(admin, f"DROP DATABASE `{target.database}`")
    admin.close()


def test_roles_keep_their_privileges_while_up_grants_them(short_db):
    """An agent login reads all the time while `up --roles` runs again and
    again: it is never refused. A privilege granted by hand is revoked."""
    fresh_db = short_db
    role = roles.role_names(fresh_db.database)["agent"]
    admin = connect(fresh_db)
    user = f"ag_{fresh_db.database[-6:]}"
    assert run(fresh_db, "up", "--roles").returncode == 0
    execute(admin, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'agent-pw-1'")
    roles.grant_role(admin, role, user)
    execute(admin, f"GRANT DELETE ON `{fresh_db.database}`.ticket_logs TO `{role}`")
    login = Target(**{**fresh_db.__dict__, "user": user, "password": "agent-pw-1"})
    stop = time.monotonic() + 60
    done = []

    def read_all_the_time() -> int:
        c = connect(login)
        reads = 0
        try:
            while not done and time.monotonic() < stop:
                query(c, "SELECT COUNT(*) FROM service_tickets")
                reads += 1
        finally:
            c.close()
        return reads

    reader = Background(read_all_the_time)
    try:
        for _ in range(3):
            result = run(fresh_db, "up", "--roles")
            assert result.returncode == 0, result.stderr
    finally:
        done.append(True)
    assert reader.join() > 10
    grants = " ".join(r[0] for r in query(admin, f"SHOW GRANTS FOR `{role}`"))
    assert "DELETE" not in grants, grants
    execute(admin, f"DROP USER '{user}'@'%'")
    admin.close()


def test_verify_refuses_a_read_only_server_and_writes_nothing(fresh_db):
    admin = connect(fresh_db, database=None)
    before = query(admin, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    with server_setting(fresh_db, "read_only", "ON", "OFF"):
        result = run(fresh_db, "verify")
    assert result.returncode == 2
    assert "read-only" in result.stderr and "run verify against the primary" in result.stderr
    assert query(admin, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA") == before
    admin.close()


def test_verify_keeps_its_scratch_database_out_of_the_binary_log(fresh_db):
    admin = connect(fresh_db, database=None)
    try:
        if one(admin, "SELECT @@global.log_bin") != 1:
            pytest.skip("the session's server writes no binary log")
        log, pos = query(admin, "SHOW MASTER STATUS")[0][:2]
        assert run(fresh_db, "verify").returncode == 0
        events = query(admin, f"SHOW BINLOG EVENTS IN '{log}' FROM {pos}")
        scratch = f"{fresh_db.database[:40]}_verify_"
        assert not [e for e in events if scratch in str(e[-1])], events[-5:]
    finally:
        admin.close()


def test_status_check_gates_ci(fresh_db, source):
    assert run(fresh_db, "status", "--check").returncode == 0
    _write(source, "V900__later.sql", "CREATE TABLE t_later (a INT PRIMARY KEY);\n")
    result = run(fresh_db, "status", "--check", "--json", source=source)
    assert result.returncode == 1
    assert '"up_to_date": false' in result.stdout


def test_a_connection_killed_mid_statement_reports_the_real_error(fresh_db, source):
    _write(source, "V900__slow.sql", "DO SLEEP(30);\n")
    deploy = Background(lambda: run(fresh_db, "up", source=source))
    admin = connect(fresh_db)
    try:
        deadline = time.monotonic() + 20
        victim = None
        while victim is None and time.monotonic() < deadline:
            rows = query(admin, "SELECT ID FROM information_schema.PROCESSLIST "
                                "WHERE INFO LIKE 'DO SLEEP(30)%'")
            victim = rows[0][0] if rows else None
            time.sleep(0.1)
        assert victim is not None
        execute(admin, f"KILL {victim}")
    finally:
        admin.close()
    result = deploy.join()
    assert result.returncode == 1
    assert "(0, '')" not in result.stderr
    assert "error 2013" in result.stderr or "Lost connection" in result.stderr, result.stderr
