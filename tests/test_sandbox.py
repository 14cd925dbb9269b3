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

from support import one

from ticketdb.connection import connect, from_url
from ticketdb.sources import ROOT


def test_sandbox_keep_prints_the_reports_and_leaves_a_working_server():
    result = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "sandbox", "--keep",
                             "--tickets", "300"], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in ("Escalations made", "Alerts written", "Overdue report",
                  "Agent efficiency", "Morning list"):
        assert title in out
    workdir = re.search(r"rm -rf (\S+)", out).group(1)
    url = re.search(r"URL: (\S+)", out).group(1)
    try:
        conn = connect(from_url(url))
        try:
            assert one(conn, "SELECT COUNT(*) FROM service_tickets") == 300
            assert one(conn, "SELECT COUNT(*) FROM ticket_logs") > 300
            assert one(conn, "SELECT @@event_scheduler") == "ON"
        finally:
            conn.close()
    finally:
        pid = int(Path(workdir, "mysqld.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_terminated_user_of_a_throwaway_server_stops_it_and_removes_its_files():
    # what `make bench`, `sandbox` and a test session do, killed by SIGTERM
    # (a CI timeout, `kill`): the server must not outlive them
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from ticketdb import server\n"
        "srv = server.start(kind='local')\n"
        "try:\n"  # announce inside the try: SIGTERM may land right after the line
        "    print(srv.workdir, flush=True)\n"
        "    time.sleep(300)\n"
        "finally:\n"
        "    srv.stop()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    workdir = Path(proc.stdout.readline().strip())
    pid = int((workdir / "mysqld.pid").read_text())
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        raise AssertionError("the server outlived the process that started it")
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
