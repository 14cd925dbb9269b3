"""Faults in the deployer: SIGKILL at many points, a server that dies mid-deploy,
and several deployers at once. After each, `up` again must end with `verify`
clean and a history that tells the truth."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import query

from ticketdb import history, preflight, server, verify, what_runs
from ticketdb.connection import Target, connect, from_url
from ticketdb.sources import ROOT, all_files


def _server_is_mariadb() -> bool:
    """Which server the session's fixture will start: up swaps triggers in one
    statement on MariaDB, so the statements it runs (the kill points) differ."""
    kind = server.choose_kind()
    if kind == "docker":
        return "mariadb" in server.docker_image().lower()
    if kind == "local":
        return server._flavour(server.find_binary() or "") == "mariadb"
    conn = connect(from_url(os.environ["TICKETDB_TEST_URL"]), database=None)
    try:
        return preflight.server_version(conn).mariadb
    finally:
        conn.close()


DEPLOY = str(ROOT / "deploy.py")
FILES = all_files()
MARIADB = _server_is_mariadb()
RUN = {f.path: what_runs.statements(f, MARIADB) for f in FILES}
TOTAL = sum(len(RUN[f.path]) for f in FILES)
# At least 20 kill points spread over the whole deploy, first and last included.
SPREAD = {1 + round(i * (TOTAL - 1) / 23) for i in range(24)}


def _from_the_lock_on(path: str) -> set[int]:
    """Every kill point from a migration's own LOCK TABLES to its end: the
    region is resumed at the LOCK in a new session, and what follows it
    (scratch tables, a DROP that had run) must survive that."""
    start = 0
    for f in FILES:
        if f.path == path:
            lock = next(i for i, st in enumerate(RUN[path], 1)
                        if st.text.lstrip().upper().startswith("LOCK TABLES"))
            return set(range(start + lock, start + len(RUN[path]) + 1))
        start += len(RUN[f.path])
    raise ValueError(path)


KILL_POINTS = sorted(SPREAD | _from_the_lock_on("sql/V025__ticket_log_hash_chain.sql")
                     | _from_the_lock_on("sql/V030__ticket_log_seq.sql"))


def where(k: int) -> tuple[str, int]:
    """The file and 1-based position (in what up runs) of the k-th statement."""
    for f in FILES:
        if k <= len(RUN[f.path]):
            return f.path, k
        k -= len(RUN[f.path])
    raise ValueError(k)


def up(target: Target, fault: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("TICKETDB_FAULT", None)
    if fault:
        env["TICKETDB_FAULT"] = fault
    return subprocess.run([sys.executable, DEPLOY, "--url", target.url(), "up"],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def attempts(target: Target) -> list[tuple]:
    conn = connect(target)
    try:
        return list(query(conn, f"SELECT script, state, statements_done, statements_total "
                                f"FROM {history.TABLE} ORDER BY history_id"))
    finally:
        conn.close()


def assert_deployed_and_truthful(target: Target) -> None:
    assert verify.verify(target) == [], "verify found drift after recovery"
    rows = attempts(target)
    latest = {script: (state, done, total) for script, state, done, total in rows}
    assert set(latest) == {f.path for f in FILES}
    for script, (state, done, total) in latest.items():
        assert (state, done) == ("applied", total), script
    assert not [r for r in rows if r[1] == "running"], "a dead attempt still says running"


def test_the_kill_points_cover_the_deploy():
    assert len(KILL_POINTS) >= 20 and KILL_POINTS[0] == 1 and KILL_POINTS[-1] == TOTAL


@pytest.mark.slow
@pytest.mark.parametrize("k", KILL_POINTS)
def test_sigkill_after_statement_k_then_up_recovers(empty_db, k):
    killed = up(empty_db, fault=f"kill:{k}")
    assert killed.returncode == -9, killed.stderr
    script, position = where(k)
    again = up(empty_db)
    assert again.returncode == 0, again.stderr
    assert "an earlier deploy was interrupted" in again.stdout
    assert_deployed_and_truthful(empty_db)
    interrupted = [r for r in attempts(empty_db) if r[1] == "interrupted"]
    assert [r[0] for r in interrupted] == [script]
    f = next(f for f in FILES if f.path == script)
    # A versioned file records each statement after it runs: the killed one is
    # not recorded yet; between the file's own LOCK TABLES and UNLOCK TABLES
    # (V025) nothing is recorded until UNLOCK, so the attempt resumes at the
    # LOCK. A repeatable file is recorded as a whole.
    expected_done = recorded_before(f, position) if f.kind == "versioned" else 0
    assert interrupted[0][2] == expected_done


def recorded_before(f, position: int) -> int:
    """Statements of versioned file f recorded when statement `position` has run."""
    done, lock_at = position - 1, None
    for idx, st in enumerate(f.statements[:position]):
        text = st.text.lstrip().upper()
        if text.startswith("LOCK TABLES"):
            lock_at = idx
        elif text.startswith("UNLOCK TABLES") and idx < position - 1:
            lock_at = None
    return lock_at if lock_at is not None else done


def first_position(predicate) -> int:
    k = 0
    for f in FILES:
        for st in RUN[f.path]:
            k += 1
            if predicate(f, st):
                return k
    raise AssertionError("no such statement")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["migration", "trigger swap"])
def test_the_server_dies_mid_deploy_then_up_recovers(own_server, point):
    if point == "migration":
        k = first_position(lambda f, st: f.path.endswith("V006__service_tickets.sql"))
    elif MARIADB:  # right after the one-statement swap (CREATE OR REPLACE TRIGGER)
        k = first_position(lambda f, st: f.kind == "repeatable"
                           and st.text.startswith("CREATE OR REPLACE TRIGGER"))
    else:  # right after DROP TRIGGER, inside LOCK TABLES
        k = first_position(lambda f, st: st.text.startswith("DROP TRIGGER"))
    target = own_server.target.with_database("ticketdb")
    env = {**os.environ, "TICKETDB_FAULT": f"pause:{k}:30"}
    proc = subprocess.Popen([sys.executable, DEPLOY, "--url", target.url(), "up"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()  # blocks until the deployer reaches statement k
    assert "fault injection: pausing after statement" in line, line
    own_server.crash()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err
    own_server.restart()
    again = up(target)
    assert again.returncode == 0, again.stderr
    assert_deployed_and_truthful(target)


@pytest.mark.parametrize("deployers", [2, 4])
def test_concurrent_deployers_apply_everything_exactly_once(empty_db, deployers):
    procs = [subprocess.Popen([sys.executable, DEPLOY, "--url", empty_db.url(), "up",
                               "--lock-timeout", "30"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(deployers)]
    results = [(*p.communicate(timeout=180), p.returncode) for p in procs]
    done = f"done: {len(FILES)} file(s)"
    applied = [out for out, _, code in results if code == 0 and done in out]
    others_ok = [(code == 0 and "nothing to do" in out) or
                 (code == 1 and "another deploy is running" in err)
                 for out, err, code in results if done not in out]
    assert len(applied) == 1, results
    assert all(others_ok), results
    rows = attempts(empty_db)
    assert len(rows) == len(FILES), "a file was applied more than once"
    assert_deployed_and_truthful(empty_db)
