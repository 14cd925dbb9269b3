"""The VIP cache: a worker that follows the binary log into Redis
(`deploy.py cache run`), and `open_tickets`, the application's cache-first
read. Needs the `cache` extra (redis, mysql-replication), imported only when
used, so deploy.py works without it. See docs/vip-cache.md."""

from __future__ import annotations


def open_tickets(customer_id: int, *, redis_url: str, db_url: str) -> list[int]:
    """Ids of the customer's open tickets, ascending: Redis first (a cached
    VIP, [] when it has none), the database when the customer is not cached.
    redis_url: redis://[:PASSWORD@]HOST:PORT/DB; db_url: mysql://… as for
    deploy.py. Connections are kept per URL and thread."""
    from ticketdb.cache import reader

    return reader.open_tickets(customer_id, redis_url=redis_url, db_url=db_url)
