"""`deploy.py sandbox`: a throwaway server with ticketdb deployed, sample data
loaded, the automation run once, and the reports a support lead reads."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from pymysql.connections import Connection
from rich.console import Console
from rich.table import Table

from ticketdb import migrate, sample, server
from ticketdb.connection import Target, connect, fetch_dicts


def table(title: str, rows: list[dict], limit: int = 12, caption: str = "") -> Table:
    t = Table(title=title, caption=caption or (
        f"{len(rows)} row(s), first {limit} shown" if len(rows) > limit else f"{len(rows)} row(s)"))
    for column in rows[0] if rows else ["(none)"]:
        t.add_column(str(column), justify="right" if rows and isinstance(
            rows[0][column], (int, float)) else "left")
    for row in rows[:limit]:
        t.add_row(*("" if v is None else str(v) for v in row.values()))
    return t


def automation_report(target: Target, console: Console) -> None:
    """Run the scheduled jobs once, then print what they did and the reports."""
    conn = connect(target)
    try:
        escalated = fetch_dicts(conn, "CALL sp_escalate_priorities()")[0]["escalated"]
        alerts = fetch_dicts(conn, "CALL sp_generate_alerts(60)")[0]["alerts_written"]
        snapshot = fetch_dicts(conn, "CALL sp_snapshot_urgent_tickets(UTC_DATE())")[0]["tickets"]
        console.rule("automation, run once")
        console.print(f"sp_escalate_priorities: {escalated} ticket(s) escalated")
        console.print(f"sp_generate_alerts(60): {alerts} alert(s) written")
        console.print(f"sp_snapshot_urgent_tickets(today): {snapshot} ticket(s) on the list")
        console.print(table("Escalations made", fetch_dicts(
            conn, "SELECT l.ticket_id, l.old_priority, l.new_priority, t.current_status, "
                  "t.created_at, t.deadline FROM ticket_logs AS l JOIN service_tickets AS t "
                  "ON t.ticket_id = l.ticket_id WHERE l.action_type = 'escalate' "
                  "ORDER BY l.log_id DESC LIMIT 200"), limit=8))
        console.print(table("Alerts written", fetch_dicts(
            conn, "SELECT alert_type, COUNT(*) AS alerts, MIN(deadline) AS earliest_deadline, "
                  "MAX(deadline) AS latest_deadline FROM ticket_alerts GROUP BY alert_type")))
        overdue = fetch_dicts(conn, "CALL sp_overdue_report(60)")
        console.print(table("Overdue report: sp_overdue_report(60)", overdue, limit=15))
        now = fetch_dicts(conn, "SELECT UTC_TIMESTAMP() AS now")[0]["now"]
        efficiency = fetch_dicts(conn, "CALL sp_agent_efficiency(%s, %s)",
                          (now - timedelta(days=30), now))
        console.print(table("Agent efficiency, last 30 days: sp_agent_efficiency", efficiency))
        satisfaction = fetch_dicts(conn, "CALL sp_satisfaction_report(%s, %s)",
                                   (now - timedelta(days=30), now))
        console.print(table("Customer satisfaction, last 30 days: sp_satisfaction_report",
                            satisfaction, limit=20))
        console.print(table("Morning list: daily_urgent_tickets (today)", fetch_dicts(
            conn, "SELECT ticket_id, reason, priority, current_status, customer_tier, "
                  "minutes_left FROM daily_urgent_tickets WHERE snapshot_date = UTC_DATE() "
                  "ORDER BY minutes_left LIMIT 200"), limit=8))
        audit_report(conn, console)
    finally:
        conn.close()


def audit_report(conn: Connection, console: Console) -> None:
    """The audit trail's lifecycle on the sample: archive the months before
    last month (the sample's history reaches back about three), check every
    hash chain, and trace a ticket whose rows now lie in an archive and live."""
    console.rule("audit trail: monthly archive and hash chain")
    cutoff = fetch_dicts(conn, "SELECT UTC_DATE() - INTERVAL 1 MONTH AS d")[0]["d"]
    moved = fetch_dicts(conn, "CALL sp_archive_ticket_logs(%s)", (cutoff,))
    console.print(f"sp_archive_ticket_logs('{cutoff}'): the rows before "
                  f"{cutoff.replace(day=1)} moved to their month's archive")
    console.print(table("Archives filled", moved))
    broken = fetch_dicts(conn, "CALL sp_verify_audit_trail(NULL)")
    checked = fetch_dicts(conn, "SELECT COUNT(*) AS n FROM service_tickets "
                                "WHERE log_head IS NOT NULL")[0]["n"]
    console.print(f"sp_verify_audit_trail(NULL): {checked} ticket chain(s) checked across "
                  f"ticket_logs and {len(moved)} archive(s), {len(broken)} broken")
    if broken:
        console.print(table("Broken chains", broken))
    spanning = fetch_dicts(conn, "SELECT MIN(l.ticket_id) AS t FROM ticket_logs AS l "
                                 "WHERE l.ticket_id IN (SELECT ticket_id FROM "
                                 "service_tickets WHERE created_at < %s)", (cutoff.replace(day=1),))
    if spanning and spanning[0]["t"]:
        tid = spanning[0]["t"]
        trail = fetch_dicts(conn, "CALL sp_ticket_trace(%s)", (tid,))
        console.print(table(f"sp_ticket_trace({tid}): archived and live rows, in order", [
            {k: r[k] for k in ("log_id", "action_time", "action_type", "agent_name",
                               "from_status", "to_status")} for r in trail], limit=15))


def run(console: Console, tickets: int, keep: bool) -> None:
    console.rule("ticketdb sandbox")
    srv = server.start(keep=keep)
    try:
        target = srv.target.with_database("ticketdb")
        console.print(f"server: {srv.kind} {srv.version} at {target.display()}")
        migrate.up(target, lambda line: None)
        console.print("deployed: every migration, trigger, procedure and event")
        counts = sample.load(target, tickets, console=console)
        console.print("sample data: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
        automation_report(target, console)
    except BaseException:
        srv.stop()
        raise
    if keep:
        console.rule("the server keeps running")
        console.print(f"URL: {target.display()}  (bound to 127.0.0.1)")
        cnf = srv.workdir / "client.cnf" if srv.workdir else None
        if cnf:
            password = "root's password is in it" if target.password else "root has no password"
            console.print(f"client options: {cnf}  ({password})", soft_wrap=True)
            client = shutil.which("mariadb") or shutil.which("mysql")
            if client:
                console.print(f"mysql client: {Path(client).name} --defaults-file={cnf} "
                              f"{target.database}", soft_wrap=True)
            console.print(f"stop it: {srv.stop_hint()}", soft_wrap=True)
    else:
        srv.stop()
        console.print("sandbox server stopped and removed (use --keep to leave it running)")
