"""`deploy.py sandbox`: a throwaway server, deployed, sample data, the reports."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import one, query

from ticketdb.connection import connect, from_defaults_file
from ticketdb.sources import ROOT


def test_sandbox_keep_prints_the_reports_and_leaves_a_working_server():
    result = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "sandbox", "--keep",
                             "--tickets", "300"], capture_output=True, text=True, timeout=300,
                            check=False)
    out = result.stdout
    stop = re.search(r"stop it: (.+)", out)
    assert stop, out + result.stderr
    target = None
    try:
        assert result.returncode == 0, result.stderr
        for title in ("Escalations made", "Alerts written", "Overdue report",
                      "Agent efficiency", "Customer satisfaction", "Morning list",
                      "Archives filled", "archived and live rows, in order"):
            assert title in out
        assert re.search(r"sp_verify_audit_trail\(NULL\): \d+ ticket chain\(s\) checked "
                         r"across ticket_logs and \d+ archive\(s\), 0 broken", out), out
        cnf = Path(re.search(r"client options: (\S+)", out).group(1))
        assert cnf.stat().st_mode & 0o777 == 0o600  # it may hold root's password
        target = from_defaults_file(str(cnf)).with_database("ticketdb")
        conn = connect(target)
        try:
            assert one(conn, "SELECT COUNT(*) FROM service_tickets") == 300
            archived = one(conn, "SELECT SUM(rows_archived) FROM ticket_log_archives")
            assert archived > 0
            assert one(conn, "SELECT COUNT(*) FROM ticket_logs") + archived > 300
            # about half the resolved and closed tickets are rated, most 4 or 5
            rated, done, good = query(conn, "SELECT (SELECT COUNT(*) FROM ticket_ratings), "
                                            "(SELECT COUNT(*) FROM service_tickets WHERE "
                                            "current_status IN ('resolved', 'closed')), "
                                            "(SELECT AVG(rating >= 4) FROM ticket_ratings)")[0]
            assert 0.35 * done < rated < 0.75 * done, (rated, done)
            assert good > 0.5
            assert one(conn, "SELECT @@event_scheduler") == "ON"
        finally:
            conn.close()
    finally:
        # what the sandbox told the user to run must stop the server and clean up
        done = subprocess.run(stop.group(1), shell=True, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert not Path(stop.group(1).rsplit("rm -rf ", 1)[1]).exists()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _reachable(target):
        time.sleep(0.2)
    assert not _reachable(target), "the server still answers after the stop command"


def _reachable(target) -> bool:
    try:
        connect(target, database=None).close()
        return True
    except Exception:
        return False


def test_a_terminated_user_of_a_throwaway_server_stops_it_and_removes_its_files():
    # what `make bench`, `sandbox` and a test session do, killed by SIGTERM
    # (a CI timeout, `kill`): the server must not outlive them
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from ticketdb import server\n"
        "srv = server.start()\n"
        "try:\n"  # announce inside the try: SIGTERM may land right after the line
        "    c = srv.container.get_wrapped_container().id if srv.container else ''\n"
        "    print(srv.workdir, c or '-', flush=True)\n"
        "    time.sleep(300)\n"
        "finally:\n"
        "    srv.stop()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    workdir_text, container = proc.stdout.readline().split()
    workdir = Path(workdir_text)
    pid = int((workdir / "mysqld.pid").read_text()) if container == "-" else None
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if pid is not None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            shutil.rmtree(workdir, ignore_errors=True)
            raise AssertionError("the server outlived the process that started it")
    else:
        import docker

        client = docker.from_env()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container)
    assert not workdir.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
