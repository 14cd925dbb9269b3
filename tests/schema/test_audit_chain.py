"""The tamper-evident audit trail (issue 14, part 2): row_hash chained per
ticket by the flow trigger, service_tickets.log_head, sp_verify_audit_trail,
and V025's chaining of the rows that existed before it."""

from __future__ import annotations

import hashlib

import pymysql
from support import (
    agent,
    call,
    execute,
    flow_error,
    log,
    month_start,
    old_history,
    one,
    query,
    ticket,
    utcnow,
)
from support.deploy import run

from ticketdb import migrate
from ticketdb.connection import connect

COLUMNS = ("ticket_id", "action_type", "agent_id", "from_status", "to_status", "old_priority",
           "new_priority", "note", "action_time", "actor_agent_id", "actor_login")


def quote(value: object) -> str:
    """SQL's QUOTE(): NULL unquoted; else quoted, \\ ' NUL and ^Z escaped."""
    if value is None:
        return "NULL"
    text = str(value)
    for ch, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\0", "\\0"), ("\x1a", "\\Z")):
        text = text.replace(ch, escaped)
    return f"'{text}'"


def expected_hash(previous: bytes | None, row: dict, numbered: bool = True) -> bytes:
    """The chain's definition, computed here independently of the server:
    fn_ticket_log_hash_seq (V030: the row's ticket_seq included) or, for a
    ticket's first log_seq_v025 rows, V025's fn_ticket_log_hash."""
    parts = [quote(previous.hex().upper() if previous is not None else None)]
    if numbered:
        parts = [quote("seq"), *parts, quote(row["ticket_seq"])]
    parts += [quote(row[c]) for c in COLUMNS]
    return hashlib.sha256(",".join(parts).encode()).digest()


def chain_ok(conn, tid: int) -> None:
    """The ticket's rows are numbered 1..n, each hashed from the one before,
    the last one the ticket's head."""
    rows = query_dicts(conn, "SELECT * FROM ticket_logs WHERE ticket_id = %s "
                             "ORDER BY ticket_seq", (tid,))
    head = query_dicts(conn, "SELECT log_head, log_seq, log_seq_v025 FROM service_tickets "
                             "WHERE ticket_id = %s", (tid,))[0]
    assert [r["ticket_seq"] for r in rows] == list(range(1, len(rows) + 1))
    previous = None
    for row in rows:
        numbered = row["ticket_seq"] > head["log_seq_v025"]
        assert row["row_hash"] == expected_hash(previous, row, numbered), row
        previous = row["row_hash"]
    assert (head["log_head"], head["log_seq"]) == (previous, len(rows))


def query_dicts(conn, sql: str, args=None) -> list[dict]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def broken(conn, tid: int | None = None) -> list[tuple]:
    return [(r["ticket_id"], r["first_bad_log_id"], r["problem"])
            for r in call(conn, "sp_verify_audit_trail", tid)]


def reports(conn, tid: int | None = None) -> list[tuple]:
    """Every broken row: (ticket_id, log_id, problem)."""
    return [(r["ticket_id"], r["log_id"], r["problem"])
            for r in call(conn, "sp_verify_audit_trail", tid)]


def behind_the_guard(conn, sql: str, args=None) -> None:
    """An admin edits ticket_logs with its append-only guards dropped, then
    `up` puts the guards back (they are repeatable objects it watches)."""
    execute(conn, "DROP TRIGGER trg_ticket_logs_before_update")
    execute(conn, "DROP TRIGGER trg_ticket_logs_before_delete")
    execute(conn, sql, args)


def put_guards_back(db) -> None:
    result = run(db, "up")
    assert result.returncode == 0, result.stderr
    assert "trg_ticket_logs_before_update" in result.stdout


def busy_ticket(conn) -> tuple[int, list[int]]:
    tid, aid = ticket(conn), agent(conn)
    ids = [log(conn, tid, "assign", aid), log(conn, tid, "reply", aid, note="It's \\ 'odd'"),
           log(conn, tid, "wait_customer", aid), log(conn, tid, "resume", aid),
           log(conn, tid, "resolve", aid)]
    return tid, ids


def test_every_row_is_chained_to_the_one_before(fresh_conn):
    c = fresh_conn
    tid, _ = busy_ticket(c)
    execute(c, "INSERT INTO ticket_logs (ticket_id, action_type, row_hash) "
               "VALUES (%s, 'close', REPEAT('x', 32))", (tid,))  # a client's hash is ignored
    chain_ok(c, tid)
    assert broken(c) == [] and broken(c, tid) == []


def test_a_refused_move_leaves_the_chain_as_it_was(fresh_conn):
    c = fresh_conn
    tid, _ = busy_ticket(c)
    head = one(c, "SELECT log_head FROM service_tickets WHERE ticket_id = %s", (tid,))
    flow_error(c, "INSERT INTO ticket_logs (ticket_id, action_type) VALUES (%s, 'resume')",
               (tid,))
    assert one(c, "SELECT log_head FROM service_tickets WHERE ticket_id = %s", (tid,)) == head
    chain_ok(c, tid)


def test_the_chain_head_changes_only_through_the_flow(fresh_conn):
    c = fresh_conn
    tid, _ = busy_ticket(c)
    flow_error(c, "UPDATE service_tickets SET log_head = NULL WHERE ticket_id = %s", (tid,),
               match="log_head changes only through ticket_logs")
    flow_error(c, "INSERT INTO service_tickets (customer_id, subject, log_head) "
                  "SELECT customer_id, 'x', log_head FROM service_tickets WHERE ticket_id = %s",
               (tid,), match="must start pending")
    chain_ok(c, tid)


def test_an_edited_row_is_reported(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    tid, ids = busy_ticket(c)
    calm, _ = busy_ticket(c)
    behind_the_guard(c, "UPDATE ticket_logs SET note = 'all fine' WHERE log_id = %s", (ids[1],))
    put_guards_back(fresh_db)
    assert broken(c) == [(tid, ids[1], "the row does not match its hash: it was changed, "
                                       "added, or the row before it removed")]
    assert broken(c, calm) == []


def test_an_edit_that_rehashes_its_row_is_caught_at_the_next(fresh_db, fresh_conn,
                                                             scheduler_off):
    c = fresh_conn
    tid, ids = busy_ticket(c)
    behind_the_guard(c, "UPDATE ticket_logs AS l LEFT JOIN ticket_logs AS p ON p.log_id = %s "
                        "SET l.agent_id = NULL, l.row_hash = fn_ticket_log_hash_seq(p.row_hash, "
                        "l.ticket_seq, l.ticket_id, l.action_type, NULL, l.from_status, "
                        "l.to_status, l.old_priority, l.new_priority, l.note, l.action_time, "
                        "l.actor_agent_id, l.actor_login) WHERE l.log_id = %s", (ids[1], ids[2]))
    put_guards_back(fresh_db)
    assert [b[:2] for b in broken(c, tid)] == [(tid, ids[3])]


def test_removed_rows_are_reported_where_the_chain_breaks(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    middle, m_ids = busy_ticket(c)
    tail, t_ids = busy_ticket(c)
    everything, _ = busy_ticket(c)
    behind_the_guard(c, "DELETE FROM ticket_logs WHERE log_id IN (%s, %s)",
                     (m_ids[2], t_ids[-1]))
    execute(c, "DELETE FROM ticket_logs WHERE ticket_id = %s", (everything,))
    put_guards_back(fresh_db)
    assert broken(c) == [
        (middle, m_ids[3], "rows before it were removed (ticket_seq 3 missing)"),
        (tail, t_ids[-2], "the last row is not the ticket's chain head: rows after it were "
                          "removed"),
        (everything, None, "the ticket has a chain head but no log rows"),
    ]


def test_a_forged_row_with_triggers_off_is_reported(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    tid, ids = busy_ticket(c)
    execute(c, "DROP TRIGGER trg_ticket_logs_before_insert")
    with c.cursor() as cur:
        cur.execute("INSERT INTO ticket_logs (ticket_id, action_type, from_status, to_status, "
                    "action_time) VALUES (%s, 'reply', 'resolved', 'resolved', "
                    "UTC_TIMESTAMP())", (tid,))
        forged = cur.lastrowid
    result = run(fresh_db, "up")
    assert result.returncode == 0 and "trg_ticket_logs_before_insert" in result.stdout
    assert broken(c, tid) == [(tid, forged, "the row has no hash")]
    assert ids[-1] < forged


def test_archived_rows_stay_verifiable(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    tid = old_history(c, months=3)[0]
    aid = agent(c)
    log(c, tid, "reply", aid)
    execute(c, "CALL sp_archive_ticket_logs(%s)", (month_start(utcnow(c)).date(),))
    assert one(c, "SELECT COUNT(*) FROM ticket_logs WHERE ticket_id = %s", (tid,)) == 1
    assert broken(c) == []
    name = "ticket_logs_" + month_start(utcnow(c), 2).strftime("%Y%m")
    bad = one(c, f"SELECT MIN(log_id) FROM `{name}`")
    execute(c, f"UPDATE `{name}` SET action_time = action_time + INTERVAL 1 SECOND "
               "WHERE log_id = %s", (bad,))
    assert [b[:2] for b in broken(c)] == [(tid, bad)]


def test_v025_chains_the_rows_that_existed_before_it(empty_db):
    migrate.up(empty_db, echo=lambda _line: None, options=migrate.UpOptions(target="V024"))
    c = connect(empty_db)
    tids = [busy_ticket(c)[0] for _ in range(3)]
    old = old_history(c, months=2, tickets=4)
    untouched = ticket(c)
    assert one(c, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                  "DATABASE() AND COLUMN_NAME = 'row_hash'") == 0
    migrate.up(empty_db, echo=lambda _line: None)
    for tid in (*tids, *old):
        chain_ok(c, tid)
    assert one(c, "SELECT log_head FROM service_tickets WHERE ticket_id = %s",
               (untouched,)) is None
    assert broken(c) == []
    assert query(c, "SHOW TRIGGERS LIKE 'ticket_logs'")  # the guards are back
    flow_error(c, "UPDATE ticket_logs SET note = 'x'", match="append-only")
    c.close()


def test_an_unknown_ticket_is_refused(fresh_conn):
    flow_error(fresh_conn, "CALL sp_verify_audit_trail(987654)", match="no such ticket")


def chain_in_order(conn, log_ids: list[int]) -> None:
    """Hash rows as V025's flow trigger did, in the given order (the order
    they took the ticket's lock), and set the ticket's head."""
    previous = None
    for log_id in log_ids:
        execute(conn, "UPDATE ticket_logs SET row_hash = fn_ticket_log_hash(%s, ticket_id, "
                      "action_type, agent_id, from_status, to_status, old_priority, "
                      "new_priority, note, action_time, actor_agent_id, actor_login) "
                      "WHERE log_id = %s", (previous, log_id))
        previous = one(conn, "SELECT row_hash FROM ticket_logs WHERE log_id = %s", (log_id,))
    execute(conn, "UPDATE service_tickets AS t JOIN ticket_logs AS l ON l.log_id = %s "
                  "SET t.log_head = l.row_hash WHERE t.ticket_id = l.ticket_id", (log_ids[-1],))


def raw_rows(conn, tid: int, actions: list[str], aid: int) -> list[int]:
    ids = []
    for action in actions:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO ticket_logs (ticket_id, action_type, agent_id, action_time) "
                        "VALUES (%s, %s, %s, UTC_TIMESTAMP())", (tid, action, aid))
            ids.append(cur.lastrowid)
    return ids


def test_v030_numbers_existing_rows_in_their_chain_order(empty_db):
    """Rows chained by V025's trigger in lock order (not log_id order), a row
    edited before V030, and archived rows: V030 numbers each ticket's rows in
    the order their hashes chain them, archives included, and keeps the edit
    reported."""
    migrate.up(empty_db, echo=lambda _line: None, options=migrate.UpOptions(target="V026"))
    c = connect(empty_db)
    execute(c, "DROP TRIGGER trg_ticket_logs_before_update")  # V025's guard; V030 restores it
    aid = agent(c)
    raced, edited, archived = ticket(c), ticket(c), ticket(c)
    r_ids = raw_rows(c, raced, ["assign", "reply", "reply", "reply"], aid)
    chain_in_order(c, [r_ids[0], r_ids[2], r_ids[3], r_ids[1]])  # the multi-row INSERT's row last
    e_ids = raw_rows(c, edited, ["assign", "reply", "reply"], aid)
    chain_in_order(c, e_ids)
    execute(c, "UPDATE ticket_logs SET note = 'edited' WHERE log_id = %s", (e_ids[1],))
    a_ids = raw_rows(c, archived, ["assign", "reply", "reply"], aid)
    chain_in_order(c, [a_ids[1], a_ids[0], a_ids[2]])
    month = month_start(utcnow(c), 3)
    name = "ticket_logs_" + month.strftime("%Y%m")
    execute(c, f"CREATE TABLE `{name}` LIKE ticket_logs")
    execute(c, "INSERT INTO ticket_log_archives (archive_month, table_name) VALUES (%s, %s)",
            (month.date(), name))
    execute(c, f"INSERT INTO `{name}` SELECT * FROM ticket_logs WHERE log_id IN (%s, %s)",
            (a_ids[0], a_ids[1]))
    execute(c, "DELETE FROM ticket_logs WHERE log_id IN (%s, %s)", (a_ids[0], a_ids[1]))

    migrate.up(empty_db, echo=lambda _line: None)
    seqs = dict(query(c, "SELECT log_id, ticket_seq FROM ticket_logs"))
    seqs.update(query(c, f"SELECT log_id, ticket_seq FROM `{name}`"))
    assert [seqs[i] for i in r_ids] == [1, 4, 2, 3]
    assert [seqs[i] for i in a_ids] == [2, 1, 3]
    assert [seqs[i] for i in e_ids] == [1, 2, 3]  # no hash leads on: log_id order
    assert reports(c) == [
        (edited, e_ids[1], "the row does not match its hash: it was changed, added, or the "
                           "row before it removed"),
    ]
    chain_ok(c, raced)
    for tid in (raced, archived):  # the new rows chain on, with their numbers in the hash
        log(c, tid, "close", aid)
    assert one(c, "SELECT log_seq FROM service_tickets WHERE ticket_id = %s", (raced,)) == 5
    assert [r[:2] for r in reports(c)] == [(edited, e_ids[1])]
    assert run(empty_db, "verify").returncode == 0  # the archive has ticket_logs' shape
    c.close()
