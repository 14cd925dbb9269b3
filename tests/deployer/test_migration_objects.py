"""Converge means everything (issue 23 item 1): what a versioned migration
made (V025's fn_ticket_log_hash, which no repeatable file owns) is put back
by `up` when it is dropped by hand or restored under another collation, and
a migration's table that is gone makes `up` refuse, saying how to get it
back. Through the real CLI, the real mysql client and mysqldump."""

from __future__ import annotations

import shutil
import subprocess

from support import agent, execute, expect_error, log, one, ticket
from support.deploy import mysql_client, run, status_of

from ticketdb.connection import connect

V025 = "sql/V025__ticket_log_hash_chain.sql"


V030 = "sql/V030__ticket_log_seq.sql"


def test_a_migrations_function_dropped_by_hand_is_re_created_by_up(fresh_db):
    """V030's fn_ticket_log_hash_seq, which the flow trigger calls for every
    new log row: dropped by hand, every log insert fails until up puts it back."""
    conn = connect(fresh_db)
    try:
        execute(conn, "DROP FUNCTION fn_ticket_log_hash_seq")
        t = ticket(conn)
        expect_error(conn, "INSERT INTO ticket_logs (ticket_id, action_type, agent_id) "
                           "VALUES (%s, 'assign', %s)", (t, agent(conn)), code=1305)
        states = status_of(fresh_db)
        assert states[V030]["state"] == "changed", states[V030]
        assert "function fn_ticket_log_hash_seq is missing: dropped by hand" in states[V030]["note"]
        assert run(fresh_db, "status", "--check").returncode == 1
        assert "fn_ticket_log_hash_seq" in run(fresh_db, "plan").stdout

        result = run(fresh_db, "up")
        assert result.returncode == 0, result.stderr
        assert "re-created function fn_ticket_log_hash_seq from " + V030 in result.stdout
        assert "done: 1 file(s) applied" in result.stdout
        assert run(fresh_db, "verify").returncode == 0
        assert run(fresh_db, "status", "--check").returncode == 0
        assert "nothing to do" in run(fresh_db, "up").stdout
        log(conn, t, "assign", agent(conn))  # the flow works again
        assert one(conn, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
                   (t,)) == "in_progress"
    finally:
        conn.close()


def test_a_migrations_function_replaced_by_hand_is_noticed_and_put_back(fresh_db):
    conn = connect(fresh_db)
    try:
        assert "nothing to do" in run(fresh_db, "up").stdout  # its state was recorded
        execute(conn, "DROP FUNCTION fn_ticket_log_hash")
        execute(conn, "CREATE FUNCTION fn_ticket_log_hash(in_prev_hash BINARY(32), "
                      "in_ticket_id BIGINT UNSIGNED, in_action_type VARCHAR(20), "
                      "in_agent_id INT UNSIGNED, in_from_status VARCHAR(20), "
                      "in_to_status VARCHAR(20), in_old_priority VARCHAR(10), "
                      "in_new_priority VARCHAR(10), in_note VARCHAR(1000), "
                      "in_action_time DATETIME, in_actor_agent_id INT UNSIGNED, "
                      "in_actor_login VARCHAR(300)) RETURNS BINARY(32) DETERMINISTIC "
                      "RETURN UNHEX(SHA2('forged', 256))")
        note = status_of(fresh_db)[V025]["note"]
        assert "function fn_ticket_log_hash" in note, note
        result = run(fresh_db, "up")
        assert result.returncode == 0, result.stderr
        assert "re-created function fn_ticket_log_hash" in result.stdout
        assert run(fresh_db, "verify").returncode == 0
    finally:
        conn.close()


def test_a_restore_into_a_database_of_the_servers_collation_converges(fresh_db, mysql_server,
                                                                     empty_db):
    """The README's restore recipe on a server whose default is
    utf8mb4_general_ci: every object, V025's function included, is re-created
    by one up, and verify is clean after it."""
    dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert dump, "mariadb-dump or mysqldump is needed (mariadb-client)"
    client = mysql_client(mysql_server)
    dumped = subprocess.run([dump, client[1], "--single-transaction", "--routines",
                             "--triggers", "--events", fresh_db.database],
                            capture_output=True, text=True, check=True).stdout
    made = subprocess.run([*client, "-e", f"CREATE DATABASE `{empty_db.database}` "
                                          "COLLATE utf8mb4_general_ci"],
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    restored = subprocess.run([*client, empty_db.database], input=dumped, capture_output=True,
                              text=True, check=False)
    assert restored.returncode == 0, restored.stderr
    assert run(empty_db, "verify").returncode == 1

    assert "was created under collation utf8mb4_general_ci" in status_of(empty_db)[V025]["note"]
    result = run(empty_db, "up")
    assert result.returncode == 0, result.stderr
    assert "re-created function fn_ticket_log_hash" in result.stdout
    checked = run(empty_db, "verify")
    assert checked.returncode == 0, checked.stdout
    assert "nothing to do" in run(empty_db, "up").stdout
    conn = connect(empty_db)
    try:
        assert one(conn, "SELECT DATABASE_COLLATION FROM information_schema.ROUTINES "
                         "WHERE ROUTINE_SCHEMA = DATABASE() "
                         "AND ROUTINE_NAME = 'fn_ticket_log_hash'") == "utf8mb4_unicode_ci"
    finally:
        conn.close()


def test_a_migrations_table_dropped_by_hand_makes_up_refuse_and_say_how(fresh_db):
    conn = connect(fresh_db)
    try:
        execute(conn, "DROP TABLE daily_urgent_tickets")
    finally:
        conn.close()
    note = status_of(fresh_db)["sql/V013__daily_urgent_tickets.sql"]["note"]
    assert "table daily_urgent_tickets made by this migration is missing" in note, note
    result = run(fresh_db, "up")
    assert result.returncode == 1
    assert "sql/V013__daily_urgent_tickets.sql: table daily_urgent_tickets made by this " \
           "migration is missing" in result.stderr.replace("\n", " ")
    assert "restore it from a backup" in result.stderr.replace("\n", " ")
