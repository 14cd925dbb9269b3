"""`deploy.py up --roles`: the three roles of CONTRACT §7, named after the database.

  <db>_reporting   read-only: SELECT on every table, EXECUTE on the reports
  <db>_agent       reads tickets, customers and the knowledge base; writes
                   ticket logs, messages and interactions; creates tickets and
                   edits their subject, description and category; EXECUTE on
                   the ticket procedures. No UPDATE/DELETE of ticket_logs, no
                   DELETE of tickets, no direct UPDATE of status, priority or
                   assignee (column grants): those move only through the flow.
  <db>_supervisor  agent, plus managing escalation_rules and agents, and the
                   automation procedures.

Each run revokes what a role had and grants it afresh, so a grant removed
here is removed from the server too. The syntax is the same on MySQL and
MariaDB; only `SET DEFAULT ROLE` differs, which `grant_role` handles.
"""

from __future__ import annotations

from pymysql.connections import Connection

from ticketdb.connection import Target, connect

REPORTS = ("sp_overdue_report", "sp_agent_efficiency", "sp_ticket_trace")
AGENT_PROCEDURES = (*REPORTS, "sp_assign_ticket", "sp_claim_next_ticket",
                    "sp_claim_conversation", "sp_mark_conversation_read")
SUPERVISOR_PROCEDURES = (*AGENT_PROCEDURES, "sp_escalate_priorities", "sp_generate_alerts",
                         "sp_snapshot_urgent_tickets", "sp_apply_retention")
AGENT_READS = ("service_tickets", "ticket_logs", "customers", "categories", "kb_articles",
               "agents", "agent_status", "conversations", "messages", "interactions",
               "ticket_alerts", "daily_urgent_tickets", "escalation_rules")
AGENT_INSERTS = ("ticket_logs", "messages", "interactions", "service_tickets", "conversations")


def role_names(database: str) -> dict[str, str]:
    names = {kind: f"{database}_{kind}" for kind in ("agent", "supervisor", "reporting")}
    too_long = [n for n in names.values() if len(n) > 32]
    if too_long:
        raise ValueError(f"role name {too_long[0]} is longer than 32 characters: "
                         "use a shorter database name")
    return names


def grants(database: str) -> dict[str, list[str]]:
    """The GRANT statements of each role (without the role's name)."""
    db = f"`{database}`"
    reporting = [f"SELECT ON {db}.*"] + [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in REPORTS]
    agent = [f"SELECT ON {db}.`{t}`" for t in AGENT_READS]
    agent += [f"INSERT ON {db}.`{t}`" for t in AGENT_INSERTS]
    agent += [
        f"UPDATE (subject, description, category_id) ON {db}.`service_tickets`",
        f"UPDATE (status, last_seen) ON {db}.`agent_status`",
        f"INSERT ON {db}.`agent_status`",
        f"UPDATE (status, updated_at) ON {db}.`conversations`",
    ]
    agent += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in AGENT_PROCEDURES]
    supervisor = [g for g in agent if not g.startswith("EXECUTE")]
    supervisor += [
        f"INSERT, UPDATE, DELETE ON {db}.`escalation_rules`",
        f"INSERT, UPDATE ON {db}.`agents`",
        f"DELETE ON {db}.`agent_status`",
        f"UPDATE (sent_at) ON {db}.`ticket_alerts`",
    ]
    supervisor += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in SUPERVISOR_PROCEDURES]
    return {"reporting": reporting, "agent": agent, "supervisor": supervisor}


def apply(target: Target) -> list[str]:
    """Create or update the roles; returns lines to print."""
    names = role_names(target.database)
    conn = connect(target)
    lines = []
    try:
        with conn.cursor() as cur:
            for kind, statements in grants(target.database).items():
                role = f"`{names[kind]}`"
                cur.execute(f"CREATE ROLE IF NOT EXISTS {role}")
                cur.execute(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {role}")
                for grant in statements:
                    cur.execute(f"GRANT {grant} TO {role}")
                lines.append(f"role {names[kind]}: {len(statements)} grant(s)")
    finally:
        conn.close()
    return lines


def is_mariadb(conn: Connection) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return "mariadb" in cur.fetchone()[0].lower()


def grant_role(conn: Connection, role: str, user: str, host: str = "%") -> None:
    """GRANT a role to an account and make it the account's default role."""
    account = f"'{user}'@'{host}'"
    with conn.cursor() as cur:
        cur.execute(f"GRANT `{role}` TO {account}")
        word = "FOR" if is_mariadb(conn) else "TO"  # MariaDB: FOR user; MySQL: TO user
        cur.execute(f"SET DEFAULT ROLE `{role}` {word} {account}")
