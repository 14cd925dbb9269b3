"""A throwaway `redis-server` for the tests and the benchmarks: its own temp
dir, a free port on 127.0.0.1, no persistence (a restart is a Redis that
comes back empty), optionally a password."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, password: str | None = None) -> None:
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RedisServerError("no redis-server on PATH: apt-get install -y redis-server")
        self.password = password
        self.port = _free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="ticketdb-redis-"))
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", str(self.workdir / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.workdir / "redis.log"
                    tail = log.read_text()[-800:] if log.exists() else ""
                    raise RedisServerError(f"redis-server did not start: {tail}") from None
                time.sleep(0.05)

    def crash(self) -> None:
        """SIGKILL: everything it held is gone (no persistence)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart_empty(self) -> None:
        self.crash()
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)
