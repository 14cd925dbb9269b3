"""A throwaway 3-node MariaDB Galera cluster on loopback, for the tests.

Node 1 bootstraps (`gcomm://`), nodes 2 and 3 join it by state transfer
(rsync SST, which needs the nodes to run as the `mysql` user: rsync's daemon
refuses a datadir owned by root when started by mysqld under --user). Each node
has its own free ports for clients, group communication (Galera's 4567),
IST (4568) and SST (4444), a small buffer pool and gcache, and the same
session defaults as ticketdb/server.py's throwaway servers.

`kill(n)` SIGKILLs a node as a power cut would; `rejoin(n)` wipes its datadir
and starts it again, so it comes back by a full SST; `stop()` stops every node.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from ticketdb import server
from ticketdb.connection import SQL_MODE, Target, connect

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
SYSTEM_USER = "mysql"
_NODE_ARGS = [
    "--event-scheduler=ON",
    f"--sql-mode={SQL_MODE}",
    "--default-time-zone=+00:00",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    "--skip-name-resolve",
    "--max-connections=200",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=48M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-autoinc-lock-mode=2",
    "--performance-schema=OFF",
    "--binlog-format=ROW",
    "--wsrep-on=ON",
    f"--wsrep-provider={PROVIDER}",
    "--wsrep-sst-method=rsync",
    "--wsrep-slave-threads=2",
]


class ClusterError(RuntimeError):
    """The cluster could not be started or a node did not come back."""


def available() -> str | None:
    """None when a cluster can be started here, else what is missing."""
    if not Path(PROVIDER).exists():
        return f"{PROVIDER} is missing: apt-get install galera-4"
    if not shutil.which("rsync"):
        return "rsync is missing: apt-get install rsync"
    if server.find_binary() is None:
        return "no mariadbd found: apt-get install mariadb-server"
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return f"no system user {SYSTEM_USER!r} (mariadb-server creates it)"
    return None


@dataclass
class Node:
    number: int
    workdir: Path
    port: int
    gcomm_port: int
    ist_port: int
    sst_port: int
    target: Target
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcomm_port}"

    def connect(self, database: str | None = None, **kwargs) -> pymysql.connections.Connection:
        return connect(self.target, database=database, **kwargs)

    def status(self, name: str) -> str | None:
        conn = self.connect(connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
                row = cur.fetchone()
                return row[1] if row else None
        finally:
            conn.close()

    def error_log(self, chars: int = 2000) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@dataclass
class Cluster:
    nodes: list[Node]
    binary: str
    workdir: Path
    name: str = "ticketdb_test"
    # one server_id for every node, as docs/cluster.md asks (an event enabled
    # on a node stays enabled across restarts and SST only then); None: the
    # node's number, to show what goes wrong otherwise
    server_id: int | None = 1

    def node(self, number: int) -> Node:
        return self.nodes[number - 1]

    def _args(self, node: Node, bootstrap: bool) -> list[str]:
        peers = ",".join(n.address for n in self.nodes)
        provider_options = (f"gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port};"
                            f"ist.recv_addr=127.0.0.1:{node.ist_port};"
                            "gcache.size=64M;evs.inactive_timeout=PT6S;"
                            "evs.suspect_timeout=PT3S;pc.wait_prim_timeout=PT30S")
        return [
            self.binary, "--no-defaults", f"--datadir={node.datadir}", f"--port={node.port}",
            "--bind-address=127.0.0.1", f"--socket={node.workdir / 'mysqld.sock'}",
            f"--pid-file={node.workdir / 'mysqld.pid'}", f"--tmpdir={node.workdir / 'tmp'}",
            f"--log-error={node.workdir / 'error.log'}",
            f"--server-id={self.server_id or node.number}",
            f"--user={SYSTEM_USER}", *_NODE_ARGS,
            f"--wsrep-cluster-name={self.name}", f"--wsrep-node-name=node{node.number}",
            f"--wsrep-node-address=127.0.0.1:{node.gcomm_port}",
            f"--wsrep-node-incoming-address=127.0.0.1:{node.port}",
            f"--wsrep-sst-receive-address=127.0.0.1:{node.sst_port}",
            f"--wsrep-provider-options={provider_options}",
            "--wsrep-cluster-address=gcomm://" + ("" if bootstrap else peers),
        ]

    def start_node(self, node: Node, bootstrap: bool = False, timeout: float = 120) -> None:
        log = open(node.workdir / "stdout.log", "ab")  # noqa: SIM115 - closed on exit
        node.process = subprocess.Popen(self._args(node, bootstrap), stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()
        self.wait_synced(node, timeout)

    def wait_synced(self, node: Node, timeout: float = 120) -> None:
        """Until the node answers, is in the Primary component and Synced."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise ClusterError(f"node {node.number} exited ({node.process.returncode}); "
                                   f"error log:\n{node.error_log()}")
            try:
                if (node.status("wsrep_local_state_comment") == "Synced"
                        and node.status("wsrep_cluster_status") == "Primary"):
                    return
                last = "not synced yet"
            except pymysql.MySQLError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ClusterError(f"node {node.number} not Synced after {timeout} s ({last}); "
                           f"error log:\n{node.error_log()}")

    def kill(self, number: int) -> None:
        """SIGKILL one node (its files stay, its peers drop it from the cluster)."""
        node = self.node(number)
        if node.process is not None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(30)
            node.process = None
        alive = sum(1 for n in self.nodes if n.process is not None)
        if alive:
            self.wait_for_size(alive)  # its peers have dropped it

    def rejoin(self, number: int, wipe: bool = True, timeout: float = 180) -> None:
        """Start a killed node again; with `wipe` its datadir is emptied, so it
        comes back by a full state transfer (SST) from a donor."""
        node = self.node(number)
        if wipe:
            shutil.rmtree(node.datadir, ignore_errors=True)
            node.datadir.mkdir()
            _chown(node.datadir)
        self.start_node(node, timeout=timeout)

    def wait_for_size(self, size: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [n for n in self.nodes if n.process is not None]
            try:
                if alive and all(n.status("wsrep_cluster_size") == str(size) for n in alive):
                    return
            except pymysql.MySQLError:
                pass
            time.sleep(0.5)
        raise ClusterError(f"the cluster did not reach size {size} in {timeout} s")

    def stop(self) -> None:
        """Stop the nodes (the last one to leave last), then remove their files."""
        for node in reversed(self.nodes):
            if node.process is None:
                continue
            node.process.send_signal(signal.SIGTERM)
            try:
                node.process.wait(60)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(10)
            node.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def _chown(path: Path) -> None:
    user = pwd.getpwnam(SYSTEM_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def start(size: int = 3, server_id: int | None = 1) -> Cluster:
    """Bootstrap node 1, join the others; raises ClusterError with the failing
    node's error log when one does not come up."""
    missing = available()
    if missing:
        raise ClusterError(f"cannot start a Galera cluster: {missing}")
    binary = server.find_binary() or ""
    workdir = Path(tempfile.mkdtemp(prefix="ticketdb-galera-"))
    workdir.chmod(0o755)  # the nodes run as mysql
    nodes = []
    for number in range(1, size + 1):
        nodedir = workdir / f"node{number}"
        (nodedir / "tmp").mkdir(parents=True)
        ports = [server._free_port() for _ in range(4)]
        target = Target(host="127.0.0.1", port=ports[0], user="root", password="",
                        database="ticketdb")
        nodes.append(Node(number, nodedir, *ports, target))
    cluster = Cluster(nodes, binary, workdir, server_id=server_id)
    try:
        first = nodes[0]
        server._initialize(binary, "mariadb", first.datadir, [f"--user={SYSTEM_USER}"])
        for node in nodes[1:]:
            node.datadir.mkdir()
        _chown(workdir)
        cluster.start_node(first, bootstrap=True)
        # the same root on every node comes with the SST; the client file for each
        for node in nodes:
            server._write_client_cnf(node.workdir, node.target, node.workdir / "mysqld.sock")
        for node in nodes[1:]:
            cluster.start_node(node, timeout=180)
        cluster.wait_for_size(size)
    except BaseException:
        cluster.stop()
        raise
    return cluster
