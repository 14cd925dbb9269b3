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
