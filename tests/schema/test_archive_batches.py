"""How sp_archive_ticket_logs walks its batches (issue 22): each batch a
range of primary keys, one INSERT ... SELECT and one DELETE, nothing read
twice; months whose ids interleave still land each in its own archive."""

from __future__ import annotations

from support import call, execute, flow_error, month_start, old_history, one, query, utcnow


def this_month(conn) -> str:
    return month_start(utcnow(conn)).date().isoformat()


def handler_reads(conn) -> int:
    """Rows this session's statements have read, by any access path."""
    return sum(int(v) for _k, v in query(
        conn, "SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_first', "
              "'Handler_read_key', 'Handler_read_next', 'Handler_read_prev', "
              "'Handler_read_rnd', 'Handler_read_rnd_next')"))


def test_each_row_is_read_a_bounded_number_of_times(fresh_conn, scheduler_off):
    """The batch is a key range: the copy reads it once, the delete once, the
    guard looks its mark up once a row, and finding the next batch reads one
    row. No staging table copied, read and emptied per batch, no rescans (the
    earlier run read each row about nine times: a batch table filled,
    joined twice, scanned for its maximum and emptied)."""
    c = fresh_conn
    old_history(c, months=4, tickets=300, per_month=5)
    execute(c, "UPDATE ticketdb_settings SET setting_value = 250 "
               "WHERE setting_name = 'archive_batch_rows'")
    moving = one(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_time < %s", (this_month(c),))
    assert moving > 5_000
    before = handler_reads(c)
    call(c, "sp_archive_ticket_logs", this_month(c))
    reads = handler_reads(c) - before
    assert one(c, "SELECT SUM(rows_archived) FROM ticket_log_archives") == moving
    assert reads / moving < 5.5, reads / moving


def test_months_whose_ids_interleave_each_fill_their_own_archive(fresh_conn, scheduler_off):
    """Backdated rows imported after newer ones: log_id order is not time
    order. Each month's key range holds other months' rows too; they are
    skipped, not moved into the wrong archive, and every chain verifies."""
    c = fresh_conn
    old_history(c, months=5, tickets=40, per_month=3)
    old_history(c, months=3, tickets=40, per_month=3)  # higher ids, older months too
    execute(c, "UPDATE ticketdb_settings SET setting_value = 100 "
               "WHERE setting_name = 'archive_batch_rows'")
    ids = sorted(r[0] for r in query(c, "SELECT log_id FROM ticket_logs"))
    live = one(c, "SELECT COUNT(*) FROM ticket_logs WHERE action_time >= %s", (this_month(c),))
    moved = {r["table_name"]: r["rows_moved"] for r in call(c, "sp_archive_ticket_logs",
                                                            this_month(c))}
    assert len(moved) == 5
    after = [r[0] for r in query(c, "SELECT log_id FROM ticket_logs")]
    for name, count in moved.items():
        assert one(c, f"SELECT COUNT(*) FROM `{name}`") == count
        assert one(c, f"SELECT COUNT(*) FROM `{name}` "
                      f"WHERE DATE_FORMAT(action_time, '%Y%m') <> '{name[-6:]}'") == 0
        after += [r[0] for r in query(c, f"SELECT log_id FROM `{name}`")]
    assert sorted(after) == ids
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == live
    assert call(c, "sp_verify_audit_trail", None) == []


def test_the_guard_still_refuses_a_delete_outside_the_archive(fresh_conn, scheduler_off):
    """The guard's one lookup keeps the rule: a DELETE by the owner itself,
    in a transaction with no archive mark, is refused and removes nothing."""
    c = fresh_conn
    old_history(c, months=2, tickets=3)
    count = one(c, "SELECT COUNT(*) FROM ticket_logs")
    low = one(c, "SELECT MIN(log_id) FROM ticket_logs")
    flow_error(c, "DELETE FROM ticket_logs WHERE log_id BETWEEN %s AND %s", (low, low + 5),
               match="append-only")
    assert one(c, "SELECT COUNT(*) FROM ticket_logs") == count
