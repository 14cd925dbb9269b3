"""The sealed trail (issue 20, item 6): sp_seal_audit_trail, the append-only
seal tables, sp_audit_seal_digest, ev_seal_audit_trail, and what
sp_verify_audit_trail reports against the last seal, tried by an admin who
drops the guards and turns the checks off."""

from __future__ import annotations

import time

from support import (
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
    ticket,
    utcnow,
)
from support.deploy import run

from ticketdb.connection import connect

DENIED = (1142, 1143, 1370)  # table, column, routine access denied
GUARDS = ("trg_ticket_logs_before_update", "trg_ticket_logs_before_delete",
          "trg_service_tickets_before_update")
EXPORT = ("SELECT seal_id, sealed_at, tickets, log_rows, archives, HEX(state_digest), "
          "HEX(prev_seal_hash), HEX(seal_hash) FROM audit_seals ORDER BY seal_id")


def problems(conn, tid: int | None = None) -> list[tuple]:
    return [(r["ticket_id"], r["problem"]) for r in call(conn, "sp_verify_audit_trail", tid)]


def worked_ticket(conn, aid: int) -> int:
    tid = ticket(conn)
    for action in ("assign", "reply", "wait_customer", "resume"):
        log(conn, tid, action, aid)
    return tid


def as_rogue_admin(conn, *statements: str) -> None:
    """An admin with the guards dropped and the checks off, as a session can."""
    for name in GUARDS:
        execute(conn, f"DROP TRIGGER IF EXISTS {name}")
    execute(conn, "SET SESSION foreign_key_checks = 0")
    for sql in statements:
        execute(conn, sql)
    execute(conn, "SET SESSION foreign_key_checks = 1")


def put_guards_back(db) -> None:
    result = run(db, "up")
    assert result.returncode == 0, result.stderr


def test_a_seal_records_every_ticket_and_chains_to_the_one_before(fresh_conn):
    c = fresh_conn
    aid = agent(c)
    tids = [worked_ticket(c, aid) for _ in range(3)]
    empty = ticket(c)
    first = call(c, "sp_seal_audit_trail")[0]
    assert (first["seal_id"], first["tickets"], first["log_rows"], first["tickets_sealed"],
            first["tickets_refused"]) == (1, 4, 12, 4, 0)
    log(c, tids[0], "reply", aid)
    second = call(c, "sp_seal_audit_trail")[0]
    assert (second["seal_id"], second["tickets"], second["log_rows"],
            second["tickets_sealed"]) == (2, 4, 13, 1)  # only the ticket that moved
    rows = query(c, "SELECT seal_id, prev_seal_hash, seal_hash, state_digest FROM audit_seals "
                    "ORDER BY seal_id")
    assert rows[1][1] == rows[0][2] and rows[0][1] is None
    assert hex_of(rows[1][2]) == second["seal_hash"]
    assert hex_of(rows[1][3]) == second["state_digest"]
    assert one(c, "SELECT COUNT(*) FROM audit_seal_tickets WHERE ticket_id = %s", (empty,)) == 1
    # honest work after the seal is no problem
    log(c, tids[1], "resolve", aid)
    assert problems(c) == []


def hex_of(value: bytes) -> str:
    """SQL's HEX()."""
    return value.hex().upper()


def test_the_seal_tables_are_append_only_even_for_an_admin(fresh_conn):
    c = fresh_conn
    worked_ticket(c, agent(c))
    call(c, "sp_seal_audit_trail")
    for table in ("audit_seals", "audit_seal_tickets", "audit_seal_archives"):
        if table == "audit_seal_archives":
            continue  # no archive yet: no row to try
        flow_error(c, f"UPDATE {table} SET seal_id = seal_id + 10", match="append-only")
        flow_error(c, f"DELETE FROM {table}", match="append-only")
    assert one(c, "SELECT COUNT(*) FROM audit_seals") == 1


def test_an_admin_who_removes_a_whole_ticket_is_caught(fresh_db, fresh_conn, scheduler_off):
    """Ticket, live rows and archived rows all deleted, the guards dropped,
    foreign_key_checks off, even a new seal taken: the old verify saw nothing."""
    c = fresh_conn
    aid = agent(c)
    gone = old_history(c, months=2, agent_id=aid)[0]
    log(c, gone, "reply", aid)
    calm = worked_ticket(c, aid)
    execute(c, "CALL sp_archive_ticket_logs(%s)", (month_start(utcnow(c)).date(),))
    archive = "ticket_logs_" + month_start(utcnow(c), 1).strftime("%Y%m")
    assert one(c, f"SELECT COUNT(*) FROM `{archive}` WHERE ticket_id = %s", (gone,)) > 0
    sealed = one(c, "SELECT log_seq FROM service_tickets WHERE ticket_id = %s", (gone,))
    call(c, "sp_seal_audit_trail")
    assert problems(c) == []

    archives = [r[0] for r in query(c, "SELECT table_name FROM ticket_log_archives")]
    as_rogue_admin(c, f"DELETE FROM ticket_logs WHERE ticket_id = {gone}",
                   *(f"DELETE FROM `{a}` WHERE ticket_id = {gone}" for a in archives),
                   f"DELETE FROM service_tickets WHERE ticket_id = {gone}")
    put_guards_back(fresh_db)
    after = call(c, "sp_seal_audit_trail")[0]  # a later seal does not forget it
    assert after["tickets"] == 2
    assert problems(c) == [(gone, f"the ticket was removed after seal 1 (sealed with {sealed} "
                                  "log rows)")]
    assert problems(c, gone) == problems(c)
    assert problems(c, calm) == []


def test_a_rewritten_chain_and_cut_rows_are_caught(fresh_db, fresh_conn, scheduler_off):
    """Rows rewritten with every later hash and the head recomputed (the
    chain alone cannot see it), and rows cut off with the count set back."""
    c = fresh_conn
    aid = agent(c)
    rewritten, cut = worked_ticket(c, aid), worked_ticket(c, aid)
    call(c, "sp_seal_audit_trail")
    ids = [r[0] for r in query(c, "SELECT log_id FROM ticket_logs WHERE ticket_id = %s "
                                  "ORDER BY ticket_seq", (rewritten,))]
    rehash = ("UPDATE ticket_logs AS l LEFT JOIN ticket_logs AS p ON p.ticket_id = l.ticket_id "
              "AND p.ticket_seq = l.ticket_seq - 1 SET l.row_hash = fn_ticket_log_hash_seq("
              "p.row_hash, l.ticket_seq, l.ticket_id, l.action_type, l.agent_id, l.from_status, "
              "l.to_status, l.old_priority, l.new_priority, l.note, l.action_time, "
              "l.actor_agent_id, l.actor_login) WHERE l.log_id = {}")
    third = one(c, "SELECT log_id FROM ticket_logs WHERE ticket_id = %s AND ticket_seq = 3",
                (cut,))
    as_rogue_admin(
        c, f"UPDATE ticket_logs SET note = 'nothing happened' WHERE log_id = {ids[1]}",
        *(rehash.format(i) for i in ids[1:]),
        "UPDATE service_tickets AS t JOIN ticket_logs AS l ON l.ticket_id = t.ticket_id "
        f"AND l.ticket_seq = t.log_seq SET t.log_head = l.row_hash WHERE t.ticket_id = {rewritten}",
        f"DELETE FROM ticket_logs WHERE ticket_id = {cut} AND ticket_seq > 2",
        "UPDATE service_tickets AS t JOIN ticket_logs AS l ON l.ticket_id = t.ticket_id "
        f"AND l.ticket_seq = 2 SET t.log_seq = 2, t.log_head = l.row_hash "
        f"WHERE t.ticket_id = {cut}")
    put_guards_back(fresh_db)
    refused = call(c, "sp_seal_audit_trail")[0]
    assert refused["tickets_refused"] == 0 and refused["tickets_sealed"] == 0
    assert problems(c) == [
        (rewritten, "the row is not the one seal 1 sealed: the trail was rewritten"),
        (cut, "the ticket's log_seq went back from 4 (seal 1) to 2: rows were removed"),
    ]
    assert third not in [r[0] for r in query(c, "SELECT log_id FROM ticket_logs")]


def test_a_ticket_that_grew_on_a_rewritten_trail_is_not_resealed(fresh_db, fresh_conn,
                                                                 scheduler_off):
    c = fresh_conn
    aid = agent(c)
    tid = worked_ticket(c, aid)
    call(c, "sp_seal_audit_trail")
    first = one(c, "SELECT log_id FROM ticket_logs WHERE ticket_id = %s AND ticket_seq = 4",
                (tid,))
    as_rogue_admin(c, f"UPDATE ticket_logs SET row_hash = UNHEX(SHA2('forged', 256)) "
                      f"WHERE log_id = {first}",
                   "UPDATE service_tickets SET log_head = UNHEX(SHA2('forged', 256)) "
                   f"WHERE ticket_id = {tid}")
    put_guards_back(fresh_db)
    log(c, tid, "reply", aid)  # the flow chains on from the forged head
    seal = call(c, "sp_seal_audit_trail")[0]
    assert (seal["tickets_sealed"], seal["tickets_refused"]) == (0, 1)
    assert (tid, "the row does not match its hash: it was changed, added, or the row before "
                 "it removed") in problems(c, tid)


def test_a_changed_or_removed_seal_is_caught(fresh_conn):
    c = fresh_conn
    aid = agent(c)
    worked_ticket(c, aid)
    call(c, "sp_seal_audit_trail")
    worked_ticket(c, aid)
    call(c, "sp_seal_audit_trail")
    call(c, "sp_seal_audit_trail")
    for table in ("audit_seals", "audit_seal_tickets"):
        execute(c, f"DROP TRIGGER trg_{table}_before_update")
        execute(c, f"DROP TRIGGER trg_{table}_before_delete")
    execute(c, "UPDATE audit_seals SET log_rows = log_rows + 1 WHERE seal_id = 1")
    execute(c, "DELETE FROM audit_seal_tickets WHERE seal_id = 2")
    assert problems(c) == [
        (None, "seal 1 does not match its hash: the seal was changed"),
        (None, "seal 3: its digest no longer matches its entries: seal entries were changed "
               "or removed"),
    ]
    execute(c, "DELETE FROM audit_seals WHERE seal_id = 2")
    assert (None, "seal 3 does not follow seal 1: seals were removed") in problems(c)


def test_a_dropped_archive_is_caught(fresh_db, fresh_conn, scheduler_off):
    c = fresh_conn
    aid = agent(c)
    tid = old_history(c, months=2, agent_id=aid)[0]
    log(c, tid, "reply", aid)
    execute(c, "CALL sp_archive_ticket_logs(%s)", (month_start(utcnow(c)).date(),))
    archive = "ticket_logs_" + month_start(utcnow(c), 2).strftime("%Y%m")
    rows = one(c, f"SELECT COUNT(*) FROM `{archive}`")
    call(c, "sp_seal_audit_trail")
    execute(c, f"DROP TABLE `{archive}`")
    found = problems(c)
    assert (None, f"archive {archive} is listed in ticket_log_archives but its table is "
                  "gone") in found
    assert (tid, "rows before it were removed (ticket_seq 1-2 missing)") in found
    execute(c, "DELETE FROM ticket_log_archives WHERE table_name = %s", (archive,))
    assert (None, f"archive {archive} (seal 1: {rows} rows) is gone from "
                  "ticket_log_archives") in problems(c)


def test_the_seal_exported_elsewhere_matches_a_recomputed_digest(fresh_conn):
    """The export query of docs/audit-trail.md, compared later; the digest
    recomputed from the entries (sp_audit_seal_digest) matches the stored one,
    whatever the session's group_concat_max_len."""
    c = fresh_conn
    aid = agent(c)
    for _ in range(3):
        worked_ticket(c, aid)
    execute(c, "SET SESSION group_concat_max_len = 4")
    call(c, "sp_seal_audit_trail")
    assert one(c, "SELECT @@SESSION.group_concat_max_len") == 4  # put back
    exported = query(c, EXPORT)
    execute(c, "CALL sp_audit_seal_digest(1, @digest, @tickets, @log_rows, @archives)")
    assert one(c, "SELECT HEX(@digest), @tickets, @log_rows, @archives") == (
        exported[0][5], 3, 12, 0)
    worked_ticket(c, aid)
    call(c, "sp_seal_audit_trail")
    again = query(c, EXPORT)
    assert again[: len(exported)] == exported  # what was exported still stands
    assert again[1][6] == exported[0][7]


def test_two_thousand_tickets_span_chunks(fresh_conn):
    c = fresh_conn
    tid = ticket(c)
    cid = one(c, "SELECT customer_id FROM service_tickets WHERE ticket_id = %s", (tid,))
    with c.cursor() as cur:
        cur.executemany("INSERT INTO service_tickets (customer_id, subject) VALUES (%s, 'x')",
                        [(cid,)] * 2100)
    seal = call(c, "sp_seal_audit_trail")[0]
    assert seal["tickets"] == 2101
    assert one(c, "SELECT COUNT(DISTINCT ticket_id DIV 1000) FROM audit_seal_tickets") == 3
    assert problems(c) == []


def test_roles(fresh_db):  # a short name: the roles are named after the database
    """The supervisor seals and verifies, the reporting role verifies, and no
    role writes the seal tables."""
    admin = connect(fresh_db)
    worked_ticket(admin, agent(admin))
    with role_logins(fresh_db) as logins:
        sup = connect(logins["supervisor"])
        assert call(sup, "sp_seal_audit_trail")[0]["seal_id"] == 1
        assert call(sup, "sp_verify_audit_trail", None) == []
        assert call(connect(logins["reporting"]), "sp_verify_audit_trail", None) == []
        for kind in ("agent", "reporting"):
            expect_error(connect(logins[kind]), "CALL sp_seal_audit_trail()", code=DENIED)
        for kind in ("agent", "supervisor", "reporting"):
            who = connect(logins[kind])
            for table in ("audit_seals", "audit_seal_tickets", "audit_seal_archives"):
                expect_error(who, f"INSERT INTO {table} SELECT * FROM {table}", code=DENIED)
                expect_error(who, f"UPDATE {table} SET seal_id = 9", code=DENIED)
                expect_error(who, f"DELETE FROM {table}", code=DENIED)
            who.close()
        sup.close()
    assert one(admin, "SELECT COUNT(*) FROM audit_seals") == 1
    admin.close()


def test_the_daily_event_seals(fresh_conn):
    c = fresh_conn
    worked_ticket(c, agent(c))
    assert one(c, "SELECT INTERVAL_VALUE, INTERVAL_FIELD, STATUS FROM information_schema.EVENTS "
                  "WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'ev_seal_audit_trail'") == (
        "1", "DAY", "ENABLED")
    was = one(c, "SELECT @@GLOBAL.event_scheduler")  # scheduler_off may hold it OFF
    execute(c, "ALTER EVENT ev_seal_audit_trail ON SCHEDULE EVERY 1 SECOND")
    execute(c, "SET GLOBAL event_scheduler = ON")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not one(c, "SELECT COUNT(*) FROM audit_seals"):
            time.sleep(0.2)
        execute(c, "ALTER EVENT ev_seal_audit_trail DISABLE")
    finally:
        execute(c, f"SET GLOBAL event_scheduler = {was}")
    assert one(c, "SELECT COUNT(*) FROM audit_seals") >= 1
    assert problems(c) == []


def test_a_seal_refused_midway_leaves_nothing(fresh_conn):
    c = fresh_conn
    worked_ticket(c, agent(c))
    execute(c, "DROP FUNCTION fn_audit_seal_hash")  # fails after the entries are written
    expect_error(c, "CALL sp_seal_audit_trail()", code=1305)
    for table in ("audit_seals", "audit_seal_tickets", "audit_seal_archives"):
        assert one(c, f"SELECT COUNT(*) FROM {table}") == 0
