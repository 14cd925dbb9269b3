"""What `up` does on a Galera node beyond what it does on one server.

Events. Galera replicates CREATE/ALTER EVENT to the other nodes as
SLAVESIDE_DISABLED (the applier creates them as a replica would), so the
events would run on the node that last ran `up` only, and `verify` would
differ on every other node. ticketdb runs its jobs on every node instead:
each run takes its job's lease row (sp_run_job; certification lets one node
have it), so every node's event is ENABLED and whichever fires first runs the
period. `up` enables them on every node of the cluster it can reach
(`wsrep_incoming_addresses`, with the same account), with `wsrep_on = OFF` for
that session so that the ALTER stays on that node. A node keeps an event
ENABLED across restarts and SST only when every node has the same
`server_id` (MariaDB marks an event SLAVESIDE_DISABLED at start when its
originator is another server id): `up` says so when they differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pymysql
from pymysql.connections import Connection

from ticketdb.connection import Target, connect

Echo = Callable[[str], None]


def node_addresses(conn: Connection) -> list[tuple[str, int]]:
    """(host, port) of every node's client port, as the cluster reports them."""
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'")
        row = cur.fetchone()
    found = []
    for item in (row[1] if row else "").split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit() and host.upper() != "AUTO":
            found.append((host.strip("[]"), int(port)))
    return found


def enable_here(conn: Connection, schema: str, names: list[str]) -> list[str]:
    """ALTER EVENT … ENABLE, on this node only, for the named events that are
    SLAVESIDE_DISABLED here. Returns the names enabled."""
    if not names:
        return []
    with conn.cursor() as cur:
        marks = ", ".join(["%s"] * len(names))
        cur.execute(f"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s "
                    f"AND STATUS = 'SLAVESIDE_DISABLED' AND EVENT_NAME IN ({marks}) "
                    f"ORDER BY EVENT_NAME", (schema, *names))
        disabled = [r[0] for r in cur.fetchall()]
        if not disabled:
            return []
        cur.execute("SET SESSION wsrep_on = OFF")
        try:
            for name in disabled:
                cur.execute(f"ALTER EVENT `{schema}`.`{name}` ENABLE")
        finally:
            cur.execute("SET SESSION wsrep_on = ON")
    return disabled


def enable_events_on_every_node(conn: Connection, target: Target, names: list[str],
                                echo: Echo) -> list[str]:
    """Enable the project's events on every node; returns warnings (one line
    each) for nodes it could not reach or fix, and differing server ids."""
    warnings = []
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.server_id, CONCAT(@@hostname, ':', @@port), @@port")
        own_id, own_name, own_port = cur.fetchone()
    addresses = node_addresses(conn) or [(target.host, int(own_port))]
    for host, port in addresses:
        here = port == int(own_port) and host in (target.host, "127.0.0.1", "localhost")
        try:
            other = replace(target, host=host, port=port, unix_socket=None)
            node = conn if here else connect(other, database=None, connect_timeout=5)
        except pymysql.MySQLError as exc:
            warnings.append(f"node {host}:{port}: cannot connect ({exc.args[0]}): its events "
                            "are not checked; run up there")
            continue
        try:
            with node.cursor() as cur:
                cur.execute("SELECT @@global.server_id, CONCAT(@@hostname, ':', @@port)")
                server_id, name = cur.fetchone()
            if server_id != own_id:
                warnings.append(f"node {name} has server_id {server_id}, {own_name} has "
                                f"{own_id}: give every node the same server_id, or a restart "
                                "or SST of a node disables its events (SLAVESIDE_DISABLED)")
            enabled = enable_here(node, target.database, names)
            if enabled:
                echo(f"events enabled on node {name}: {', '.join(enabled)} (were "
                     "SLAVESIDE_DISABLED; every node runs them, the job lease picks one)")
        except pymysql.MySQLError as exc:
            warnings.append(f"node {host}:{port}: could not enable the events "
                            f"(error {exc.args[0]}: {exc.args[1]}); SET SESSION wsrep_on "
                            "needs SUPER")
        finally:
            if node is not conn:
                node.close()
    return warnings
