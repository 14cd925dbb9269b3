"""Each file's state, decided from hand-built inputs: no server needed
(ticketdb/state.py classifies; only file_states reads the server)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from ticketdb.errors import DeployError
from ticketdb.history import Attempt
from ticketdb.sources import SqlFile
from ticketdb.state import (
    FileState,
    blocking_problems,
    classify,
    classify_all,
    interrupted,
    missing_problems,
    select_work,
)

MIGRATION = SqlFile("sql/V001__t.sql", "versioned", "001", "t",
                    "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n"
                    "INSERT INTO t VALUES (2);\n")
VIEW = SqlFile("views/v_t.sql", "repeatable", None, "v_t",
               "DROP VIEW IF EXISTS v_t;\nCREATE VIEW v_t AS SELECT id FROM t;\n")


def attempt(f: SqlFile, state: str = "applied", done: int | None = None,
            checksum: str | None = None, error: str | None = None, history_id: int = 1,
            object_state: str | None = None) -> Attempt:
    n = len(f.statements) if done is None else done
    return Attempt(history_id, f.path, f.kind, f.version, f.description, checksum or f.checksum,
                   state, len(f.statements), n, f.statement_checksums[:n], error, None, "me@%",
                   datetime(2026, 1, 1), 5, object_state)


def migration(version: int) -> SqlFile:
    return SqlFile(f"sql/V{version:03d}__m.sql", "versioned", f"{version:03d}", "m",
                   f"CREATE TABLE t{version} (id INT);\n")


def test_a_file_never_run_is_pending():
    s = classify(MIGRATION, None)
    assert (s.state, s.resume_at, s.needs_work) == ("pending", 0, True)


def test_an_applied_migration_is_applied_and_needs_nothing():
    s = classify(MIGRATION, attempt(MIGRATION))
    assert (s.state, s.resume_at, s.needs_work) == ("applied", 3, False)


def test_an_edited_migration_is_changed_and_never_run_again():
    s = classify(MIGRATION, attempt(MIGRATION, checksum="0" * 64))
    assert s.state == "changed" and s.resume_at == 3
    assert "put the change in a new migration" in s.note


def test_an_interrupted_migration_resumes_after_its_recorded_statements():
    s = classify(MIGRATION, attempt(MIGRATION, "interrupted", done=2))
    assert (s.state, s.resume_at) == ("failed", 2)
    assert s.note == "interrupted at statement 3 of 3"


def test_a_failed_migration_names_the_error():
    s = classify(MIGRATION, attempt(MIGRATION, "failed", done=1, error="error 1146: no table"))
    assert (s.state, s.resume_at) == ("failed", 1)
    assert s.note == "failed at statement 2 of 3: error 1146: no table"


def test_a_failed_migration_whose_finished_statements_were_edited_is_refused():
    a = replace(attempt(MIGRATION, "failed", done=2), done_checksums=["edited", "since"])
    s = classify(MIGRATION, a)
    assert s.resume_at == -1
    assert blocking_problems([s]) == [f"{MIGRATION.path}: {s.note}"]


def test_a_repeatable_file_whose_text_changed_is_changed_and_re_applied_whole():
    s = classify(VIEW, attempt(VIEW, checksum="0" * 64))
    assert (s.state, s.resume_at) == ("changed", 0)
    assert s.note == "file changed since applied: up re-applies it"


def test_a_repeatable_object_dropped_by_hand_is_changed():
    recorded = "view\tv_t\tbody=abc\tdefiner=me@%"
    s = classify(VIEW, attempt(VIEW, object_state=recorded), live={})
    assert s.state == "changed"
    assert "view v_t is missing: dropped by hand" in s.note


def test_a_repeatable_object_as_recorded_is_applied():
    line = "body=abc\tdefiner=me@%\tcollation=utf8mb4_unicode_ci"
    s = classify(VIEW, attempt(VIEW, object_state=f"view\tv_t\t{line}"),
                 live={("view", "v_t"): line})
    assert (s.state, s.note) == ("applied", "")


def test_a_repeatable_object_redefined_by_hand_is_changed():
    s = classify(VIEW, attempt(VIEW, object_state="view\tv_t\tbody=abc\tdefiner=me@%"),
                 live={("view", "v_t"): "body=zzz\tdefiner=me@%"})
    assert s.state == "changed"
    assert "re-created by hand with another definition" in s.note


def test_a_file_marked_deleted_that_is_back_unchanged_is_applied():
    s = classify(MIGRATION, attempt(MIGRATION, "deleted"))
    assert s.state == "applied"


def test_files_the_history_knows_that_are_gone_are_missing_and_refused():
    gone = attempt(migration(9))
    states = classify_all([MIGRATION], {MIGRATION.path: attempt(MIGRATION), gone.script: gone},
                          live={}, live_tables={"t"})
    assert [(s.file.path, s.state) for s in states] == [(MIGRATION.path, "applied"),
                                                        (gone.script, "missing")]
    problems = missing_problems(states, allow=False, echo=print)
    assert problems[0].startswith(gone.script) and "--allow-missing" in problems[-1]
    warned: list[str] = []
    assert missing_problems(states, allow=True, echo=warned.append) == []
    assert warned and warned[0].startswith("warning: missing file allowed")


def test_an_applied_migration_whose_table_is_gone_is_refused():
    states = classify_all([MIGRATION], {MIGRATION.path: attempt(MIGRATION)}, live={},
                          live_tables=set())
    assert states[0].state == "changed" and not states[0].repairs
    assert "table t made by this migration is missing" in states[0].note
    assert blocking_problems(states) == [f"{MIGRATION.path}: {states[0].note}"]


def test_a_migration_owned_routine_dropped_by_hand_is_re_created():
    f = SqlFile("sql/V002__fn.sql", "versioned", "002", "fn",
                "CREATE FUNCTION fn_x() RETURNS INT DETERMINISTIC RETURN 1;\n")
    states = classify_all([f], {f.path: attempt(f)}, live={}, live_tables=set())
    s = states[0]
    assert s.state == "changed" and [o.name for o in s.repairs] == ["fn_x"]
    assert blocking_problems(states) == []


def test_a_pending_migration_below_the_newest_applied_one_is_refused():
    states = [classify(migration(1), None), classify(migration(2), attempt(migration(2)))]
    assert blocking_problems(states) == [
        "sql/V001__m.sql: pending, but a later version is already applied; give it a version "
        "above the newest applied one"]


def _pending(*files: SqlFile) -> list[FileState]:
    return [classify(f, None) for f in files]


def test_select_work_without_a_target_takes_everything_that_needs_work():
    states = _pending(migration(1), migration(2), VIEW)
    assert select_work(states, None) == (states, 0)


def test_select_work_with_a_target_holds_back_later_migrations_and_repeatable_files():
    states = _pending(migration(1), migration(2), migration(3), VIEW)
    work, held_back = select_work(states, "V002")
    assert [s.file.path for s in work] == ["sql/V001__m.sql", "sql/V002__m.sql"]
    assert held_back == 2


def test_select_work_at_the_last_migration_takes_the_repeatable_files_too():
    states = _pending(migration(1), migration(2), VIEW)
    work, held_back = select_work(states, "2")
    assert [s.file.path for s in work] == ["sql/V001__m.sql", "sql/V002__m.sql", VIEW.path]
    assert held_back == 0


def test_select_work_refuses_an_unknown_target_and_one_below_what_is_applied():
    states = [classify(migration(1), None), classify(migration(2), attempt(migration(2)))]
    with pytest.raises(DeployError, match="no migration has that version"):
        select_work(states, "V007")
    with pytest.raises(DeployError, match="V002 is already applied"):
        select_work(states, "V001")


def test_interrupted_says_what_was_left():
    assert "before it applied anything" in interrupted([])
    s = classify(MIGRATION, None)
    assert interrupted([s]).startswith("up was interrupted: 0 file(s) were applied before it; "
                                       "sql/V001__t.sql was being applied")
    assert "after applying all 1 file(s)" in interrupted([s, None])
