"""A deployer that is not the definer (issue 23 item 2): a dedicated account
with ALL on the schema deploys a database another account made. Through the
real CLI, logged in as that second, real account."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from support import execute, query
from support.deploy import edit, run

from ticketdb.connection import Target, connect


@pytest.fixture
def deployer(fresh_db: Target) -> Iterator[Target]:
    """A real account with ALL on the schema (and on verify's scratch
    databases), no global privilege; the server lets such an account create
    functions, as a DBA sets it for one (log_bin_trust_function_creators)."""
    admin = connect(fresh_db)
    user, password = f"u_deploy_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    db = fresh_db.database
    trust = query(admin, "SELECT @@global.log_bin_trust_function_creators")[0][0]
    execute(admin, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    execute(admin, f"GRANT ALL ON `{db}`.* TO '{user}'@'%'")
    scratch = db[:40].replace("_", "\\_") + "\\_verify\\_%"
    execute(admin, f"GRANT ALL ON `{scratch}`.* TO '{user}'@'%'")
    execute(admin, "SET GLOBAL log_bin_trust_function_creators = 1")
    try:
        yield Target(host=fresh_db.host, port=fresh_db.port, user=user, password=password,
                     database=db)
    finally:
        execute(admin, f"SET GLOBAL log_bin_trust_function_creators = {int(trust)}")
        execute(admin, f"DROP USER '{user}'@'%'")
        admin.close()


def _definers(target: Target) -> set[str]:
    conn = connect(target)
    try:
        return {r[0] for r in query(conn, "SELECT DEFINER FROM information_schema.ROUTINES "
                                          "WHERE ROUTINE_SCHEMA = DATABASE()")}
    finally:
        conn.close()


def test_status_and_up_leave_routines_they_cannot_read_alone(fresh_db, deployer):
    before = _definers(fresh_db)
    result = run(deployer, "status", "--json")
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert [f for f in files if f["state"] != "applied"] == []
    notes = {f["file"]: f["note"] for f in files}
    assert notes["procedures/sp_assign_ticket.sql"].startswith("body not compared")
    assert run(deployer, "status", "--check").returncode == 0
    up = run(deployer, "up")
    assert up.returncode == 0, up.stderr
    assert "nothing to do" in up.stdout
    assert _definers(fresh_db) == before  # no DEFINER moved


def test_verify_says_which_privilege_it_lacks_then_checks_with_it(fresh_db, deployer):
    result = run(deployer, "verify")
    assert result.returncode == 2, result.stdout + result.stderr
    text = " ".join(result.stderr.split())
    assert "routine bodies not compared" in text
    assert "GRANT SELECT ON mysql.proc TO" in text or "GRANT SHOW_ROUTINE" in text
    assert "None" not in result.stdout + result.stderr

    admin = connect(fresh_db)
    try:
        execute(admin, f"GRANT SELECT ON mysql.proc TO '{deployer.user}'@'%'")
    finally:
        admin.close()
    checked = run(deployer, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_changed_file_is_re_applied_and_the_definer_move_is_said(fresh_db, deployer, source):
    (was,) = _definers(fresh_db)
    edit(source, "procedures/sp_ticket_trace.sql", "Description\n", "Description (v2)\n")
    result = run(deployer, "up", source=source)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "done: 1 file(s) applied" in out
    assert (f"note: procedure sp_ticket_trace: its definer changes from {was} to "
            f"{deployer.user}@%") in out
    conn = connect(fresh_db)
    try:
        assert query(conn, "SELECT DEFINER FROM information_schema.ROUTINES WHERE "
                           "ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'sp_ticket_trace'"
                     )[0][0] == f"{deployer.user}@%"
    finally:
        conn.close()
    assert "nothing to do" in run(deployer, "up", source=source).stdout
