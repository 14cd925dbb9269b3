"""verify's comparison, decided without a server: two snapshots (what the
files build, what the database has) in, one line per difference out.
tests/deployer/test_deploy.py runs `verify` against real drift."""

from __future__ import annotations

from ticketdb import verify

COLUMN = ("1", "int", "NO", None, "", None, None)
TABLE = ("InnoDB", "utf8mb4_unicode_ci", "BASE TABLE")
INDEX = ("0", "BTREE", "log_id")


def snap(**categories) -> dict:
    base = {"table": {}, "column": {}, "index": {}, "routine": {}}
    return base | categories


def logs_only() -> dict:
    return snap(table={("ticket_logs",): TABLE},
                column={("ticket_logs", "log_id"): COLUMN},
                index={("ticket_logs", "PRIMARY"): INDEX})


def test_equal_snapshots_have_no_difference():
    assert verify.compare(logs_only(), logs_only()) == []


def test_an_object_missing_or_extra_is_named_with_its_category():
    live = logs_only()
    del live["index"][("ticket_logs", "PRIMARY")]
    live["column"][("ticket_logs", "by_hand")] = COLUMN
    assert verify.compare(logs_only(), live) == [
        "column ticket_logs.by_hand: in the database, not in the files",
        "index ticket_logs.PRIMARY: in the files, missing from the database",
    ]


def test_a_changed_field_is_named_with_both_short_values():
    live = logs_only()
    live["column"][("ticket_logs", "log_id")] = ("1", "bigint", "NO", None, "", None, None)
    assert verify.compare(logs_only(), live) == [
        "column ticket_logs.log_id: type differ from the files "
        "(type: files int, database bigint)"]


def test_a_long_body_shows_the_stretch_where_the_two_differ():
    body = "BEGIN " + "SELECT 1; " * 20 + "SELECT 2; END"
    changed = body.replace("SELECT 2", "SELECT 3")
    fields = ("PROCEDURE", None, "DEFINER", "MODIFIES SQL DATA", "NO", "", "", "")
    want = snap(routine={("sp_x",): ("PROCEDURE", body, *fields[2:])})
    have = snap(routine={("sp_x",): ("PROCEDURE", changed, *fields[2:])})
    [line] = verify.compare(want, have)
    at = body.index("SELECT 2") + len("SELECT ")
    assert line.startswith("routine sp_x: body differ from the files (body: files '…")
    assert f"SELECT 2; END' (at {at}), database '…" in line
    assert len(line) < 300


def test_an_archive_shaped_like_ticket_logs_is_no_drift():
    live = logs_only()
    live["table"][("ticket_logs_202601",)] = TABLE
    live["column"][("ticket_logs_202601", "log_id")] = COLUMN
    live["index"][("ticket_logs_202601", "PRIMARY")] = INDEX
    archives = verify.archive_tables(live)
    assert archives == ["ticket_logs_202601"]
    want, have = verify.with_archives(logs_only(), live, archives)
    assert verify.compare(want, have) == []


def test_an_archive_that_lost_its_index_is_drift():
    live = logs_only()
    live["table"][("ticket_logs_202601",)] = TABLE
    live["column"][("ticket_logs_202601", "log_id")] = COLUMN
    want, have = verify.with_archives(logs_only(), live, verify.archive_tables(live))
    assert verify.compare(want, have) == [
        "index ticket_logs_202601.PRIMARY: in the files, missing from the database"]


def test_accepted_differences_are_set_apart_and_stale_entries_reported(tmp_path):
    accept = tmp_path / "accept.txt"
    accept.write_text("# made by hand on purpose\nindex customers.ix_by_hand  # DBA, 2026\n"
                      "\ncolumn customers.gone\n")
    accepted = verify.accepted_differences(accept)
    assert accepted == ["index customers.ix_by_hand", "column customers.gone"]
    differences = ["index customers.ix_by_hand: in the database, not in the files",
                   "index customers.ix_by_hand_2: in the database, not in the files"]
    kept, taken, stale = verify.split_accepted(differences, accepted)
    assert kept == [differences[1]]  # a longer name is not the accepted one
    assert taken == [differences[0]]
    assert stale == ["column customers.gone"]
