"""`deploy.py cache run`: follows the server's binary log as a replica does
and keeps `vip_tickets:<customer_id>` equal to each VIP customer's open
tickets; publishes new ticket_alerts rows to the stream `ticketdb:alerts`.

One binlog transaction becomes one atomic Redis write (store.apply) that
carries the GTID position after it, so the position never runs ahead of the
writes it covers. A transaction the position already covers (a reconnect, a
restart) is skipped. Each row event sets a ticket's membership from its full
after-image (SADD if open and its customer is a cached VIP, SREM otherwise;
SREM from the before-image's customer when it changed), so applying events
in order converges whatever the starting point.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import pymysql
import redis
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from ticketdb.cache import alerts, keys, position, source
from ticketdb.cache.store import LeaseLost, StateGone, Store
from ticketdb.connection import Target, connect

log = logging.getLogger("ticketdb.cache")

TABLES = ["customers", "service_tickets", "ticket_alerts"]
EVENTS = [MariadbGtidEvent, GtidEvent, XidEvent, QueryEvent, RotateEvent, HeartbeatLogEvent,
          WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent]
PURGED = 1236  # the server no longer has the binlog of our position
HEARTBEAT_S = 1.0  # lease renewal
IDLE_S = 0.1  # the server's heartbeat when it has nothing to send: flushes a batch
FLUSH_S = 0.02  # a batch waits at most this long for more transactions
MAX_OPS = 3000  # or until it holds this many ops
SWEEP_S = 5.0  # alerts are also looked for this often, whatever the binlog says


class Worker:
    def __init__(self, target: Target, redis_url: str, *, server_id: int = 52525,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.target = target
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10,
                                          health_check_interval=5)
        self.store = Store(self.redis)
        self.server_id = server_id
        self.stopping = threading.Event()
        self.on_ready = on_ready
        self.db: pymysql.connections.Connection | None = None
        self.info: source.ServerInfo | None = None
        self.pos: position.Position | None = None
        self.vips: set[int] = set()
        self.last_beat = 0.0
        self.last_sweep = 0.0
        self.must_rebuild = False
        self.pending: list[str] = []  # ops of committed transactions not yet in Redis
        self.pending_since = self.event_time = self.last_flush = 0.0
        self.dirty = False  # the position is ahead of the one in Redis

    # ---- the process ----------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Until stop(): wait for the lease, load or rebuild the cache,
        follow the binlog; every failure (server or Redis away, purged
        position, state gone) is logged and retried with a backoff."""
        backoff = 0.5
        try:
            while not self.stopping.is_set():
                try:
                    self._connect_db()
                    self._hold_lease()
                    if self.stopping.is_set():
                        break
                    self._load_or_rebuild()
                    alerts.settle(self._db(), self.redis)
                    backoff = 0.5
                    self._follow()
                except StateGone as exc:
                    log.warning("%s: rebuilding", exc)
                    self.store.generation = ""
                except LeaseLost as exc:
                    log.warning("%s: waiting for it", exc)
                except source.SourceError:
                    raise
                except pymysql.err.OperationalError as exc:
                    if exc.args and exc.args[0] == PURGED:
                        log.warning("the server has purged the binlog at position %s: "
                                    "rebuilding from a snapshot", self.pos)
                        self.must_rebuild = True
                        continue
                    self._retry(f"database: {_text(exc)}", backoff)
                    backoff = min(backoff * 2, 2)
                except (pymysql.MySQLError, OSError, EOFError) as exc:
                    self._retry(f"database: {_text(exc)}", backoff)
                    backoff = min(backoff * 2, 2)
                except redis.RedisError as exc:
                    self._retry(f"redis: {exc}", backoff)
                    backoff = min(backoff * 2, 2)
        finally:
            self._close_db()
            with contextlib.suppress(redis.RedisError):
                self.store.release()
            log.info("stopped at position %s", self.pos)

    def _retry(self, why: str, seconds: float) -> None:
        log.warning("%s; retrying in %.1f s", why, seconds)
        self._close_db()
        self.stopping.wait(seconds)

    def _connect_db(self) -> None:
        if self.db is None:
            self.db = connect(self.target)
            self.info = source.check(self.db)

    def _db(self) -> pymysql.connections.Connection:
        assert self.db is not None
        return self.db

    def _close_db(self) -> None:
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.close()
            self.db = None

    def _hold_lease(self) -> None:
        waited = False
        while not self.stopping.is_set():
            if self.store.lease() != -1:
                return
            if not waited:
                log.info("another worker holds the lease (%s): waiting",
                         self.store.holder() or "expired")
                waited = True
            self.stopping.wait(1)

    def _load_or_rebuild(self) -> None:
        assert self.info is not None
        state = self.store.state()
        database, server = self.target.database, self.info.uuid
        if state and (state.database, state.server) != (database, server):
            raise source.SourceError(
                f"ticketdb: cache: this Redis database caches {state.database} on "
                f"{state.server}, not {database} on {server}: use another Redis database "
                "(redis://HOST:PORT/N) or `cache rebuild` to take it over")
        if (self.must_rebuild or state is None or state.status != "following"
                or not state.generation
                or (self.store.generation and state.generation != self.store.generation)):
            self.rebuild()
            return
        self.store.adopt(state)
        if self.store.lease() != 1:
            raise StateGone("the cache state changed while loading it")
        self.pos = position.parse(state.position, self.info.mariadb)
        self.vips = self.store.cached()
        log.info("following from position %s (%d VIP customers cached)", self.pos,
                 len(self.vips))

    def rebuild(self) -> None:
        assert self.info is not None
        started = time.monotonic()
        snap = source.snapshot(self._db(), self.info.mariadb)
        self.store.rebuild(snap, self.target.database, self.info.uuid)
        self.pos = position.parse(snap.position, self.info.mariadb)
        self.vips = set(snap.vips)
        self.must_rebuild = False
        log.info("rebuilt from a snapshot at position %s: %d VIP customers, %d open tickets, "
                 "%.2f s", snap.position or "(start)", len(snap.vips),
                 sum(len(t) for t in snap.tickets.values()), time.monotonic() - started)

    # ---- following the binlog ------------------------------------------

    def _stream(self) -> BinLogStreamReader:
        t = self.target
        settings = {"host": t.host, "port": t.port, "user": t.user, "password": t.password,
                    "connect_timeout": 10, "read_timeout": 30}
        if t.unix_socket:
            settings["unix_socket"] = t.unix_socket
        assert self.info is not None
        return BinLogStreamReader(
            connection_settings=settings, server_id=self.server_id, blocking=True,
            resume_stream=True, auto_position=str(self.pos), is_mariadb=self.info.mariadb,
            only_schemas=[t.database], only_tables=TABLES, only_events=EVENTS,
            slave_heartbeat=IDLE_S, enable_logging=False)

    def _follow(self) -> None:
        """Read the binlog until stopped. Transactions are applied in memory
        at their commit and written to Redis in batches (one script call:
        their ops and the position after the last of them) when 20 ms have
        passed, many ops are waiting, or the server is idle (its heartbeat)."""
        assert self.pos is not None and self.info is not None
        stream = self._stream()
        if self.on_ready:
            self.on_ready()
        gtid: str | None = None
        skipping = False
        rows: list[tuple[str, type, list[dict]]] = []  # the transaction's rows, for its commit
        self.pending, self.pending_since, self.dirty = [], 0.0, False
        self.event_time, self.last_flush = 0.0, time.monotonic()
        try:
            while not self.stopping.is_set():
                self._beat()
                event = stream.fetchone()
                if isinstance(event, (MariadbGtidEvent, GtidEvent)):
                    gtid, skipping, rows = event.gtid, self.pos.covers(event.gtid), []
                    self.event_time = float(event.timestamp)
                elif isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                    if gtid and not skipping:
                        rows.append((event.table, type(event), event.rows))
                elif isinstance(event, (XidEvent, QueryEvent)):
                    if isinstance(event, QueryEvent) and _query(event) == "BEGIN":
                        continue
                    if gtid and not skipping:
                        self._commit(gtid, rows)
                        stream.auto_position = str(self.pos)  # the library's own reconnects
                    gtid, rows = None, []
                now = time.monotonic()
                if self.dirty and (isinstance(event, HeartbeatLogEvent)
                                   or (self.pending and now - self.pending_since >= FLUSH_S)
                                   or now - self.last_flush >= 1):
                    self._flush()
        finally:
            if self.dirty:
                with contextlib.suppress(redis.RedisError, LeaseLost, StateGone):
                    self._flush()
            stream.close()

    def _commit(self, gtid: str, rows: list[tuple[str, type, list[dict]]]) -> None:
        assert self.pos is not None and self.info is not None
        after = position.parse(str(self.pos), self.info.mariadb)
        after.advance(gtid)
        ops = self._ops(rows)
        if ops and not self.pending:
            self.pending_since = time.monotonic()
        self.pending += ops
        self.pos, self.dirty = after, True
        if len(self.pending) >= MAX_OPS:
            self._flush()
        if any(table == "ticket_alerts" for table, _kind, _rows in rows):
            alerts.publish_pending(self._db(), self.redis)

    def _flush(self) -> None:
        self.store.apply(self.pending, str(self.pos), self.event_time)
        self.pending, self.dirty, self.last_flush = [], False, time.monotonic()

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self.last_beat >= HEARTBEAT_S:
            held = self.store.lease()
            if held == -1:
                raise LeaseLost("another worker took the lease")
            if held == 0:
                raise StateGone("the cache state is gone (Redis restarted empty or flushed)")
            self.last_beat = now
        if now - self.last_sweep >= SWEEP_S:
            alerts.publish_pending(self._db(), self.redis)
            self.last_sweep = now

    def _ops(self, events: list[tuple[str, type, list[dict]]]) -> list[str]:
        """One transaction's Redis ops: its customer rows first (a promotion
        reads the customer's tickets from the database, where this very
        transaction may not be visible yet), then its ticket rows on top."""
        ops: list[str] = []
        for table in ("customers", "service_tickets"):
            for event_table, kind, rows in events:
                if event_table == table:
                    ops += self._rows(table, kind, rows)
        return ops

    def _rows(self, table: str, kind: type, rows: list[dict]) -> list[str]:
        ops: list[str] = []
        for row in rows:
            if kind is UpdateRowsEvent:
                before, after = row["before_values"], row["after_values"]
            elif kind is WriteRowsEvent:
                before, after = None, row["values"]
            else:
                before, after = row["values"], None
            if table == "customers":
                ops += self._customer(before, after)
            else:
                ops += self._ticket(before, after)
        return ops

    def _customer(self, before: dict | None, after: dict | None) -> list[str]:
        cid = int((after or before or {})["customer_id"])
        vip = after is not None and after["tier"] == "vip"
        if vip and cid not in self.vips:
            # Promoted (or created VIP): its set from the database as it is now;
            # the events after this one that the set already has are replayed
            # on top and change nothing.
            self.vips.add(cid)
            ops = ["del", keys.tickets_key(cid)]
            for tid in source.open_tickets(self._db(), cid):
                ops += ["sadd", keys.tickets_key(cid), str(tid)]
            return [*ops, "cache", str(cid)]
        if not vip and cid in self.vips:
            # Demoted, or removed (a merge drops the duplicate)
            self.vips.discard(cid)
            return ["uncache", str(cid), "del", keys.tickets_key(cid)]
        return []

    def _ticket(self, before: dict | None, after: dict | None) -> list[str]:
        tid = str((after or before or {})["ticket_id"])
        ops: list[str] = []
        was = int(before["customer_id"]) if before else None
        now = int(after["customer_id"]) if after else None
        is_open = after is not None and after["current_status"] in keys.OPEN_STATUSES
        if was is not None and was in self.vips and (was != now or not is_open):
            ops += ["srem", keys.tickets_key(was), tid]
        if now is not None and now in self.vips:
            ops += ["sadd" if is_open else "srem", keys.tickets_key(now), tid]
        return ops


def _query(event: QueryEvent) -> str:
    query = event.query
    return (query.decode(errors="replace") if isinstance(query, bytes) else query).strip().upper()


def _text(exc: BaseException) -> str:
    return " ".join(str(a) for a in exc.args) if exc.args else type(exc).__name__
