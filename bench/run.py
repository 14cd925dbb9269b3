#!/usr/bin/env python3
"""`make bench`: every figure a ratio against a baseline taken in the same run,
on the same throwaway server. See bench/README.md for what each id measures;
each measurement is its own module beside this one (p1_escalation.py …), the
shared parts are in harness.py and the table and files in report.py. This
file only starts the server, loads the dataset and lists the steps.

    python bench/run.py --tickets 1000000 [--repeat 5] [--out bench/results]
"""

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from chain_cost import chain_cost
from harness import Figure, console, q
from p1_escalation import p1_escalation, p1_wide
from p2_overdue import p2_overdue
from p3_single_action import p3_single_action
from p4_claims import p4_claims
from p5_deploy import p5_deploy
from p6_sample import p6_sample
from p7_alerts import p7_alerts
from p8_split import p8_split
from p9_archive import p9_archive
from report import as_data, cores, markdown, memory, render, save

from ticketdb import migrate, sample, server
from ticketdb.connection import connect
from ticketdb.sources import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="print a saved run as a Markdown table (as in the README) and exit")
    parser.add_argument("--only-split", action="store_true",
                        help="run P8 (the splitter, no server) alone")
    parser.add_argument("--archive-rows", type=int, default=5_000_000,
                        help="log rows P9 archives (its own database)")
    parser.add_argument("--wide", type=int, default=700_000,
                        help="tickets P1w makes eligible at once (at most 70%% of --tickets)")
    parser.add_argument("--quick", action="store_true",
                        help="a size to iterate with: 20,000 tickets, 200,000 archive rows, "
                             "3 repetitions (every step well under 10 minutes)")
    parser.add_argument("--only", metavar="IDS",
                        help="comma-separated steps to run, e.g. P9,P3h (default: all)")
    args = parser.parse_args()
    if args.quick:
        args.tickets, args.archive_rows, args.repeat = 20_000, 200_000, 3
    args.wide = min(args.wide, args.tickets * 7 // 10)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.only_split:
        fig = p8_split(args.repeat)
        meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "server": "no server",
                "machine": f"{platform.machine()}, {cores()} cores, {memory()}",
                "tickets": 0, "repeat": args.repeat}
        console.print(render(as_data(meta, [fig])))
        console.print(f"P8: {fig.notes[0]}")
        return 0
    # MySQL's own durability defaults (the test servers relax them for speed):
    # every commit is on disk, as in production.
    srv = server.start(extra_args=["--innodb-buffer-pool-size=6G",
                                   "--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"])
    figures: list[Figure] = []
    try:
        target = srv.target.with_database("ticketdb")
        admin = connect(srv.target, database=None)
        # The shipped events would escalate and alert in the middle of the
        # measurements (and take locks the harness needs): no scheduler here.
        q(admin, "SET GLOBAL event_scheduler = OFF")
        admin.close()
        console.print(f"server: {srv.kind} {srv.version}; loading {args.tickets} tickets")
        migrate.up(target, lambda _line: None)
        started = time.perf_counter()
        sample.load(target, args.tickets, console=console)
        console.print(f"sample loaded in {time.perf_counter() - started:.0f} s")
        steps = [
            ("P8", lambda: figures.append(p8_split(args.repeat))),
            ("P5", lambda: figures.extend(p5_deploy(srv, args.repeat))),
            ("P6", lambda: figures.append(p6_sample(srv, max(2_000, args.tickets // 50)))),
            ("P1", lambda: figures.append(p1_escalation(target, args.repeat))),
            ("P3", lambda: figures.append(p3_single_action(target, args.repeat, 1_000))),
            ("P4", lambda: figures.append(p4_claims(target, 3.0))),
            ("P2", lambda: figures.append(p2_overdue(target, args.repeat, 4 * args.tickets))),
            ("P7", lambda: figures.append(p7_alerts(target, args.repeat))),
            ("P3h", lambda: figures.extend(chain_cost(srv, target, args.repeat, 1_000,
                                                      max(2_000, args.tickets // 50)))),
            ("P9", lambda: figures.extend(p9_archive(srv, args.archive_rows, args.repeat))),
            # Last: it rewrites the dataset the steps above measure.
            ("P1w", lambda: figures.append(p1_wide(target, args.wide))),
        ]
        if args.only:
            wanted = {s.strip() for s in args.only.split(",")}
            steps = [step for step in steps if step[0] in wanted]
        meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "server": f"{srv.kind} {srv.version}",
                "machine": f"{platform.machine()}, {cores()} cores, {memory()}",
                "tickets": args.tickets, "repeat": args.repeat}
        for name, step in steps:
            console.print(f"measuring {name} …")
            step()
            save(args.out, meta, figures)  # what is measured survives a later failure
    finally:
        srv.stop()
    console.print(render(as_data(meta, figures)))
    for f in figures:
        for note in f.notes:
            console.print(f"{f.id}: {note}")
    path = save(args.out, meta, figures)
    console.print(f"figures written to {path} and {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
