"""ticketdb on a real 3-node MariaDB Galera cluster on loopback (issue 24).

One cluster for the module (ticketdb/cluster.py): node 1 bootstraps, nodes 2
and 3 join by rsync SST. The tests deploy, write and kill nodes on it for real.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from support import one, query

from ticketdb import cluster as galera
from ticketdb import history
from ticketdb.connection import Target, connect
from ticketdb.sources import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[galera.Cluster]:
    c = galera.start(3)
    yield c
    c.stop()


def targets(c: galera.Cluster, database: str) -> list[Target]:
    return [n.target.with_database(database) for n in c.nodes]


def new_name(label: str) -> str:
    return f"g_{label}_{secrets.token_hex(3)}"


def test_cluster_replicates_and_a_killed_node_rejoins_by_sst(cluster: galera.Cluster) -> None:
    name = new_name("fixture")
    with cluster.node(1).connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(f"CREATE TABLE {name}.t (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO {name}.t VALUES (1)")
        conn.commit()
    cluster.kill(3)
    cluster.wait_for_size(2)
    with cluster.node(2).connect() as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {name}.t VALUES (2)")  # while node 3 is down
        conn.commit()
    cluster.rejoin(3)  # empty datadir: a full SST
    cluster.wait_for_size(3)
    assert cluster.node(3).status("wsrep_last_committed") is not None
    with cluster.node(3).connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {name}.t ORDER BY id")
        assert cur.fetchall() == ((1,), (2,))
        cur.execute(f"DROP DATABASE {name}")


DEPLOY = str(ROOT / "deploy.py")


def run(target: Target, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, DEPLOY, "--url", target.url(), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def clean_everywhere(c: galera.Cluster, database: str) -> None:
    for t in targets(c, database):
        checked = run(t, "verify")
        assert checked.returncode == 0, (t.port, checked.stdout, checked.stderr)
        status = run(t, "status", "--check")
        assert status.returncode == 0, (t.port, status.stdout, status.stderr)
        conn = connect(t)
        try:
            assert query(conn, "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS "
                               "WHERE EVENT_SCHEMA = DATABASE() AND STATUS <> 'ENABLED'") == ()
            # verify's scratch database was built on its node only, and dropped
            assert query(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                               "WHERE SCHEMA_NAME LIKE %s", (f"{database[:40]}_verify_%",)) == ()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def deployed(cluster: galera.Cluster) -> str:
    """One database deployed by `up` on node 1, shared by the tests that
    only write rows."""
    name = new_name("shared")
    done = run(cluster.node(1).target.with_database(name), "up")
    assert done.returncode == 0, done.stdout + done.stderr
    return name


def test_up_on_one_node_then_verify_and_status_clean_on_all_three(cluster, deployed):
    clean_everywhere(cluster, deployed)
    again = run(cluster.node(2).target.with_database(deployed), "up")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout, again.stdout
    clean_everywhere(cluster, deployed)


def test_two_ups_at_once_on_two_nodes_one_waits_never_both(cluster):
    name = new_name("twoup")
    procs = [subprocess.Popen([sys.executable, DEPLOY, "--url",
                               cluster.node(n).target.with_database(name).url(), "up",
                               "--lock-timeout", "240"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in (1, 2)]
    results = [(*p.communicate(timeout=400), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, (out, err)
    applied = [out for out, _, _ in results if "done:" in out]
    assert len(applied) == 1, results
    waited = [out for out, _, _ in results if "nothing to do" in out]
    assert len(waited) == 1, results
    conn = connect(cluster.node(3).target.with_database(name))
    try:
        assert query(conn, f"SELECT script FROM {history.TABLE} GROUP BY script "
                           "HAVING COUNT(*) > 1") == ()
        nodes = {r[0] for r in query(conn, f"SELECT DISTINCT node FROM {history.TABLE}")}
        assert len(nodes) == 1 and None not in nodes, nodes
        assert one(conn, f"SELECT COUNT(*) FROM {history.TABLE} WHERE connection_id IS NULL "
                         "OR state <> 'applied'") == 0
    finally:
        conn.close()
    clean_everywhere(cluster, name)


def minute_runs(conn, since, job: str = "generate_alerts") -> list[tuple]:
    """(minute, runs, nodes) of the job's runs that did the work, since `since`."""
    return query(conn, "SELECT DATE_FORMAT(started_at, '%%Y-%%m-%%d %%H:%%i'), COUNT(*), "
                       "GROUP_CONCAT(DISTINCT node) FROM ticketdb_job_runs WHERE job = %s "
                       "AND started_at >= %s AND outcome IN ('running', 'succeeded', 'failed') "
                       "GROUP BY 1 ORDER BY 1", (job, since))


def wait_for_minutes(conn, since, count: int, timeout: float) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = minute_runs(conn, since)
        finished = one(conn, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE job = "
                             "'generate_alerts' AND finished_at IS NULL")
        if len(rows) >= count and finished == 0:
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(2)


def test_jobs_run_once_per_minute_across_nodes_and_go_on_when_their_node_dies(cluster, deployed):
    """Every node's event fires every minute; the job's lease lets one run
    each period. Then the node that ran the last one is SIGKILLed: the next
    periods run on the others, once each; the node comes back by SST with its
    events still enabled."""
    conn = connect(cluster.node(3).target.with_database(deployed))
    since = one(conn, "SELECT UTC_TIMESTAMP(6)")
    rows = wait_for_minutes(conn, since, 3, 260)
    assert [r[1] for r in rows] == [1] * len(rows), rows  # exactly once per minute
    assert one(conn, "SELECT COUNT(*) FROM ticketdb_job_runs WHERE outcome = 'failed'") == 0
    last_node = query(conn, "SELECT node FROM ticketdb_job_runs WHERE job = 'generate_alerts' "
                            "ORDER BY started_at DESC LIMIT 1")[0][0]
    victim = next(n for n in cluster.nodes if last_node.endswith(f":{n.port}"))
    reader = next(n for n in cluster.nodes if n is not victim)
    conn.close()
    cluster.kill(victim.number)
    conn = connect(reader.target.with_database(deployed))
    try:
        killed_at = one(conn, "SELECT UTC_TIMESTAMP(6)")
        after = wait_for_minutes(conn, killed_at, 1, 150)
        assert [r[1] for r in after] == [1] * len(after), after
        assert all(f":{victim.port}" not in r[2] for r in after), after
    finally:
        conn.close()
    cluster.rejoin(victim.number)  # empty datadir: a full SST from a donor
    back = connect(victim.target.with_database(deployed))
    try:
        assert query(back, "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS "
                           "WHERE EVENT_SCHEMA = DATABASE() AND STATUS <> 'ENABLED'") == ()
    finally:
        back.close()
    clean_everywhere(cluster, deployed)
