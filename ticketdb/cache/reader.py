"""The read side for applications: a VIP customer's open tickets from Redis,
the database when the customer is not cached."""

from __future__ import annotations

import threading
from functools import lru_cache

import pymysql
import redis

from ticketdb.cache import keys, source
from ticketdb.connection import connect, from_url

_local = threading.local()
counts = {"hits": 0, "misses": 0}  # this process's reads, for hit-rate figures


@lru_cache(maxsize=16)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2)


def _db(url: str) -> pymysql.connections.Connection:
    conns = _local.__dict__.setdefault("conns", {})
    conn = conns.get(url)
    if conn is None or not conn.open:
        conn = conns[url] = connect(from_url(url))
    return conn


def cached_tickets(customer_id: int, *, redis_url: str) -> list[int] | None:
    """The cached set, or None when the customer is not cached (not a VIP,
    or the cache is being rebuilt). One MULTI/EXEC, so the "cached" mark
    and the set are read at one instant."""
    pipe = _redis(redis_url).pipeline(transaction=True)
    pipe.sismember(keys.CACHED, customer_id)
    pipe.smembers(keys.tickets_key(customer_id))
    is_cached, members = pipe.execute()
    if not is_cached:
        return None
    return sorted(int(m) for m in members)


def open_tickets(customer_id: int, *, redis_url: str, db_url: str) -> list[int]:
    """Ids of the customer's open tickets (pending, in_progress,
    waiting_customer), ascending: from Redis when the customer is a cached
    VIP (an empty list for a VIP with none), else from the database by the
    index (customer_id, current_status). A Redis that cannot be reached
    counts as a miss: the answer still comes, from the database."""
    try:
        found = cached_tickets(customer_id, redis_url=redis_url)
    except redis.RedisError:
        found = None
    if found is not None:
        counts["hits"] += 1
        return found
    counts["misses"] += 1
    try:
        return source.open_tickets(_db(db_url), customer_id)
    except pymysql.err.OperationalError:
        _local.conns.pop(db_url, None)  # a dropped connection: one retry on a new one
        return source.open_tickets(_db(db_url), customer_id)
