"""Helpers for the cache tests: a MariaDB with the binary log the cache
needs, a throwaway Redis, a worker in a thread or a process, and the check
that every VIP's set equals the database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from ticketdb import server
from ticketdb.cache import keys, source
from ticketdb.cache.worker import Worker
from ticketdb.connection import Target, connect

ROOT = Path(__file__).resolve().parents[2]
BINLOG_ARGS = ["--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--gtid-strict-mode=ON"]


def start_binlog_server(kind: str) -> server.ThrowawayServer:
    return server.start(kind, extra_args=BINLOG_ARGS)


def expected(db: Target) -> dict[int, set[int]]:
    """What the cache must hold: every VIP customer and their open tickets."""
    conn = connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT customer_id FROM customers WHERE tier = 'vip'")
            want: dict[int, set[int]] = {int(r[0]): set() for r in cur.fetchall()}
            cur.execute("SELECT t.customer_id, t.ticket_id FROM service_tickets AS t "
                        "INNER JOIN customers AS c ON c.customer_id = t.customer_id "
                        f"WHERE c.tier = 'vip' AND t.current_status IN {source.OPEN_IN}")
            for cid, tid in cur.fetchall():
                want[int(cid)].add(int(tid))
    finally:
        conn.close()
    return want


def cached(r: redis.Redis) -> dict[int, set[int]]:
    vips = {int(m) for m in r.smembers(keys.CACHED)}
    return {cid: {int(t) for t in r.smembers(keys.tickets_key(cid))} for cid in vips}


def stray_keys(r: redis.Redis) -> set[str]:
    """vip_tickets keys of customers that are not cached (must be none)."""
    vips = {int(m) for m in r.smembers(keys.CACHED)}
    return {k.decode() for k in r.scan_iter(match=f"{keys.TICKETS_PREFIX}*")
            if int(k.decode().split(":")[1]) not in vips}


def wait_equal(db: Target, r: redis.Redis, seconds: float = 5.0) -> dict[int, set[int]]:
    """Wait until the cache equals the database; returns it, or fails with
    the difference."""
    deadline = time.monotonic() + seconds
    while True:
        want, have = expected(db), cached(r)
        if want == have and not stray_keys(r):
            return have
        if time.monotonic() > deadline:
            diff = {c: (want.get(c), have.get(c)) for c in set(want) | set(have)
                    if want.get(c) != have.get(c)}
            raise AssertionError(f"cache differs from the database after {seconds} s: "
                                 f"{dict(list(diff.items())[:10])}, stray {stray_keys(r)}")
        time.sleep(0.1)


class ThreadWorker:
    """The worker in a thread of the test process (for the functional tests)."""

    def __init__(self, db: Target, redis_url: str) -> None:
        self.worker = Worker(db, redis_url, server_id=4000 + os.getpid() % 1000)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # re-raised by stop()
            self.error = exc

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the worker did not stop within 15 s"
        if self.error:
            raise self.error


def worker_process(db: Target, redis_url: str, log_path: Path) -> subprocess.Popen:
    """`deploy.py cache run` as its own process, as it runs in production."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(ROOT / "deploy.py"), "cache", "run", "--url", db.url(),
         "--redis", redis_url, "--server-id", str(5000 + os.getpid() % 1000)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
