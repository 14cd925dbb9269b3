"""ticketdb on a real 3-node MariaDB Galera cluster on loopback (issue 24).

One cluster for the module (ticketdb/cluster.py): node 1 bootstraps, nodes 2
and 3 join by rsync SST. The tests deploy, write and kill nodes on it for real.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from ticketdb import cluster as galera
from ticketdb.connection import Target

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
