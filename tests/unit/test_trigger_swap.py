"""How up swaps a trigger, per server (no server needed): one CREATE OR
REPLACE TRIGGER on MariaDB, the LOCK TABLES swap on MySQL (issue 24)."""

from __future__ import annotations

from ticketdb import locks, what_runs
from ticketdb.sources import ROOT, all_files


def _file(path: str):
    return next(f for f in all_files(ROOT) if f.path == path)


def test_mariadb_swaps_a_trigger_in_one_statement_without_a_table_lock():
    f = _file("triggers/trg_ticket_logs_before_insert.sql")
    run = what_runs.statements(f, mariadb=True)
    texts = [st.text.lstrip() for st in run]
    assert len(texts) == len(f.statements) - 1  # the DROP went into the CREATE OR REPLACE
    assert [t for t in texts if t.upper().startswith(("LOCK", "UNLOCK", "DROP"))] == []
    creates = [t for t in texts if t.startswith("CREATE OR REPLACE TRIGGER trg_ticket_logs_")]
    assert len(creates) == 1
    create = next(st for st in run if st.text.lstrip().startswith("CREATE OR REPLACE"))
    original = next(st for st in f.statements if st.number == create.number)
    assert create.text.replace("CREATE OR REPLACE TRIGGER", "CREATE TRIGGER", 1) == original.text


def test_mysql_keeps_the_locked_swap():
    f = _file("triggers/trg_ticket_logs_before_insert.sql")
    run = [st.text for st in what_runs.statements(f, mariadb=False)]
    assert run[0] == "LOCK TABLES `ticket_logs` WRITE" and run[-1] == "UNLOCK TABLES"
    assert not any("OR REPLACE" in t for t in run)


def test_routines_and_migrations_run_as_written_on_mariadb():
    for f in all_files(ROOT):
        if f.trigger_table is None or f.kind != "repeatable":
            assert what_runs.statements(f, mariadb=True) == what_runs.statements(f), f.path


def test_the_tables_a_migration_locks_are_read_from_its_lock_tables():
    f = _file("sql/V025__ticket_log_hash_chain.sql")
    assert locks.locked_tables(f) == ["ticket_logs", "service_tickets"]
