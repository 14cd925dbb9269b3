"""The Redis side of the cache: the lease that lets one worker write, the
atomic apply of one binlog transaction with its position, and the rebuild
from a database snapshot."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

import redis

from ticketdb.cache import keys, scripts
from ticketdb.cache.source import Snapshot

LEASE_MS = 5_000  # a killed worker's lease frees itself after this
CHUNK = 500  # customers per pipeline in a rebuild


class LeaseLost(RuntimeError):
    """Another worker holds the lease (or took it over after ours expired)."""


class StateGone(RuntimeError):
    """The cache state is missing or of another generation: Redis restarted
    empty, was flushed, or a rebuild started elsewhere. Rebuild."""


@dataclass
class State:
    generation: str
    status: str
    position: str
    database: str
    server: str


class Store:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.generation = ""
        self._apply = client.register_script(scripts.APPLY)
        self._lease = client.register_script(scripts.LEASE)
        self._release = client.register_script(scripts.RELEASE)

    def lease(self) -> int:
        """1: held, state whole; 0: held, state gone (rebuild); -1: another's."""
        return int(self._lease(keys=[keys.LEASE, keys.STATE],
                               args=[self.token, LEASE_MS, self.generation, _now()]))

    def holder(self) -> str | None:
        value = self.r.get(keys.LEASE)
        return value.decode() if value else None

    def release(self) -> None:
        self._release(keys=[keys.LEASE], args=[self.token])

    def state(self) -> State | None:
        raw = self.r.hgetall(keys.STATE)
        if not raw:
            return None
        s = {k.decode(): v.decode() for k, v in raw.items()}
        return State(s.get("generation", ""), s.get("status", ""), s.get("position", ""),
                     s.get("database", ""), s.get("server", ""))

    def adopt(self, state: State) -> None:
        self.generation = state.generation

    def apply(self, ops: list[str], position: str, event_time: float) -> None:
        done = int(self._apply(keys=[keys.STATE, keys.LEASE, keys.CACHED],
                               args=[self.token, self.generation, position, _now(),
                                     f"{event_time:.0f}", *ops]))
        if done == -1:
            raise LeaseLost("the lease was lost")
        if done == 0:
            raise StateGone("the cache state is gone")

    def cached(self) -> set[int]:
        return {int(m) for m in self.r.smembers(keys.CACHED)}

    def rebuild(self, snap: Snapshot, database: str, server: str) -> None:
        """Replace the whole cache with a snapshot. A new generation first
        (any write of the old one is refused from then on), then the old keys
        go, then each customer's set before the customer is marked cached (a
        reader never sees a half-written set as a hit), the position last."""
        if self.lease() == -1:
            raise LeaseLost("another worker holds the lease")
        self.generation = uuid.uuid4().hex
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.STATE, keys.CACHED)
        pipe.hset(keys.STATE, mapping={
            "generation": self.generation, "status": "rebuilding", "database": database,
            "server": server, "position": "", "events": 0, "rebuilt_at": _now()})
        pipe.execute()
        for batch in _batches(self.r.scan_iter(match=f"{keys.TICKETS_PREFIX}*", count=1000)):
            self.r.unlink(*batch)
        for start in range(0, len(snap.vips), CHUNK):
            chunk = snap.vips[start:start + CHUNK]
            pipe = self.r.pipeline(transaction=False)
            for cid in chunk:
                if snap.tickets.get(cid):
                    pipe.sadd(keys.tickets_key(cid), *snap.tickets[cid])
            pipe.sadd(keys.CACHED, *chunk)
            pipe.execute()
            if self.lease() != 1:  # renewed as it goes: a rebuild may outlast one lease
                raise LeaseLost("the lease or the state was lost during the rebuild")
        if self.lease() != 1:
            raise LeaseLost("the lease or the state was lost during the rebuild")
        self.r.hset(keys.STATE, mapping={"position": snap.position, "status": "following",
                                         "applied_at": _now(), "event_time": _now()})


def _batches(items, size: int = 500):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _now() -> str:
    return f"{time.time():.3f}"
