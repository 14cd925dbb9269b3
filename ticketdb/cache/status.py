"""`deploy.py cache status`: where the worker is, how far behind, what Redis
holds, and whether it is healthy (the exit code is the health check)."""

from __future__ import annotations

import time

import redis
from pymysql.connections import Connection

from ticketdb.cache import keys, position, source

STALE_S = 10.0  # no heartbeat for this long: the worker is not running


def gather(db: Connection, r: redis.Redis) -> dict:
    info = source.check(db)
    raw = {k.decode(): v.decode() for k, v in r.hgetall(keys.STATE).items()}
    head = source.head(db, info.mariadb)
    now = time.time()
    result: dict = {
        "status": raw.get("status", "not built"),
        "position": raw.get("position", ""),
        "server_position": head,
        "database": raw.get("database", ""),
        "cached_customers": r.scard(keys.CACHED),
        "redis_keys": r.dbsize(),
        "alerts_in_stream": r.xlen(keys.ALERTS) if r.exists(keys.ALERTS) else 0,
        "alerts_published_unmarked": r.hlen(keys.PUBLISHED),
        "worker": (r.get(keys.LEASE) or b"").decode() or None,
        "events_applied": int(raw.get("events", 0) or 0),
    }
    beat = float(raw.get("heartbeat_at", 0) or 0)
    result["heartbeat_age_s"] = round(now - beat, 1) if beat else None
    if raw.get("position") is not None and raw.get("status") == "following":
        ours = position.parse(raw["position"], info.mariadb)
        behind = max(0, position.parse(head, info.mariadb).seq() - ours.seq())
        result["lag_events"] = behind
        event_time = float(raw.get("event_time", 0) or 0)
        result["lag_seconds"] = 0.0 if behind == 0 else round(max(0.0, now - event_time), 1)
    else:
        result["lag_events"] = result["lag_seconds"] = None
    return result


def healthy(status: dict, max_lag: float) -> tuple[bool, str]:
    if status["status"] != "following":
        return False, f"the cache is {status['status']}"
    age = status["heartbeat_age_s"]
    if age is None or age > STALE_S:
        return False, f"no worker heartbeat for more than {STALE_S:.0f} s"
    if status["lag_seconds"] is not None and status["lag_seconds"] > max_lag:
        return False, f"the worker is {status['lag_seconds']} s behind (more than {max_lag})"
    return True, "healthy"
