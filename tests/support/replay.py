"""The ticket its log implies, replayed row by row: the flow's invariants as
the stress and Galera tests check them."""

from __future__ import annotations

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}


def replay(rows: list[dict], priority: str) -> dict:
    """The ticket a log implies, checking every row's from/to on the way."""
    status, agent_id, first, resolved, closed = "pending", None, None, None, None
    for r in rows:
        action = r["action_type"]
        assert r["from_status"] == status, (r, status)
        if action == "assign":
            nxt, agent_id = "in_progress", r["agent_id"]
        elif action == "transfer":
            nxt, agent_id = status, r["agent_id"]
        elif action == "reply":
            nxt, first = status, first or r["action_time"]
        elif action == "wait_customer":
            nxt = "waiting_customer"
        elif action == "resume":
            nxt = "in_progress"
        elif action == "resolve":
            nxt, resolved = "resolved", r["action_time"]
        elif action == "close":
            nxt, closed = "closed", r["action_time"]
        elif action == "reopen":
            # back to the assignee, unless none or no longer active: then pending, unassigned
            nxt, resolved, closed = ("in_progress" if agent_id else "pending"), None, None
            if agent_id and r["to_status"] == "pending":
                nxt, agent_id = "pending", None
        else:  # escalate
            assert r["old_priority"] == priority
            assert PRIORITY_RANK[r["new_priority"]] < PRIORITY_RANK[priority]
            nxt, priority = status, r["new_priority"]
        assert r["to_status"] == nxt, (r, nxt)
        status = nxt
    return {"current_status": status, "assigned_agent_id": agent_id, "priority": priority,
            "first_response_at": first, "resolved_at": resolved, "closed_at": closed}
