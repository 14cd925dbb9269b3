"""Issue 13: what `up` checks about the server before it changes anything,
and the settings it warns about afterwards (ticketdb/preflight.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from support import execute, one, query
from support.deploy import run, server_setting

from ticketdb import deploy_lock, history, preflight, server, verify
from ticketdb.connection import Target, connect

PASSWORD = "probe-" + secrets.token_hex(4)


@pytest.fixture
def deployer(empty_db: Target) -> Iterator[tuple[Target, str]]:
    """A login that owns its database and nothing else (no SUPER), as a DBA
    gives an application's deploy account. Yields it and the admin's target."""
    name = f"dep_{secrets.token_hex(3)}"
    admin = connect(empty_db, database=None)
    execute(admin, f"CREATE USER '{name}'@'%' IDENTIFIED BY '{PASSWORD}'")
    execute(admin, f"GRANT ALL ON `{empty_db.database}`.* TO '{name}'@'%'")
    yield Target(host=empty_db.host, port=empty_db.port, user=name, password=PASSWORD,
                 database=empty_db.database), name
    execute(admin, f"DROP USER '{name}'@'%'")
    admin.close()


def _deployed_objects(target: Target) -> dict[str, list[str]]:
    admin = connect(target, database=None)
    try:
        schema = target.database
        return {
            "tables": [r[0] for r in query(admin, "SELECT TABLE_NAME FROM information_schema."
                                                  "TABLES WHERE TABLE_SCHEMA = %s "
                                                  "ORDER BY TABLE_NAME", (schema,))],
            "routines": [r[0] for r in query(admin, "SELECT ROUTINE_NAME FROM information_schema."
                                                    "ROUTINES WHERE ROUTINE_SCHEMA = %s",
                                             (schema,))],
            "events": [r[0] for r in query(admin, "SELECT EVENT_NAME FROM information_schema."
                                                  "EVENTS WHERE EVENT_SCHEMA = %s", (schema,))],
        }
    finally:
        admin.close()


def test_up_refuses_before_anything_when_the_account_may_not_create_triggers(
        empty_db, deployer):
    """A binlogging server (MySQL's default) without log_bin_trust_function_creators:
    creating a trigger needs SUPER (error 1419). Without the check, `up` created
    every table and procedure and stopped at the first trigger."""
    login, _name = deployer
    admin = connect(empty_db, database=None)
    assert one(admin, "SELECT @@global.log_bin") == 1
    assert one(admin, "SELECT @@global.log_bin_trust_function_creators") == 0
    admin.close()
    refused = run(login, "up")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "log_bin_trust_function_creators" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr
    left = _deployed_objects(empty_db)
    assert left == {"tables": sorted([deploy_lock.TABLE, history.TABLE]), "routines": [],
                    "events": []}, left
    with server_setting(empty_db, "log_bin_trust_function_creators", "ON", "OFF"):
        done = run(login, "up")
    assert done.returncode == 0, done.stderr
    assert verify.verify(empty_db) == []


def test_up_refuses_an_account_without_the_trigger_privilege(empty_db, deployer):
    login, name = deployer
    admin = connect(empty_db, database=None)
    execute(admin, f"REVOKE TRIGGER ON `{empty_db.database}`.* FROM '{name}'@'%'")
    admin.close()
    with server_setting(empty_db, "log_bin_trust_function_creators", "ON", "OFF"):
        refused = run(login, "up")
    assert refused.returncode == 1
    assert "cannot create a trigger" in refused.stderr and "1142" in refused.stderr
    assert _deployed_objects(empty_db)["tables"] == sorted([deploy_lock.TABLE, history.TABLE])


@pytest.mark.parametrize(("version", "refused", "warned"), [
    ("5.7.44-log", True, False),
    ("8.0.15", True, False),
    ("8.0.16", False, False),
    ("8.4.3", False, False),
    ("9.1.0", False, False),
    ("10.5.27-MariaDB", True, False),
    ("10.6.20-MariaDB-log", False, True),
    ("10.11.6-MariaDB-0+deb12u1-log", False, False),
    ("11.4.4-MariaDB-ubu2404", False, False),
])
def test_version_floor(version, refused, warned):
    v = preflight.parse_version(version)
    assert (preflight.version_refusal(v) is not None) == refused
    assert (preflight.version_warning(v) is not None) == warned


def test_this_server_is_above_the_floor(conn):
    v = preflight.server_version(conn)
    assert v.number > (0, 0, 0)
    assert preflight.version_refusal(v) is None


def test_up_warns_when_binlog_format_is_not_row(fresh_db):
    with server_setting(fresh_db, "binlog_format", "'MIXED'", "'ROW'"):
        result = run(fresh_db, "up")
    assert result.returncode == 0, result.stderr
    assert "warning: binlog_format is MIXED" in result.stdout


def test_up_enables_events_disabled_as_on_a_replica(fresh_db, fresh_conn):
    """After a failover the new primary's events stay SLAVESIDE_DISABLED
    (REPLICA_SIDE_DISABLED from MySQL 8.2): escalation and alerts stop
    silently. up (which refuses a read-only server) re-creates the project's
    events enabled, saying why, and warns about any other event left so."""
    mariadb = preflight.server_version(fresh_conn).mariadb
    disable = "DISABLE ON SLAVE" if mariadb else "DISABLE ON REPLICA"
    execute(fresh_conn, f"ALTER EVENT ev_generate_alerts {disable}")
    execute(fresh_conn, f"CREATE EVENT ev_site_local ON SCHEDULE EVERY 1 DAY {disable} DO SELECT 1")
    result = run(fresh_db, "up")
    assert result.returncode == 0, result.stderr
    assert "re-applying events/ev_generate_alerts.sql" in result.stdout
    assert "status was ENABLED, is " in result.stdout
    assert one(fresh_conn, "SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = "
                           "DATABASE() AND EVENT_NAME = 'ev_generate_alerts'") == "ENABLED"
    assert "warning: events disabled as on a replica: ev_site_local" in result.stdout


def test_up_warns_when_autoinc_lock_mode_is_not_2(mysql_server):
    """MariaDB's default (1) makes every INSERT … SELECT into ticket_logs lock out
    the other log writers for the whole statement; the test servers run 2."""
    if mysql_server.kind != "local":
        pytest.skip("starts a second local server with another setting")
    srv = server.start("local", extra_args=["--innodb-autoinc-lock-mode=1"])
    try:
        result = run(srv.target.with_database("ticketdb"), "up")
        assert result.returncode == 0, result.stderr
        assert "warning: innodb_autoinc_lock_mode is 1" in result.stdout
    finally:
        srv.stop()


def test_up_does_not_warn_about_autoinc_lock_mode_2(fresh_db):
    assert "innodb_autoinc_lock_mode" not in run(fresh_db, "up").stdout
