"""`<db>_app` (docs/api.md, "The app role"): the application backend's account, granted by
`up --roles` beside the three roles of roles.py.

Exactly what a helpdesk backend does for its customers and its agents'
screens, and nothing more:

  creates   customers (name, email, phone; never the tier, which
            sp_refresh_customer_tiers sets), tickets (customer, category,
            subject, description, priority: a ticket starts pending and
            unassigned), conversations, messages, interactions, ratings
            (ticket, rating, comment: the trigger fills in the rest), and
            ticket log rows (the only way it moves a ticket is the flow), and
            orders (customer, time, amount, currency: the spend tiers use)
  changes   a customer's name, email and phone; a conversation's status
  calls     sp_assign_ticket, sp_claim_next_ticket, sp_claim_conversation,
            sp_mark_conversation_read, sp_ticket_trace
  reads     the tables it shows: tickets and their logs, customers,
            categories, the knowledge base, agents and their status,
            conversations, messages, interactions, ratings, orders

INSERT is granted column by column, so the app never names a surrogate key
(an AUTO_INCREMENT id it could push to the top of its range), a generated
column, a creation time (the clock is the server's) or a column the flow
sets. No UPDATE of service_tickets or ticket_logs, no DELETE anywhere, and
no access to the internal tables (ticketdb_*, flow marks, imports, merges,
agent_logins, settings, archives).
"""

from __future__ import annotations

APP_INSERTS: dict[str, tuple[str, ...]] = {
    "customers": ("name", "email", "phone"),
    "service_tickets": ("customer_id", "category_id", "subject", "description", "priority"),
    "ticket_logs": ("ticket_id", "action_type", "agent_id", "actor_agent_id", "note"),
    "conversations": ("customer_id", "ticket_id"),
    "messages": ("conversation_id", "sender_type", "sender_id", "content"),
    "interactions": ("customer_id", "ticket_id", "agent_id", "channel", "summary"),
    "ticket_ratings": ("ticket_id", "rating", "rating_comment"),
    # the purchases tiers are computed from (V034)
    "customer_orders": ("customer_id", "ordered_at", "amount", "currency"),
}
APP_UPDATES: dict[str, tuple[str, ...]] = {
    "customers": ("name", "email", "phone"),
    "conversations": ("status",),
}
APP_READS = ("service_tickets", "ticket_logs", "customers", "categories", "kb_articles",
             "agents", "agent_status", "conversations", "messages", "interactions",
             "ticket_ratings", "customer_orders")
APP_PROCEDURES = ("sp_assign_ticket", "sp_claim_next_ticket", "sp_claim_conversation",
                  "sp_mark_conversation_read", "sp_ticket_trace")


def grants(database: str) -> list[str]:
    """The GRANT statements of `<db>_app` (without the role's name)."""
    db = f"`{database}`"
    out = [f"SELECT ON {db}.`{t}`" for t in APP_READS]
    out += [f"INSERT ({', '.join(cols)}) ON {db}.`{t}`" for t, cols in APP_INSERTS.items()]
    out += [f"UPDATE ({', '.join(cols)}) ON {db}.`{t}`" for t, cols in APP_UPDATES.items()]
    out += [f"EXECUTE ON PROCEDURE {db}.`{p}`" for p in APP_PROCEDURES]
    return out
