"""Rendering and saving a run: the table, Markdown for bench/README.md, JSON files."""

import json
from dataclasses import asdict
from pathlib import Path

from harness import Figure
from rich.table import Table

COLUMNS = ("id", "measure", "median", "min", "max", "baseline", "baseline median", "ratio",
           "goal", "met")


def rows(figures: list[dict]) -> list[list[str]]:
    """The table's rows, from the figures as saved in the JSON file."""

    def fmt(v: float, unit: str) -> str:
        if unit != "s":
            return f"{v:,.0f} {unit}"
        return f"{v * 1000:,.1f} ms" if v >= 0.001 else f"{v * 1000:.3f} ms"

    return [[f["id"], f["what"], fmt(f["median"], f["unit"]), fmt(f["min"], f["unit"]),
             fmt(f["max"], f["unit"]), f["baseline"], fmt(f["base_median"], f["unit"]),
             f"{f['ratio']:.2f}×", f["goal"], {True: "yes", False: "NO", None: "-"}[f["passed"]]]
            for f in figures]


def render(data: dict) -> Table:
    meta = data["meta"]
    table = Table(title=f"ticketdb bench: {meta['server']} on {meta['machine']}, {meta['date']}")
    for col in COLUMNS:
        table.add_column(col)
    for row in rows(data["figures"]):
        table.add_row(*row)
    return table


def markdown(data: dict) -> str:
    """A saved run as the README shows it: a line of context, the table, the notes."""
    meta = data["meta"]
    lines = [f"Latest run: {meta['date']}, {meta['server']}, {meta['machine']}, "
             f"{meta['tickets']:,} tickets, {meta['repeat']} repetitions.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(data["figures"])]
    lines.append("")
    lines += [f"- {f['id']}: {note}" for f in data["figures"] for note in f["notes"]]
    return "\n".join(lines)


def as_data(meta: dict, figures: list[Figure]) -> dict:
    return {"meta": meta, "figures": [
        {**asdict(f), "median": f.median, "min": min(f.runs), "max": max(f.runs),
         "base_median": f.base_median, "ratio": f.ratio, **getattr(f, "extra", {})}
        for f in figures]}


def save(out: Path, meta: dict, figures: list[Figure]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = as_data(meta, figures)
    path = out / f"bench-{meta['date'].replace(' ', '-').replace(':', '')}.json"
    for p in (path, out / "latest.json"):
        p.write_text(json.dumps(data, indent=2, default=str))
    return path


def cores() -> int:
    import os

    return os.cpu_count() or 0


def memory() -> str:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(line for line in lines if line.startswith("MemTotal")).split()[1])
        return f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        return "unknown memory"
