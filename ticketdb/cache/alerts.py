"""Alerts pushed: every ticket_alerts row whose sent_at is NULL is added to
the stream `ticketdb:alerts` (fields: alert_id, ticket_id, alert_type,
deadline, priority, assigned_agent_id, customer_id, created_at), then
marked sent in the database. Exactly one entry per alert even when the
worker dies between the two: the entry and the alert_id -> entry id record
(`ticketdb:alerts:published`) are written by one atomic script that returns
the existing entry instead of adding a second; the record is dropped once
sent_at is committed."""

from __future__ import annotations

import redis
from pymysql.connections import Connection

from ticketdb.cache import keys, scripts

STREAM_MAXLEN = 100_000  # entries kept (approximately): a dashboard reads the recent ones
BATCH = 500

_PENDING = (
    "SELECT a.alert_id, a.ticket_id, a.alert_type, a.deadline, a.created_at, t.priority, "
    "t.assigned_agent_id, t.customer_id FROM ticket_alerts AS a "
    "INNER JOIN service_tickets AS t ON t.ticket_id = a.ticket_id "
    "WHERE a.sent_at IS NULL ORDER BY a.alert_id LIMIT %s"
)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def publish_pending(db: Connection, r: redis.Redis) -> int:
    """Publish every unsent alert; returns how many were marked sent."""
    publish = r.register_script(scripts.PUBLISH)
    total = 0
    while True:
        with db.cursor() as cur:
            cur.execute(_PENDING, (BATCH,))
            rows = cur.fetchall()
        if not rows:
            return total
        for alert_id, ticket_id, kind, deadline, created, priority, agent, customer in rows:
            publish(keys=[keys.ALERTS, keys.PUBLISHED],
                    args=[alert_id, STREAM_MAXLEN, "ticket_id", ticket_id, "alert_type", kind,
                          "deadline", _text(deadline), "priority", priority,
                          "assigned_agent_id", _text(agent), "customer_id", customer,
                          "created_at", _text(created)])
        ids = [row[0] for row in rows]
        _mark_sent(db, ids)
        r.hdel(keys.PUBLISHED, *ids)
        total += len(ids)
        if len(rows) < BATCH:
            return total


def _mark_sent(db: Connection, ids: list[int]) -> None:
    marks = ", ".join(["%s"] * len(ids))
    with db.cursor() as cur:
        cur.execute(f"UPDATE ticket_alerts SET sent_at = UTC_TIMESTAMP() "
                    f"WHERE alert_id IN ({marks}) AND sent_at IS NULL", ids)


def settle(db: Connection, r: redis.Redis) -> None:
    """At start: alerts published by a worker that died before marking them
    sent are marked now (not published again); then the record is cleared."""
    ids = [int(k) for k in r.hkeys(keys.PUBLISHED)]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        _mark_sent(db, chunk)
        r.hdel(keys.PUBLISHED, *chunk)
