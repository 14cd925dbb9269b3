"""P5: up on an empty database, and a no-op up."""

import statistics
import subprocess
import sys

from harness import Figure, q, timed

from ticketdb import migrate, server
from ticketdb.connection import connect
from ticketdb.sources import ROOT


def p5_deploy(srv: server.ThrowawayServer, repeat: int) -> list[Figure]:
    admin = connect(srv.target, database=None)
    round_trip = [timed(lambda: q(admin, "SELECT 1")) for _ in range(repeat * 20)]
    create = []
    for i in range(repeat):
        q(admin, "CREATE DATABASE IF NOT EXISTS bench_ddl")
        create.append(timed(lambda i=i: q(admin, f"CREATE TABLE bench_ddl.t{i} "
                                                 "(id INT PRIMARY KEY)")))
    q(admin, "DROP DATABASE bench_ddl")
    fresh, noop = [], []
    for i in range(repeat):
        target = srv.target.with_database(f"bench_up_{i}")
        fresh.append(timed(lambda t=target: migrate.up(t, lambda _line: None)))
        noop.append(timed(lambda t=target: migrate.up(t, lambda _line: None)))
    cli = []
    for i in range(repeat):
        target = srv.target.with_database(f"bench_up_{i}")
        cli.append(timed(lambda t=target: subprocess.run(
            [sys.executable, str(ROOT / "deploy.py"), "--url", t.url(), "up"],
            capture_output=True, check=True)))
        q(admin, f"DROP DATABASE bench_up_{i}")
    admin.close()
    full = Figure("P5", "up on an empty database (every file)", "one CREATE TABLE", fresh, create,
                  goal="report")
    trip = statistics.median(round_trip)
    full.notes.append(f"a bare SELECT 1 round trip: median {trip * 1e3:.3f} ms "
                      f"(up = {full.median / trip:.0f} round trips)")
    full.passed = None
    empty = Figure("P5", "no-op up (nothing pending), in-process", "a SELECT 1 round trip", noop,
                   round_trip, goal="under 1 s")
    empty.notes.append(f"`python deploy.py up` no-op as a process, interpreter start included: "
                       f"median {statistics.median(cli):.3f} s")
    empty.passed = max(noop) < 1.0 and statistics.median(cli) < 1.0
    return [full, empty]
