"""What a DBA meets on day one, through the real CLI: private backups, a
database made without up, Ctrl-C, verify's errors, status with a refused file,
the [ticketdb] group of a my.cnf, baseline after the files were piped in
another session, lint's configuration."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace

from support import execute, one
from support.deploy import DEPLOY, FILES, history_rows, mysql_client, run

from ticketdb import history
from ticketdb.connection import SQL_MODE, connect
from ticketdb.sources import ROOT, all_files


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _later(source) -> None:
    (source / "sql" / "V900__later.sql").write_text("CREATE TABLE t_later (a INT PRIMARY KEY);\n")


def test_backups_are_mode_600_in_a_directory_of_mode_700(fresh_db, source, tmp_path):
    _later(source)
    backups = tmp_path / "new" / "backups"
    result = run(fresh_db, "up", "--backup", str(backups), source=source)
    assert result.returncode == 0, result.stderr
    (dump,) = backups.glob("*.sql")
    assert _mode(backups) == 0o700
    assert _mode(dump) == 0o600


def test_an_existing_open_backup_directory_is_kept_and_named(fresh_db, source, tmp_path):
    _later(source)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    result = run(fresh_db, "up", "--backup", str(shared), source=source)
    assert result.returncode == 0, result.stderr
    (dump,) = shared.glob("*.sql")
    assert _mode(dump) == 0o600
    assert _mode(shared) == 0o755  # never chmod-ed: it may be /tmp
    assert f"warning: backup directory {shared} is mode 755: others may list it" in result.stdout


def test_up_on_a_database_made_without_up_says_to_run_baseline(empty_db):
    conn = connect(empty_db, database=None)
    try:
        execute(conn, f"CREATE DATABASE `{empty_db.database}`")
        execute(conn, f"CREATE TABLE `{empty_db.database}`.customers (customer_id INT PRIMARY KEY)")
    finally:
        conn.close()
    result = run(empty_db, "up")
    assert result.returncode == 1
    assert "1050" not in result.stderr
    assert "has no deploy history but already holds 1 table(s) the migrations create " \
           "(customers)" in result.stderr
    assert "`ticketdb baseline` records them as applied" in result.stderr
    assert history_rows(empty_db) == 0  # nothing recorded: baseline can still adopt it


def test_ctrl_c_says_what_state_the_database_is_in_and_the_next_up_resumes(empty_db):
    env = {**os.environ, "TICKETDB_FAULT": "pause:3:60"}
    proc = subprocess.Popen([sys.executable, DEPLOY, "--url", empty_db.url(), "up"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the pause is announced on stderr
        assert "fault injection: pausing after statement 3" in line, line
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Aborted!" not in err
    err = " ".join(err.split())
    assert "up was interrupted: 2 file(s) were applied before it; sql/V003__agent_status.sql " \
           "was being applied" in err
    assert "the next up marks the attempt interrupted and resumes" in err
    assert "run `ticketdb up` again: it resumes" in err

    again = run(empty_db, "up")
    assert again.returncode == 0, again.stderr
    assert "resuming where it stopped" in again.stdout
    assert run(empty_db, "verify").returncode == 0


def test_verify_prints_a_server_error_in_the_one_format(db):
    wrong = replace(db, password="not-the-password-1")
    result = run(wrong, "verify")
    assert result.returncode == 2
    assert "error: could not check: cannot connect: error 1045: Access denied" in result.stderr
    assert "(1045," not in result.stderr


def test_status_lists_every_file_and_marks_the_refused_one(db, source):
    (source / "procedures" / "sp_zz_elsewhere.sql").write_text(
        "DROP PROCEDURE IF EXISTS sp_zz_elsewhere;\nUSE mysql;\n")
    (source / "sql" / "V900__other_schema.sql").write_text(
        "CREATE TABLE other_db.t_x (a INT PRIMARY KEY);\n")
    result = run(db, "status", "--json", source=source)
    assert result.returncode == 0, result.stderr
    files = {f["file"]: f for f in json.loads(result.stdout)["files"]}
    assert len(files) == FILES + 2
    assert all(files[f.path]["state"] == "applied" for f in all_files())
    refused = files["procedures/sp_zz_elsewhere.sql"]
    assert refused["state"] == "refused"
    assert "up refuses every file while this one is here" in refused["note"]
    assert "USE" in refused["note"]
    assert files["sql/V900__other_schema.sql"]["state"] == "refused"
    assert "names another schema (other_db.t_x)" in files["sql/V900__other_schema.sql"]["note"]
    table = run(db, "status", source=source)
    assert table.returncode == 0 and "refused" in table.stdout
    assert run(db, "status", "--check", source=source).returncode == 1


def test_the_ticketdb_group_of_a_defaults_file_names_the_database(db, tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text(f"[client]\nuser = {db.user}\nhost = {db.host}\nport = {db.port}\n"
                   f"password = {db.password}\nprotocol = tcp\n\n"
                   f"[ticketdb]\ndatabase = {db.database}\n")
    result = subprocess.run([sys.executable, DEPLOY, "--defaults-file", str(cnf), "status",
                             "--json"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["target"].endswith(f"/{db.database}") and data["up_to_date"] is True
    admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
    if admin:  # the same file serves the client tools, which refuse database= in [client]
        ping = subprocess.run([admin, f"--defaults-file={cnf}", "ping"], capture_output=True,
                              text=True, check=False)
        assert ping.returncode == 0, ping.stderr


def _pipe_each(srv, database: str, files, sql_mode: str) -> None:
    for f in files:
        done = subprocess.run(
            mysql_client(srv, f"--init-command=SET time_zone = '+00:00', sql_mode = '{sql_mode}'",
                         database),
            input=(ROOT / f.path).read_text(), capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{f.path}: {done.stderr}"


OTHER_MODE = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"  # a client's usual default


def test_baseline_leaves_repeatable_files_piped_in_another_session_to_up(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    files = all_files()
    _pipe_each(mysql_server, empty_db.database, [f for f in files if f.kind == "versioned"],
               SQL_MODE)
    _pipe_each(mysql_server, empty_db.database, [f for f in files if f.kind == "repeatable"],
               OTHER_MODE)
    result = run(empty_db, "baseline")
    assert result.returncode == 0, result.stderr
    repeatable = sum(f.kind == "repeatable" for f in files)
    assert f"{FILES - repeatable} file(s) recorded; {repeatable} repeatable file(s) left " \
           "pending" in result.stdout
    assert "left procedures/sp_assign_ticket.sql pending: routine sp_assign_ticket: sql_mode" \
        in result.stdout
    up = run(empty_db, "up")
    assert up.returncode == 0, up.stderr
    assert f"done: {repeatable} file(s) applied" in up.stdout
    assert run(empty_db, "verify").returncode == 0


def test_baseline_explains_a_migration_object_made_in_another_session(empty_db, mysql_server):
    conn = connect(empty_db, database=None)
    execute(conn, f"CREATE DATABASE `{empty_db.database}`")
    conn.close()
    _pipe_each(mysql_server, empty_db.database, all_files(), OTHER_MODE)
    result = run(empty_db, "baseline")
    assert result.returncode == 1
    err = " ".join(result.stderr.split())
    assert "routine fn_ticket_log_hash: sql_mode differ" in err
    # every function a migration made (V025, V030, V031) is named in one list
    made = re.search(r"((?:routine \w+, )*routine \w+) differ only in the session they were "
                     r"made in", err)
    assert made and "routine fn_ticket_log_hash" in made.group(1).split(", "), err
    assert f"SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00'" in err
    assert "nothing was recorded" in err
    conn = connect(empty_db)
    try:
        assert one(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                         "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (history.TABLE,)) == 0
    finally:
        conn.close()


def test_lint_uses_the_source_dirs_sqlfluff_and_says_so(tmp_path):
    (tmp_path / "sql").mkdir()
    shutil.copy(ROOT / "sql" / "V001__customers.sql", tmp_path / "sql")
    (tmp_path / ".sqlfluff").write_text(
        "[sqlfluff]\ndialect = mysql\ntemplater = raw\n\n"
        "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = lower\n")
    result = subprocess.run([sys.executable, DEPLOY, "--source-dir", str(tmp_path), "lint"],
                            capture_output=True, text=True, check=False, timeout=300)
    assert f"sqlfluff configuration: {tmp_path / '.sqlfluff'}" in result.stderr
    assert result.returncode == 1  # upper-case keywords are findings under this one
    assert "CP01" in result.stdout
    (tmp_path / ".sqlfluff").unlink()
    clean = subprocess.run([sys.executable, DEPLOY, "--source-dir", str(tmp_path), "lint"],
                           capture_output=True, text=True, check=False, timeout=300)
    assert f"sqlfluff configuration: {ROOT / '.sqlfluff'}" in clean.stderr
    assert clean.returncode == 0, clean.stdout + clean.stderr
