"""`plan`'s script, rendered from hand-built states: no server needed. The
script walks the same steps as `up` (ticketdb/executor.py) and writes the
same history statements (ticketdb/history.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ticketdb import history, what_runs
from ticketdb.executor import apply_file
from ticketdb.history import Attempt
from ticketdb.script_executor import file_text, plan_text
from ticketdb.sources import SqlFile
from ticketdb.state import FileState, classify, classify_all

MIGRATION = SqlFile("sql/V001__t.sql", "versioned", "001", "t",
                    "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n")
LOCKING = SqlFile("sql/V002__dump.sql", "versioned", "002", "dump",
                  "LOCK TABLES t WRITE;\nINSERT INTO t VALUES (2);\nUNLOCK TABLES;\n")
TRIGGER = SqlFile("triggers/trg_t.sql", "repeatable", None, "trg_t",
                  "DROP TRIGGER IF EXISTS trg_t;\nDELIMITER $$\nCREATE TRIGGER trg_t BEFORE "
                  "INSERT ON t FOR EACH ROW BEGIN SET NEW.id = NEW.id; END$$\nDELIMITER ;\n")
ROUTINE = SqlFile("sql/V003__fn.sql", "versioned", "003", "fn",
                  "CREATE FUNCTION fn_x() RETURNS INT DETERMINISTIC RETURN 1;\n")


def applied(f: SqlFile, history_id: int) -> Attempt:
    return Attempt(history_id, f.path, f.kind, f.version, f.description, f.checksum, "applied",
                   len(f.statements), len(f.statements), f.statement_checksums, None, None,
                   "me@%", datetime(2026, 1, 1), 5)


def test_nothing_to_do():
    states = [classify(MIGRATION, applied(MIGRATION, 1))]
    assert plan_text(states, "db", []) == "-- nothing to do: the database is up to date\n"


def test_a_plan_guards_the_database_takes_the_lock_and_frees_it():
    text = plan_text([classify(MIGRATION, None)], "db", ["ALTER TABLE x ADD y INT"])
    lines = text.splitlines()
    assert lines[2].startswith("SET SESSION sql_mode = IF(DATABASE() = 'db', ")
    assert "ALTER DATABASE `db` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;" in lines
    assert "ALTER TABLE x ADD y INT;" in lines
    assert lines[-1].startswith("UPDATE ticketdb_deploy_lock SET")


def test_a_migration_records_each_statement_as_up_does():
    lines = file_text(classify(MIGRATION, None))
    checks = MIGRATION.statement_checksums
    insert = history.render(*history.start_row(history.TABLE, MIGRATION, [],
                                               by=history.PLAN_BY))
    assert lines[:3] == ["-- sql/V001__t.sql (pending)", insert + ";",
                         "SET @ticketdb_history_id = LAST_INSERT_ID();"]
    assert "CONCAT(CURRENT_USER(), ' (plan)')" in insert
    assert lines[3:9] == [
        "-- statement 1 of 2 (line 1)", "CREATE TABLE t (id INT);",
        f"UPDATE ticketdb_schema_history SET statements_done = 1, done_checksums = '{checks[0]}' "
        "WHERE history_id = @ticketdb_history_id;",
        "-- statement 2 of 2 (line 2)", "INSERT INTO t VALUES (1);",
        "UPDATE ticketdb_schema_history SET statements_done = 2, "
        f"done_checksums = '{' '.join(checks)}' WHERE history_id = @ticketdb_history_id;",
    ]
    assert lines[-2].startswith("UPDATE ticketdb_schema_history SET state = 'applied', "
                                "statements_done = 2, ")
    assert lines[-1] == ""


def test_a_resumed_migration_starts_after_its_recorded_statements():
    s = replace(classify(MIGRATION, None), state="failed", resume_at=1, note="interrupted")
    text = "\n".join(file_text(s))
    assert "CREATE TABLE t" not in text and "INSERT INTO t VALUES (1);" in text
    assert f"'running', 2, 1, '{MIGRATION.statement_checksums[0]}'" in text


def test_inside_a_migrations_own_lock_progress_is_recorded_at_unlock():
    lines = file_text(classify(LOCKING, None))
    progress = [line for line in lines if "SET statements_done" in line]
    assert len(progress) == 1 and "statements_done = 3" in progress[0]


def test_a_trigger_is_swapped_under_a_lock_on_mysql_and_replaced_on_mariadb():
    mysql = file_text(classify(TRIGGER, None), mariadb=False)
    assert mysql[1:3] == ["LOCK TABLES `t` WRITE;", "-- statement 1 of 2 (line 1)"]
    assert "UNLOCK TABLES;" in mysql
    mariadb = "\n".join(line for line in file_text(classify(TRIGGER, None), mariadb=True)
                        if "ticketdb_schema_history" not in line)  # the row holds the file
    assert "LOCK TABLES" not in mariadb and "DROP TRIGGER" not in mariadb
    assert "DELIMITER $$\nCREATE OR REPLACE TRIGGER trg_t BEFORE INSERT ON t" in mariadb


def test_a_repeatable_file_is_recorded_in_one_row_once_it_has_run():
    lines = file_text(classify(TRIGGER, None))
    rows = [line for line in lines if "ticketdb_schema_history" in line]
    assert len(rows) == 1
    assert rows[0].startswith(f"INSERT INTO ticketdb_schema_history ({history.START_COLUMNS}, "
                              "finished_at, execution_ms, applied_sql, object_state) VALUES "
                              "('triggers/trg_t.sql', 'repeatable', NULL, 'trg_t', ")
    assert "o.kind = 'trigger' AND o.name = 'trg_t'" in rows[0]


def test_a_refused_file_is_left_out():
    s = replace(classify(MIGRATION, None), state="failed", resume_at=-1)
    assert plan_text([s], "db", []) == "-- nothing to do: the database is up to date\n"


def test_a_dropped_migration_routine_is_re_created_and_recorded_on_its_row():
    s = classify_all([ROUTINE], {ROUTINE.path: applied(ROUTINE, 42)}, {}, set())[0]
    lines = file_text(s)
    assert lines[0].startswith("-- sql/V003__fn.sql (changed: changed in the database")
    assert "DROP FUNCTION IF EXISTS `fn_x`;" in lines
    assert lines[-2].startswith("UPDATE ticketdb_schema_history SET object_state = (SELECT")
    assert lines[-2].endswith("WHERE history_id = 42;")


class Steps:
    """An executor that only lists the steps it is asked for."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def __getattr__(self, name: str):
        return lambda *args: self.steps.append(
            name + "".join(f" {a.number}" for a in args if hasattr(a, "number")))


def test_the_steps_of_a_file_are_one_sequence():
    ex = Steps()
    apply_file(classify(LOCKING, None), ex)
    assert ex.steps == ["start", "run 1", "run 2", "run 3", "progress", "reset_session",
                        "finish"]
    ex = Steps()
    apply_file(classify(LOCKING, None), ex, galera=True)
    # on a Galera node a migration's LOCK and UNLOCK TABLES are not run
    assert ex.steps == ["start", "skip 1", "progress", "run 2", "progress", "skip 3", "progress",
                        "reset_session", "finish"]
    ex = Steps()
    apply_file(classify(TRIGGER, None), ex, mariadb=True)
    assert ex.steps == ["start", "run 2", "reset_session", "finish"]
    assert len(what_runs.statements(TRIGGER, mariadb=True)) == 1


def test_the_same_steps_render_what_up_runs():
    states: list[FileState] = [classify(MIGRATION, None), classify(TRIGGER, None)]
    text = plan_text(states, "db", [])
    for s in states:
        for st in what_runs.statements(s.file):
            assert st.text in text
