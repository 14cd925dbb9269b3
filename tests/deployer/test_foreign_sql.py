"""Issue 12: the deployer on SQL files no one here wrote, through the real CLI.

Several statements in one DELIMITER block, a trigger in mysqldump's format,
routines without DROP … IF EXISTS, a file with its own sql_mode, files that
reach for another database, and verify's scratch database."""

from __future__ import annotations

import secrets
import subprocess

import pytest
from support import execute, one, query
from support.deploy import mariadb_dump, mysql_client, run

from ticketdb import deploy_lock, history, sample
from ticketdb.connection import connect


def _write(src, name: str, text: str) -> None:
    (src / name).write_text(text)


def _call(target, procedure: str):
    c = connect(target)
    try:
        return one(c, f"CALL {procedure}()")
    finally:
        c.close()


def test_several_statements_in_one_delimiter_block_run_as_the_client_runs_them(
        empty_db, source):
    _write(source, "procedures/sp_zz_pair.sql",
           "DELIMITER //\nDROP PROCEDURE IF EXISTS sp_zz_pair; CREATE PROCEDURE sp_zz_pair() "
           "SELECT 1 AS one//\nDELIMITER ;\n")
    done = run(empty_db, "up", source=source)
    assert done.returncode == 0, done.stderr
    assert _call(empty_db, "sp_zz_pair") == 1
    assert run(empty_db, "verify", source=source).returncode == 0


DUMP_TRIGGER = (
    "/*!50003 DROP TRIGGER IF EXISTS trg_zz_dump */;\n"
    "DELIMITER ;;\n"
    "/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER trg_zz_dump "
    "BEFORE INSERT ON categories FOR EACH ROW BEGIN\n"
    "  SET NEW.name = TRIM(NEW.name);\nEND */;;\n"
    "DELIMITER ;\n"
)


def test_a_trigger_in_dump_format_is_swapped_under_its_table_lock(empty_db, source):
    _write(source, "triggers/trg_zz_dump.sql", DUMP_TRIGGER)
    plan = run(empty_db, "plan", source=source).stdout
    swap = plan[plan.index("-- triggers/trg_zz_dump.sql"):]
    assert swap.index("LOCK TABLES `categories` WRITE") < swap.index("TRIGGER trg_zz_dump")
    assert run(empty_db, "up", source=source).returncode == 0
    _write(source, "triggers/trg_zz_dump.sql",
           DUMP_TRIGGER.replace("TRIM(NEW.name)", "UPPER(TRIM(NEW.name))"))
    again = run(empty_db, "up", source=source)
    assert again.returncode == 0, again.stderr
    c = connect(empty_db)
    try:
        execute(c, "INSERT INTO categories (name) VALUES ('  billing ')")
        assert one(c, "SELECT name FROM categories WHERE name = 'BILLING'") == "BILLING"
    finally:
        c.close()
    assert run(empty_db, "verify", source=source).returncode == 0


def test_a_routine_without_drop_if_exists_survives_its_second_change(empty_db, source):
    path = "procedures/sp_zz_nodrop.sql"
    _write(source, path, "CREATE PROCEDURE sp_zz_nodrop() SELECT 1 AS v;\n")
    assert run(empty_db, "up", source=source).returncode == 0
    _write(source, path, "CREATE PROCEDURE sp_zz_nodrop() SELECT 2 AS v;\n")
    again = run(empty_db, "up", source=source)
    assert again.returncode == 0, again.stderr  # was error 1304: already exists
    assert _call(empty_db, "sp_zz_nodrop") == 2
    assert run(empty_db, "verify", source=source).returncode == 0


def test_a_file_keeps_its_own_sql_mode_and_the_next_file_does_not_inherit_it(empty_db,
                                                                             source):
    loose = "NO_ENGINE_SUBSTITUTION"
    _write(source, "procedures/sp_aa_loose.sql",
           f"SET SESSION sql_mode = '{loose}';\nDROP PROCEDURE IF EXISTS sp_aa_loose;\n"
           "CREATE PROCEDURE sp_aa_loose() SELECT tier, name FROM customers GROUP BY tier;\n")
    done = run(empty_db, "up", source=source)
    assert done.returncode == 0, done.stderr
    c = connect(empty_db)
    try:
        modes = dict(query(c, "SELECT ROUTINE_NAME, SQL_MODE FROM information_schema.ROUTINES "
                              "WHERE ROUTINE_SCHEMA = DATABASE()"))
        assert modes.pop("sp_aa_loose") == loose
        assert all("ONLY_FULL_GROUP_BY" in m and "STRICT_ALL_TABLES" in m
                   for m in modes.values()), modes
        execute(c, "INSERT INTO customers (name, email) VALUES ('A', 'a@example.com')")
        call_rows = query(c, "CALL sp_aa_loose()")
        assert len(call_rows) == 1
    finally:
        c.close()
    assert run(empty_db, "verify", source=source).returncode == 0


def _schemas(target) -> set[str]:
    c = connect(target, database=None)
    try:
        return {r[0] for r in query(c, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")}
    finally:
        c.close()


@pytest.mark.slow
def test_files_that_reach_for_another_database_are_refused_before_anything_runs(
        empty_db, source):
    other = f"t_other_{secrets.token_hex(3)}"
    c = connect(empty_db, database=None)
    execute(c, f"CREATE DATABASE `{other}`")
    execute(c, f"CREATE TABLE `{other}`.keep (a INT)")
    c.close()
    try:
        for text in (f"USE {other};\nCREATE TABLE t_zz (a INT);\n",
                     f"DROP SCHEMA IF EXISTS {other};\n",
                     f"CREATE DATABASE {other}_2;\n",
                     f"INSERT INTO {other}.keep VALUES (1);\n",
                     f"DROP TABLE IF EXISTS `{other}`.`keep`;\n"):
            _write(source, "sql/V900__elsewhere.sql", text)
            for command in ("lint", "up", "verify"):
                result = run(empty_db, command, source=source)
                # verify's "could not check" is 2; lint's findings and up's refusal are 1
                assert result.returncode == (2 if command == "verify" else 1), (
                    command, text, result.stdout)
                assert "another database" in result.stderr or (
                    "database it is deployed to" in result.stderr), (command, result.stderr)
            assert empty_db.database not in _schemas(empty_db)  # up created nothing
        c = connect(empty_db, database=None)
        try:
            assert one(c, f"SELECT COUNT(*) FROM `{other}`.keep") == 0  # untouched
        finally:
            c.close()
    finally:
        c = connect(empty_db, database=None)
        execute(c, f"DROP DATABASE IF EXISTS `{other}`")
        execute(c, f"DROP DATABASE IF EXISTS `{other}_2`")
        c.close()


def test_the_history_is_written_to_the_deployers_database_whatever_the_session(fresh_db):
    c = connect(fresh_db)
    try:
        rows = one(c, f"SELECT COUNT(*) FROM {history.TABLE}")
        assert rows > 0
        execute(c, "USE information_schema")
        assert history.latest(c, fresh_db.database)  # qualified: found from anywhere
    finally:
        c.close()


def test_verify_drops_the_scratch_database_of_a_killed_run_and_no_live_one(fresh_db):
    abandoned = f"{fresh_db.database[:40]}_verify_{secrets.token_hex(4)}"
    live = f"{fresh_db.database[:40]}_verify_{secrets.token_hex(4)}"
    holder = connect(fresh_db, database=None)
    try:
        execute(holder, f"CREATE DATABASE `{abandoned}`")
        execute(holder, f"CREATE DATABASE `{live}`")
        assert one(holder, "SELECT GET_LOCK(%s, 0)", (live,)) == 1  # a verify still running
        result = run(fresh_db, "verify")
        assert result.returncode == 0, result.stdout + result.stderr
        schemas = _schemas(fresh_db)
        assert abandoned not in schemas
        assert live in schemas
        assert not [s for s in schemas if s.startswith(f"{fresh_db.database[:40]}_verify_")
                    and s != live]
    finally:
        execute(holder, f"DROP DATABASE IF EXISTS `{live}`")
        holder.close()


def test_a_mariadb_dump_deploys_as_a_migration(mysql_server, fresh_db, empty_db, tmp_path):
    """What a DBA does with an existing database: dump it (the real
    mariadb-dump/mysqldump) and make the dump migration V001."""
    dump_command = mariadb_dump(mysql_server,
                                f"--ignore-table={fresh_db.database}.{history.TABLE}",
                                f"--ignore-table={fresh_db.database}.{deploy_lock.TABLE}",
                                fresh_db.database)
    sample.load(fresh_db, 50, seed=3)
    dump = subprocess.run(dump_command, capture_output=True, check=True).stdout
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "V001__restore.sql").write_bytes(dump)
    done = run(empty_db, "up", source=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 file(s) applied" in done.stdout
    a, b = connect(fresh_db), connect(empty_db)
    try:
        for sql in ("SELECT COUNT(*) FROM ticket_logs", "SELECT COUNT(*) FROM service_tickets",
                    "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = DATABASE()",
                    "SELECT COUNT(*) FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = DATABASE()",
                    "SELECT COUNT(*) FROM information_schema.EVENTS "
                    "WHERE EVENT_SCHEMA = DATABASE()"):
            assert one(a, sql) == one(b, sql) > 0, sql
    finally:
        a.close()
        b.close()


COMMENTED = (
    "DROP PROCEDURE IF EXISTS sp_zz_commented;\n"
    "CREATE PROCEDURE sp_zz_commented()\nBEGIN\n"
    "  -- why: a line comment\n  SELECT 1 /* inline */ + 2 AS v; # hash comment\n"
    "  /*!50001 SELECT 3 -- inside an executable comment\n  AS w */;\nEND;\n"
)


def test_comments_in_bodies_follow_one_rule_for_up_plan_and_verify(mysql_server, source,
                                                                   empty_db, fresh_db):
    """Comments are not sent (the client's default): `up`, `plan | mysql` and
    verify's reference create the same body."""
    client = mysql_client(mysql_server, empty_db.database)
    _write(source, "procedures/sp_zz_commented.sql", COMMENTED)
    assert run(fresh_db, "up", source=source).returncode == 0
    script = run(empty_db, "plan", source=source).stdout
    admin = connect(empty_db, database=None)
    execute(admin, f"CREATE DATABASE `{empty_db.database}`")
    admin.close()
    piped = subprocess.run(client,
                           input=script.encode(), capture_output=True, check=False)
    assert piped.returncode == 0, piped.stderr
    bodies = []
    for target in (fresh_db, empty_db):
        c = connect(target)
        try:
            bodies.append(one(c, "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES "
                                 "WHERE ROUTINE_SCHEMA = DATABASE() "
                                 "AND ROUTINE_NAME = 'sp_zz_commented'"))
        finally:
            c.close()
    assert bodies[0] == bodies[1]
    assert "comment" not in bodies[0] and "SELECT 3" in bodies[0]
    assert run(fresh_db, "verify", source=source).returncode == 0
