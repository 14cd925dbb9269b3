"""`deploy.py up --roles`: the roles of docs/security.md, named after
the database; `<db>_app`'s grants are in app_role.py.

  <db>_reporting   read-only: SELECT on the helpdesk's tables, one by one
                   (REPORTING_READS, and the monthly archives ticket_logs_YYYYMM
                   that exist when `up --roles` runs), EXECUTE on the reports
                   and on sp_verify_audit_trail and sp_audit_seal_digest
  <db>_agent       reads tickets, customers and the knowledge base; writes
                   ticket logs, messages and interactions; creates tickets and
                   edits their subject, description and category; EXECUTE on
                   the ticket procedures. No UPDATE/DELETE of ticket_logs, no
                   DELETE of tickets, no direct UPDATE of status, priority or
                   assignee (column grants): those move only through the flow.
                   Reads customer ratings; rates nothing (ratings come from
                   the application's own account, for the customer). Reads
                   archived log rows through sp_ticket_trace only.
  <db>_supervisor  agent, plus managing escalation_rules and agents, the
                   automation procedures (sp_archive_ticket_logs and
                   sp_seal_audit_trail among them), sp_verify_audit_trail,
                   sp_audit_seal_digest, and finding and merging duplicate
                   customers (sp_find_duplicate_customers, sp_merge_customers),
                   reading orders and tier changes, refreshing tiers and
                   overriding a customer's tier (sp_refresh_customer_tiers,
                   sp_set_customer_tier).

No role has any write privilege on ticket_logs_YYYYMM or ticket_log_archives,
nor on the seal tables (audit_seals, audit_seal_tickets, audit_seal_archives):
the archive and seal procedures write them as their definer.

Every read is granted table by table, never `SELECT ON db.*`: a read grant
also allows `SELECT … LOCK IN SHARE MODE`, so no role reads the internal
tables the flow and the automation lock (INTERNAL_TABLES: the flow marks,
the import staging, the settings, the archive catalogue, the job leases and
runs, the deploy history and the deploy lock). What a role can still lock, and for how long
others then wait, is in docs/operations.md.

No role names a surrogate key (docs/security.md): INSERT, and a supervisor's
UPDATE of agents and escalation_rules, are column grants of every column but
the AUTO_INCREMENT key, read from the live schema. Every role may EXECUTE
sp_refuse_unsafe_session, the session guard each procedure calls first.

Each run grants what a role should have, then revokes only what it has
beyond that (a grant removed here, or added by hand, is removed from the
server too); a role never goes without a privilege it keeps. The syntax is the same on MySQL and
MariaDB; only `SET DEFAULT ROLE` differs, which `grant_role` handles.
"""

from __future__ import annotations

import re

from pymysql.connections import Connection

from ticketdb import app_role

REPORTS = ("sp_overdue_report", "sp_agent_efficiency", "sp_ticket_trace",
           "sp_satisfaction_report")
AUDIT = ("sp_verify_audit_trail", "sp_audit_seal_digest")
# Called first by every procedure; the SQL SECURITY INVOKER reports need the
# caller to hold EXECUTE on it. It only reads the session and refuses.
GUARD = ("sp_refuse_unsafe_session",)
AGENT_PROCEDURES = (*REPORTS, *GUARD, "sp_assign_ticket", "sp_claim_next_ticket",
                    "sp_claim_conversation", "sp_mark_conversation_read")
SUPERVISOR_PROCEDURES = (*AGENT_PROCEDURES, *AUDIT, "sp_escalate_priorities", "sp_generate_alerts",
                         "sp_snapshot_urgent_tickets", "sp_apply_retention",
                         "sp_archive_ticket_logs", "sp_seal_audit_trail",
                         "sp_find_duplicate_customers", "sp_merge_customers",
                         "sp_refresh_customer_tiers", "sp_set_customer_tier")
AGENT_READS = ("service_tickets", "ticket_logs", "customers", "categories", "kb_articles",
               "agents", "agent_status", "conversations", "messages", "interactions",
               "ticket_alerts", "daily_urgent_tickets", "escalation_rules", "ticket_ratings")
AGENT_INSERTS = ("ticket_logs", "messages", "interactions", "service_tickets", "conversations")
REPORTING_READS = (*AGENT_READS, "customer_merges", "customer_data_issues",
                   "customer_orders", "customer_tier_changes", "audit_seals")
# Read by definer code only (never granted to a role): a locking read on one
# of them would hold up every login's moves or the scheduled jobs.
INTERNAL_TABLES = ("ticketdb_flow_marks", "ticket_log_imports", "ticketdb_settings",
                   "ticket_log_archives", "ticketdb_job_leases", "ticketdb_job_runs",
                   "ticketdb_schema_history", "ticketdb_deploy_lock")
SUPERVISOR_INSERTS = ("agents", "escalation_rules")
# No role chooses a surrogate key (issue 20, docs/security.md): an explicit
# 18446744073709551615 would stop every later insert (1467). INSERT (and a
# supervisor's UPDATE) is granted column by column, every column but the
# AUTO_INCREMENT key and generated columns, read from the live schema; the
# triggers refuse a named key as well, for accounts with table grants.


def role_names(database: str) -> dict[str, str]:
    names = {kind: f"{database}_{kind}" for kind in ("agent", "supervisor", "reporting", "app")}
    too_long = [n for n in names.values() if len(n) > 32]
    if too_long:
        raise ValueError(f"role name {too_long[0]} is longer than 32 characters: "
                         "use a shorter database name")
    return names


def writable_columns(conn: Connection, database: str,
                     tables: tuple[str, ...] = (*AGENT_INSERTS, *SUPERVISOR_INSERTS),
                     ) -> dict[str, list[str]]:
    """Each table's columns a role may name: all but the AUTO_INCREMENT key
    and generated columns."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND extra NOT LIKE %s "
                    "AND COALESCE(generation_expression, '') = '' "
                    "ORDER BY table_name, ordinal_position",
                    (database, "%auto_increment%"))
        rows = cur.fetchall()
    found: dict[str, list[str]] = {t: [] for t in tables}
    for table, column in rows:
        if table in found:
            found[table].append(column)
    return found


def _columns(columns: list[str]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


# The statements' shape without a server (grammar checks): a few real columns.
_SHAPE = {t: ["customer_id"] for t in AGENT_INSERTS} | {
    "ticket_logs": ["ticket_id", "action_type"], "messages": ["conversation_id", "content"],
    "agents": ["name", "email"], "escalation_rules": ["from_priority", "to_priority"]}


def grants(database: str, columns: dict[str, list[str]] | None = None,
           archives: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The GRANT statements of each role (without the role's name); columns
    is writable_columns() (None: a stand-in with the statements' shape),
    archives the ticket_logs_YYYYMM tables the reporting role reads."""
    columns = columns or _SHAPE
    db = f"`{database}`"
    reporting = [f"SELECT ON {db}.`{t}`" for t in (*REPORTING_READS, *archives)]
    reporting += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in (*REPORTS, *AUDIT, *GUARD)]
    agent = [f"SELECT ON {db}.`{t}`" for t in AGENT_READS]
    agent += [f"INSERT ({_columns(columns[t])}) ON {db}.`{t}`" for t in AGENT_INSERTS]
    agent += [
        f"UPDATE (subject, description, category_id) ON {db}.`service_tickets`",
        f"UPDATE (status, last_seen) ON {db}.`agent_status`",
        f"INSERT ON {db}.`agent_status`",
        f"UPDATE (status, updated_at) ON {db}.`conversations`",
    ]
    agent += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in AGENT_PROCEDURES]
    supervisor = [g for g in agent if not g.startswith("EXECUTE")]
    supervisor += [
        f"INSERT ({_columns(columns['escalation_rules'])}), "
        f"UPDATE ({_columns(columns['escalation_rules'])}), DELETE ON {db}.`escalation_rules`",
        f"INSERT ({_columns(columns['agents'])}), UPDATE ({_columns(columns['agents'])}) "
        f"ON {db}.`agents`",
        f"DELETE ON {db}.`agent_status`",
        f"UPDATE (sent_at) ON {db}.`ticket_alerts`",
        f"SELECT ON {db}.`customer_orders`",
        f"SELECT ON {db}.`customer_tier_changes`",
    ]
    supervisor += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in SUPERVISOR_PROCEDURES]
    return {"reporting": reporting, "agent": agent, "supervisor": supervisor,
            "app": app_role.grants(database)}


def apply(conn: Connection, database: str) -> list[str]:
    """Create or update the roles on the deployer's connection (which holds
    the deploy lock); returns lines to print. A role never goes without a
    privilege it keeps: the new grants are added first, then only what the
    role should no longer have is revoked."""
    names = role_names(database)
    lines = []
    with conn.cursor() as cur:
        for kind, statements in grants(database, writable_columns(conn, database),
                                       archives(conn)).items():
            role = f"`{names[kind]}`"
            cur.execute(f"CREATE ROLE IF NOT EXISTS {role}")
            had = held(conn, role)
            for grant in statements:
                cur.execute(f"GRANT {grant} TO {role}")
            wanted = set().union(*(privileges(g) for g in statements))
            extra = sorted(had - wanted)
            for priv, column, on in extra:
                what = f"{priv} (`{column}`)" if column else priv
                cur.execute(f"REVOKE {what} ON {_quoted(on)} FROM {role}")
            lines.append(f"role {names[kind]}: {len(statements)} grant(s)"
                         + (f", revoked {len(extra)} it should not have" if extra else ""))
    return lines


def archives(conn: Connection) -> tuple[str, ...]:
    """The monthly archives sp_archive_ticket_logs has made so far (none
    before V026, e.g. after `up --target`)."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.TABLES "
                    "WHERE table_schema = DATABASE() AND table_name = 'ticket_log_archives'")
        if not cur.fetchall():
            return ()
        cur.execute("SELECT table_name FROM ticket_log_archives ORDER BY archive_month")
        return tuple(r[0] for r in cur.fetchall())


_GRANT = re.compile(r"^GRANT\s+(.*?)\s+ON\s+(.*?)\s+TO\s+", re.IGNORECASE | re.DOTALL)


def privileges(grant: str) -> set[tuple[str, str | None, str]]:
    """A GRANT's privileges as (privilege, column or None, object), in the
    form SHOW GRANTS prints: "SELECT, UPDATE (a, b) ON `db`.`t`" gives
    (SELECT, None, `db`.`t`), (UPDATE, a, `db`.`t`), (UPDATE, b, `db`.`t`)."""
    m = _GRANT.match(grant if grant.upper().startswith("GRANT") else f"GRANT {grant} TO x")
    if not m:
        return set()
    privs, on = m.group(1), re.sub(r"\s+", " ", m.group(2)).replace("`", "")
    on = re.sub(r"^(procedure|function) ", lambda k: k.group(1).upper() + " ", on,
                flags=re.IGNORECASE)
    found = set()
    for name, columns in re.findall(r"([A-Z][A-Z ]*?)\s*(?:\(([^)]*)\))?\s*(?:,|$)",
                                    privs.strip(), re.IGNORECASE):
        name = name.strip().upper()
        if not name or name == "USAGE":
            continue
        if columns:
            found |= {(name, c.strip().strip("`"), on) for c in columns.split(",")}
        else:
            found.add((name, None, on))
    return found


def _quoted(on: str) -> str:
    """`PROCEDURE db.p` -> PROCEDURE `db`.`p` (names hold letters, digits, _)."""
    kind, _, name = on.rpartition(" ")
    quoted = ".".join(part if part == "*" else f"`{part}`" for part in name.split("."))
    return f"{kind} {quoted}".strip()


def held(conn: Connection, role: str) -> set[tuple[str, str | None, str]]:
    """What SHOW GRANTS says the role has now."""
    with conn.cursor() as cur:
        cur.execute(f"SHOW GRANTS FOR {role}")
        rows = [r[0] for r in cur.fetchall()]
    return set().union(set(), *(privileges(r) for r in rows))


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
