"""Benchmark 2, catch-up speed: a whole history synced from an empty store.

A company of ``accounts`` Accounts with ``activities`` MRR movements over a year (dense
histories, ``bench.dense``) is synced by a cmsync subprocess from an empty store: the steps a
catch-up runs (context, customer sweep and matching, activities, payments, first cycles,
dispatch to Salesforce), timed one by one.

The fetch floor is the time the same process needs to page through the same ChartMogul
listings with cmsync's client alone (same transport and rate limit, records parsed, nothing
else done): the activity feed, the customers and the invoices. Targets: the pipeline within
2x that floor, and at least 2,000 activities a second end to end. The activities step alone
against the activity feed's own floor is reported too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.dense import Density
from bench.harness import Report, SandboxHost, drive

__all__ = ["STEPS", "run"]

STEPS = (
    "load_context", "customers", "activities", "late_activities", "payments", "first_cycles",
    "dispatch",
)  # fmt: skip
FEEDS = ("activities", "customers", "invoices")
# A catch-up must keep its margin in a slow hour too: within 1.5x the time to page the feeds
# at the client's rate, and 2,500 activities a second end to end (the CPU per step is
# printed, so a slow hour shows as one).
FLOOR_FACTOR = 1.5
MIN_RATE = 2_500.0


def run(quick: bool, work: Path) -> Report:
    accounts, activities = (1_000, 5_000) if quick else (20_000, 100_000)
    report = Report("catchup", f"{activities:,} activities over {accounts:,} accounts, "
                    "from an empty store", quick)  # fmt: skip
    with SandboxHost(work / "sandbox", accounts=accounts, density=Density(activities)) as host:
        floor = drive(["floor", "--config", str(host.config), "--feeds", ",".join(FEEDS)],
                      work / "drive.log")["feeds"]  # fmt: skip
        args = ["pass", "--config", str(host.config), "--steps", ",".join(STEPS)]
        result = drive(args, work / "drive.log")
        seed_seconds = host.seed_seconds
    steps: dict[str, Any] = {s["name"]: s for s in result["steps"]}
    failed = [name for name, s in steps.items() if not s["ok"]]
    if failed:
        report.notes.append(f"steps failed: {failed}; see {work / 'drive.log'}")
    total = sum(s["seconds"] for s in steps.values())
    fetch = sum(f["seconds"] for f in floor.values())
    for name in FEEDS:
        f = floor[name]
        report.add(f"fetch floor: {name} ({f['pages']:,} pages, {f['records']:,} records)",
                   f"{f['seconds']:.1f} s")  # fmt: skip
    for name, s in steps.items():
        report.add(f"step {name} (CPU {s['cpu_seconds']:.1f} s)", f"{s['seconds']:.1f} s")
    report.add("pipeline / fetch floor", f"{total:.1f} / {fetch:.1f} s = {total / fetch:.2f}x",
               f"<= {FLOOR_FACTOR:g}x", total <= FLOOR_FACTOR * fetch)  # fmt: skip
    feed = floor["activities"]["seconds"]
    poll = steps["activities"]["seconds"]
    report.add("activities step / activity feed floor", f"{poll / feed:.2f}x")
    cpu = steps["activities"]["cpu_seconds"]
    system = steps["activities"]["system_seconds"]
    report.add("activities step CPU per activity", f"{cpu / activities * 1e6:,.0f} µs")
    # The kernel's part: writing the store's pages (a commit rewrites every random leaf page
    # it touched, and the checkpoints write them again), more in an hour the disk is busy.
    report.add(f"  of it system time ({steps['activities']['written_mb']:,.0f} MB written)",
               f"{system / activities * 1e6:,.0f} µs")  # fmt: skip
    rate = activities / total
    report.add("activities per second, end to end", f"{rate:,.0f}", f">= {MIN_RATE:,.0f}",
               rate >= MIN_RATE)  # fmt: skip
    report.add("cmsync CPU time / wall time", f"{result['cpu_seconds']:.0f} / "
               f"{result['seconds']:.0f} s")  # fmt: skip
    report.figures = {
        "accounts": accounts,
        "activities": activities,
        "sandbox_seed_seconds": round(seed_seconds, 1),
        "fetch_floor": floor,
        "pipeline_seconds": total,
        "ratio": total / fetch,
        "activities_per_second": rate,
        "steps": [[s["name"], round(s["seconds"], 2), s["detail"]] for s in result["steps"]],
        "salesforce_calls": result["salesforce_calls"],
        "salesforce_records_sent": result["salesforce_records"],
        "cpu_seconds": result["cpu_seconds"],
        "step_cpu_seconds": {s["name"]: round(s["cpu_seconds"], 2) for s in result["steps"]},
        "activities_cpu_us_per_activity": round(cpu / activities * 1e6, 1),
        "activities_system_us_per_activity": round(system / activities * 1e6, 1),
        "activities_written_mb": round(steps["activities"]["written_mb"], 1),
        "max_rss_mb": result["max_rss_mb"],
    }
    return report
