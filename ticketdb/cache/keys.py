"""The Redis names the cache uses. `vip_tickets:<customer_id>` and the stream
`ticketdb:alerts` are the contract's; the rest is the worker's bookkeeping.
One Redis database (the /N of the URL) caches one ticketdb database."""

from __future__ import annotations

TICKETS_PREFIX = "vip_tickets:"
# Members: the VIP customers whose vip_tickets key is complete. A customer in
# this set with no vip_tickets key is a VIP with no open tickets (Redis
# keeps no empty sets); a customer not in it is "not cached".
CACHED = "ticketdb:cache:vips"
# Hash: generation, position (binlog GTID), status (rebuilding / following),
# database, server, applied_at, event_time, heartbeat_at, events, rebuilt_at.
STATE = "ticketdb:cache:state"
# String: the token of the one worker allowed to write (expires unless renewed).
LEASE = "ticketdb:cache:lease"
ALERTS = "ticketdb:alerts"
# Hash alert_id -> stream entry id: alerts published but not yet marked sent
# in the database (written with the entry, in one atomic script).
PUBLISHED = "ticketdb:alerts:published"

OPEN_STATUSES = ("pending", "in_progress", "waiting_customer")


def tickets_key(customer_id: int) -> str:
    return f"{TICKETS_PREFIX}{customer_id}"
