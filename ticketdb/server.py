"""Throwaway MySQL-compatible servers, for the tests, `sandbox` and `make bench`.

Which server (TICKETDB_SERVER overrides the automatic choice):
  url     an existing server named by TICKETDB_TEST_URL (chosen when it is set);
  docker  a container through testcontainers (when a Docker engine answers):
          TICKETDB_DOCKER_IMAGE, default mysql:8.4 (mysql:8.0, mariadb:10.11,
          mariadb:11.4 work too), root with a random password;
  local   `mariadbd` or `mysqld` from PATH, started in a temp dir on a free port,
          with a passwordless root that exists as long as the temp dir does.

Both run with the event scheduler ON, strict sql_mode, UTC, utf8mb4 and a ROW
binary log. Each has a temp dir with `client.cnf`, the `[client]` options that
reach it (password included, readable by its owner only).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mirakuru import TCPExecutor

from ticketdb.connection import SQL_MODE, Target, client_options, from_url
from ticketdb.errors import TicketdbError

DEFAULT_IMAGE = "mysql:8.4"
_SERVER_ARGS = [
    "--event-scheduler=ON",
    f"--sql-mode={SQL_MODE}",
    "--default-time-zone=+00:00",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    "--skip-name-resolve",
    "--max-connections=300",
    "--innodb-buffer-pool-size=512M",
    "--innodb-flush-log-at-trx-commit=2",
    # MySQL 8's default; MariaDB's is 1 (see preflight.settings_warnings)
    "--innodb-autoinc-lock-mode=2",
    "--log-bin=binlog",
    "--sync-binlog=0",
]
# MariaDB logs MIXED by default; MySQL logs ROW, and deprecates --binlog-format
# from 8.0.34, so it is not given there.
_FLAVOUR_ARGS = {
    "mariadb": ["--binlog-format=ROW"],
    "mysql": ["--gtid-mode=ON", "--enforce-gtid-consistency=ON"],
}


class ServerError(TicketdbError):
    """No throwaway server could be started; the message says why."""


@dataclass
class ThrowawayServer:
    kind: str  # local / docker / url
    target: Target
    version: str = ""
    workdir: Path | None = None
    executor: TCPExecutor | None = field(default=None, repr=False)
    container: object | None = field(default=None, repr=False)  # testcontainers' container
    _stop: list = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for stop in reversed(self._stop):
            stop()
        self._stop.clear()

    def crash(self) -> None:
        """SIGKILL the server, as a power cut would (its files stay)."""
        if self.executor is not None:
            self.executor.kill(sig=signal.SIGKILL)
        elif self.container is not None:
            self.container.get_wrapped_container().kill()  # SIGKILL to mysqld, PID 1
        else:
            raise ServerError("only a local or docker server can be crashed and restarted")

    def restart(self) -> None:
        """Start a crashed or stopped server again on the same files and port."""
        if self.executor is not None:
            self.executor.start()
        elif self.container is not None:
            self.container.get_wrapped_container().start()
            _wait_for_login(self.target, 120)
        else:
            raise ServerError("only a local or docker server can be crashed and restarted")

    def stop_hint(self) -> str:
        """The shell command that stops a kept server and removes its files."""
        if self.container is not None:
            cid = self.container.get_wrapped_container().short_id
            return f"docker rm -f {cid} && rm -rf {self.workdir}"
        return (f"p=$(cat {self.workdir}/mysqld.pid) && kill $p && "
                "while kill -0 $p 2>/dev/null; do sleep 0.2; done && "  # shut down, then
                f"rm -rf {self.workdir}")

    def client_command(self) -> list[str]:
        """The `mysql` client, connected to this server as root: the local
        `mariadb`/`mysql` binary when there is one, else the one in the container."""
        local = shutil.which("mariadb") or shutil.which("mysql")
        if local and self.workdir is not None:
            return [local, f"--defaults-file={self.workdir / 'client.cnf'}"]
        if self.container is not None:
            inside = "mariadb" if "mariadb" in self.version.lower() else "mysql"
            return ["docker", "exec", "-i", "-e", f"MYSQL_PWD={self.target.password}",
                    self.container.get_wrapped_container().id, inside, "-uroot"]
        raise ServerError("no mysql client found: install mariadb-client or mysql-client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary() -> str | None:
    extra = os.pathsep.join(("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"))
    path = os.environ.get("PATH", "") + os.pathsep + extra
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def docker_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def choose_kind() -> str:
    kind = os.environ.get("TICKETDB_SERVER", "").strip().lower()
    if kind:
        if kind not in ("url", "docker", "local"):
            raise ServerError(f"TICKETDB_SERVER={kind!r}: use url, docker or local")
        return kind
    if os.environ.get("TICKETDB_TEST_URL"):
        return "url"
    return "docker" if docker_answers() else "local"


def start(kind: str | None = None, *, server_id: int = 1, extra_args: list[str] | None = None,
          keep: bool = False) -> ThrowawayServer:
    kind = kind or choose_kind()
    if kind == "url":
        url = os.environ.get("TICKETDB_TEST_URL")
        if not url:
            raise ServerError("TICKETDB_SERVER=url needs TICKETDB_TEST_URL")
        return ThrowawayServer("url", from_url(url))
    if kind == "docker":
        return _start_docker(extra_args or [], keep)
    return _start_local(server_id=server_id, extra_args=extra_args or [], keep=keep)


def docker_image() -> str:
    return os.environ.get("TICKETDB_DOCKER_IMAGE", "").strip() or DEFAULT_IMAGE


def _start_docker(extra_args: list[str], keep: bool) -> ThrowawayServer:
    from testcontainers.community.mysql import MySqlContainer
    from testcontainers.core.config import testcontainers_config

    image = docker_image()
    flavour = "mariadb" if "mariadb" in image.lower() else "mysql"
    if keep:
        # testcontainers' reaper (Ryuk) removes every container it started when
        # Python exits; a kept sandbox must outlive us.
        testcontainers_config.ryuk_disabled = True
    password = secrets.token_urlsafe(16)
    port = _free_port()  # bound, not random: a restarted container keeps it
    container = MySqlContainer(image, username="root", password=password)
    container.with_bind_ports(3306, port)
    container.with_command(" ".join([*_SERVER_ARGS, *_FLAVOUR_ARGS[flavour], "--server-id=1",
                                     *extra_args]))
    container.start()
    target = Target(host=container.get_container_host_ip(), port=port, user="root",
                    password=password, database="ticketdb")
    workdir = Path(tempfile.mkdtemp(prefix="ticketdb-server-"))
    _write_client_cnf(workdir, target)
    srv = ThrowawayServer("docker", target, _server_version(target), workdir,
                          container=container)
    if not keep:
        srv._stop = [container.stop, lambda: shutil.rmtree(workdir, ignore_errors=True)]
        _interrupt_on_sigterm()
    return srv


def _write_client_cnf(workdir: Path, target: Target, socket_path: Path | None = None) -> None:
    cnf = workdir / "client.cnf"
    cnf.touch(mode=0o600)
    cnf.write_text(client_options(target, str(socket_path) if socket_path else None))


def _wait_for_login(target: Target, timeout: float) -> None:
    """A container's port answers before the server inside does: log in."""
    import pymysql

    from ticketdb.connection import connect

    deadline = time.monotonic() + timeout
    while True:
        try:
            connect(target, database=None).close()
            return
        except pymysql.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _flavour(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return "mariadb" if "mariadb" in out.stdout.lower() else "mysql"


def _initialize(binary: str, flavour: str, datadir: Path, as_root: list[str]) -> None:
    if flavour == "mariadb":
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not install:
            raise ServerError("mariadbd found but not mariadb-install-db")
        cmd = [install, "--no-defaults", f"--datadir={datadir}", "--skip-test-db",
               "--auth-root-authentication-method=normal", *as_root]
    else:
        cmd = [binary, "--no-defaults", "--initialize-insecure", f"--datadir={datadir}", *as_root]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerError(f"{' '.join(cmd[:1])} failed: {(done.stderr or done.stdout)[-800:]}")


def _start_local(server_id: int, extra_args: list[str], keep: bool) -> ThrowawayServer:
    binary = find_binary()
    if not binary:
        raise ServerError(
            "no mariadbd or mysqld found on PATH or in /usr/sbin: install one "
            "(apt-get install -y mariadb-server), start Docker, or set TICKETDB_TEST_URL"
        )
    flavour = _flavour(binary)
    workdir = Path(tempfile.mkdtemp(prefix="ticketdb-server-"))
    datadir = workdir / "data"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    _initialize(binary, flavour, datadir, as_root)
    port = _free_port()
    sock = workdir / "mysqld.sock"
    # Its own temp dir: servers sharing /tmp have deleted each other's files.
    (workdir / "tmp").mkdir()
    args = [
        binary, "--no-defaults", f"--datadir={datadir}", f"--port={port}",
        f"--tmpdir={workdir / 'tmp'}",
        "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={workdir / 'mysqld.pid'}",
        f"--log-error={workdir / 'error.log'}", f"--server-id={server_id}", *as_root,
        *_SERVER_ARGS, *_FLAVOUR_ARGS[flavour], *extra_args,
    ]
    if flavour == "mysql":
        args += ["--mysqlx=OFF", f"--secure-file-priv={workdir}"]
    log = open(workdir / "stdout.log", "wb")  # noqa: SIM115 - lives as long as the server
    executor = None
    try:
        if keep:
            # mirakuru kills what it started when Python exits; a kept server
            # must outlive us, so it gets its own session and we only wait.
            subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
            _wait_for_port(port, 90)
        else:
            executor = TCPExecutor(args, host="127.0.0.1", port=port, timeout=90,
                                   stdout=log, stderr=subprocess.STDOUT)
            executor.start()
    except Exception as exc:
        error_log = (workdir / "error.log")
        tail = error_log.read_text()[-1500:] if error_log.exists() else ""
        raise ServerError(f"{binary} did not start ({exc}); error log:\n{tail}") from None
    target = Target(host="127.0.0.1", port=port, user="root", password="", database="ticketdb")
    _write_client_cnf(workdir, target, sock)
    server = ThrowawayServer("local", target, _server_version(target), workdir, executor)
    if not keep:
        server._stop = [executor.stop, lambda: shutil.rmtree(workdir, ignore_errors=True),
                        log.close]
        _interrupt_on_sigterm()
    return server


def _interrupt_on_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C, so that the `finally` blocks and fixtures
    that stop our servers run; by default Python would die at once and leave the
    server running and its temp dir behind. Only where SIGTERM still has its
    default action, and only from the main thread (where handlers are set)."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def _server_version(target: Target) -> str:
    from ticketdb.connection import connect

    conn = connect(target, database=None)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def start_replica_of(primary: ThrowawayServer) -> ThrowawayServer:
    """A second local server, read-only, replicating from `primary` by GTID
    (both servers log binary, ROW format, distinct server ids)."""
    replica = _start_local(server_id=2, extra_args=["--read-only"], keep=False)
    from ticketdb.connection import connect

    p_conn = connect(primary.target, database=None)
    r_conn = connect(replica.target, database=None)
    try:
        mariadb = "mariadb" in replica.version.lower()
        with p_conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'ticketdb_repl'@'127.0.0.1' "
                        "IDENTIFIED BY 'replica-only'")
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'ticketdb_repl'@'127.0.0.1'")
        with r_conn.cursor() as cur:
            p = primary.target
            if mariadb:
                cur.execute(f"CHANGE MASTER TO MASTER_HOST = '{p.host}', MASTER_PORT = {p.port}, "
                            "MASTER_USER = 'ticketdb_repl', MASTER_PASSWORD = 'replica-only', "
                            "MASTER_USE_GTID = slave_pos")
                cur.execute("START SLAVE")
            else:
                cur.execute(f"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '{p.host}', "
                            f"SOURCE_PORT = {p.port}, SOURCE_USER = 'ticketdb_repl', "
                            "SOURCE_PASSWORD = 'replica-only', SOURCE_AUTO_POSITION = 1, "
                            "GET_SOURCE_PUBLIC_KEY = 1")
                cur.execute("START REPLICA")
    except Exception:
        replica.stop()
        raise
    finally:
        p_conn.close()
        r_conn.close()
    return replica


def wait_for_replica(primary: ThrowawayServer, replica: ThrowawayServer,
                     timeout: int = 60) -> None:
    """Block until the replica has applied everything the primary has written."""
    from ticketdb.connection import connect

    p_conn = connect(primary.target, database=None)
    r_conn = connect(replica.target, database=None)
    try:
        mariadb = "mariadb" in replica.version.lower()
        with p_conn.cursor() as cur:
            cur.execute("SELECT @@gtid_binlog_pos" if mariadb else "SELECT @@gtid_executed")
            position = cur.fetchone()[0]
        with r_conn.cursor() as cur:
            if mariadb:
                cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))
            else:
                cur.execute("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)", (position, timeout))
            if cur.fetchone()[0] != 0:
                raise ServerError(f"the replica did not reach {position} in {timeout} s")
    finally:
        p_conn.close()
        r_conn.close()

