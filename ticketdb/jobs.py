"""`deploy.py jobs`: every scheduled job, its schedule and its last runs.

A job is a row of ticketdb_job_leases; its event is `ev_<job>`, whose body
is `CALL sp_run_job('<job>')`; every run is a row of ticketdb_job_runs (see
docs/operations.md). `problems()` is what `status --check` adds: a job whose
last run failed (or died), or that has not run for twice its interval.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pymysql
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ticketdb.connection import Target, connect, fetch_dicts

_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}
_RUN_COLUMNS = ("run_id, started_at, finished_at, outcome, error_code, error_message, "
                "rows_affected, node")


class JobsError(RuntimeError):
    """The database has no job tables yet."""


@dataclass
class Job:
    job: str
    event: str
    schedule: str | None  # "every 1 MINUTE", None when the event is missing
    interval_seconds: int | None
    event_status: str | None  # ENABLED, DISABLED, SLAVESIDE_DISABLED; None: no event
    event_created: datetime | None
    event_last_executed: datetime | None
    lease_holder: str | None
    lease_until: datetime | None
    last_run: dict | None  # the last run that was not skipped
    last_success: dict | None
    last_failure: dict | None  # failed or interrupted


@dataclass
class Report:
    event_scheduler: str
    now: datetime
    jobs: list[Job]


def read(conn: pymysql.connections.Connection) -> Report:
    """What the database says about its jobs, now (UTC)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE table_schema = "
                    "DATABASE() AND table_name IN ('ticketdb_job_leases', 'ticketdb_job_runs')")
        if cur.fetchone()[0] < 2:
            raise JobsError("ticketdb_job_runs is missing from this database: run `up` first")
        cur.execute("SELECT @@global.event_scheduler, UTC_TIMESTAMP(6)")
        scheduler, now = cur.fetchone()
    events = {e["EVENT_NAME"]: e for e in fetch_dicts(
        conn, "SELECT EVENT_NAME, INTERVAL_VALUE, INTERVAL_FIELD, STATUS, CREATED, "
              "LAST_EXECUTED FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")}
    jobs = []
    for lease in fetch_dicts(conn, "SELECT job, holder, lease_until FROM ticketdb_job_leases "
                                   "ORDER BY job"):
        name = lease["job"]
        event = events.get(f"ev_{name}")
        jobs.append(Job(
            job=name, event=f"ev_{name}",
            schedule=_schedule(event), interval_seconds=_interval(event),
            event_status=event["STATUS"] if event else None,
            event_created=event["CREATED"] if event else None,
            event_last_executed=event["LAST_EXECUTED"] if event else None,
            lease_holder=lease["holder"] if lease["lease_until"] >= now else None,
            lease_until=lease["lease_until"] if lease["lease_until"] >= now else None,
            last_run=_last(conn, name, "outcome <> 'skipped'"),
            last_success=_last(conn, name, "outcome = 'succeeded'"),
            last_failure=_last(conn, name, "outcome IN ('failed', 'interrupted')"),
        ))
    return Report(event_scheduler=str(scheduler), now=now, jobs=jobs)


def _last(conn: pymysql.connections.Connection, job: str, where: str) -> dict | None:
    rows = fetch_dicts(conn, f"SELECT {_RUN_COLUMNS} FROM ticketdb_job_runs "
                             f"WHERE job = %s AND {where} ORDER BY started_at DESC, run_id DESC "
                             "LIMIT 1", (job,))
    return rows[0] if rows else None


def _schedule(event: dict | None) -> str | None:
    if event is None:
        return None
    if event["INTERVAL_VALUE"] is None:
        return "once"
    return f"every {event['INTERVAL_VALUE']} {event['INTERVAL_FIELD']}"


def _interval(event: dict | None) -> int | None:
    if event is None or event["INTERVAL_FIELD"] not in _SECONDS:
        return None
    try:
        return int(event["INTERVAL_VALUE"]) * _SECONDS[event["INTERVAL_FIELD"]]
    except (TypeError, ValueError):
        return None


def problems(report: Report) -> list[str]:
    """One line per job that failed last or has not run for twice its interval."""
    found = []
    for j in report.jobs:
        if j.event_status is None:
            continue  # no event: nothing schedules it (verify reports a missing event)
        last = j.last_run
        if last and last["outcome"] in ("failed", "interrupted"):
            found.append(f"job {j.job} {last['outcome']} last (run {last['run_id']} at "
                         f"{_when(last['started_at'])} UTC on {last['node']}): "
                         f"{_error(last)}")
            continue
        since = last["started_at"] if last else j.event_created
        if j.interval_seconds and since is not None:
            idle = report.now - since
            if idle > timedelta(seconds=2 * j.interval_seconds):
                found.append(
                    f"job {j.job} has not run for {_age(idle)} (twice its interval is "
                    f"{_age(timedelta(seconds=2 * j.interval_seconds))}): event {j.event} "
                    f"is {j.event_status}, event_scheduler is {report.event_scheduler}")
    return found


def check(target: Target) -> list[str]:
    """`status --check`'s job lines; none for a database without the job tables."""
    conn = connect(target)
    try:
        return problems(read(conn))
    except JobsError:
        return []
    finally:
        conn.close()


def _error(run: dict) -> str:
    code = f"error {run['error_code']}: " if run["error_code"] is not None else ""
    return code + (run["error_message"] or "no message")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def as_json(report: Report, target: Target) -> str:
    jobs = [{k: ({kk: _jsonable(vv) for kk, vv in v.items()} if isinstance(v, dict)
                 else _jsonable(v)) for k, v in asdict(j).items()} for j in report.jobs]
    return json.dumps({"target": target.display(), "event_scheduler": report.event_scheduler,
                       "now": report.now.isoformat(), "jobs": jobs,
                       "problems": problems(report)}, indent=2)


def show(target: Target, console: Console, json_output: bool) -> None:
    """Print the jobs table (or JSON)."""
    conn = connect(target)
    try:
        report = read(conn)
    finally:
        conn.close()
    if json_output:
        console.file.write(as_json(report, target) + "\n")
        return
    table = Table(title=Text(f"ticketdb jobs: {target.display()} (times UTC)"))
    for col in ("job", "schedule", "event", "last run", "last success", "last failure"):
        table.add_column(col)
    for j in report.jobs:
        table.add_row(
            Text(j.job),
            Text(j.schedule or "no event"),
            _status_text(j.event_status),
            _run_text(j.last_run, with_outcome=True),
            _run_text(j.last_success),
            _failure_text(j.last_failure),
        )
    console.print(table)
    style = "green" if report.event_scheduler == "ON" else "bold red"
    console.print(Text("event_scheduler: ") + Text(report.event_scheduler, style=style))
    for line in problems(report):
        console.print(Text("problem: ", style="bold red") + Text(line))


def _status_text(status: str | None) -> Text:
    if status is None:
        return Text("missing", style="red")
    return Text(status, style="green" if status == "ENABLED" else "yellow")


def _run_text(run: dict | None, with_outcome: bool = False) -> Text:
    if run is None:
        return Text("never", style="dim")
    text = _when(run["started_at"])
    if run["finished_at"] is not None:
        ms = (run["finished_at"] - run["started_at"]).total_seconds() * 1000
        text += f" ({ms:.0f} ms"
        text += f", {run['rows_affected']} rows)" if run["rows_affected"] is not None else ")"
    if not with_outcome:
        return Text(text)
    colour = {"succeeded": "green", "running": "cyan"}.get(run["outcome"], "red")
    return Text(text + " ") + Text(run["outcome"], style=colour)


def _failure_text(run: dict | None) -> Text:
    if run is None:
        return Text("never", style="dim")
    return Text(f"{_when(run['started_at'])} {run['outcome']}: {_error(run)}", style="red")
