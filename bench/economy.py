"""Benchmark 1, API economy: how few calls a pass over many recent changes costs.

A company of ``accounts`` Accounts whose customers carry ``activities`` MRR movements, all
within the last six days (so every contraction, downgrade, churn and failed payment opens a
churn-risk Task, and every expansion an Opportunity), is synced from an empty store by one
full pass (``SyncPass``'s steps, as ``cmsync once`` runs them) in a cmsync subprocess, with
the Salesforce-side pollers (Closed-Won deals, enrichment) switched off: this is the economy
of the activity pipeline.

Salesforce: the floor for each record kind is ceil(distinct records written / 200), the
records counted in the emulator itself (written by the integration user during the pass); the
target is at most 1.05 times that floor for each kind. The "per event" figure is what a
workflow tool spends at one call per effect (every field update, Task and Opportunity its own
call): the effects the pass enqueued (merged or not).

ChartMogul: every listing the pass reads costs exactly its pages, ceil(records / 200), and
each open failed payment one re-check; the emulator's own request counts must equal that.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.dense import Density
from bench.harness import ACTIVITY_PIPELINE_ONLY, Report, SandboxHost, drive
from cmsync.pipeline.sync_pass import STEPS

__all__ = ["run"]

PAGE = 200
SLACK = 1.05


def _pages(records: int) -> int:
    return max(1, math.ceil(records / PAGE))


def _outcome(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s["outcome"] or {} for s in result["steps"] if s["name"] == name)


def _enqueued(outcome: dict[str, Any] | None) -> int:
    """Outbox rows a step enqueued (pollers report it under ``applied``)."""
    if not outcome:
        return 0
    applied = outcome.get("applied")
    return int(applied["enqueued"] if isinstance(applied, dict) else outcome.get("enqueued", 0))


def _chartmogul_pages(host: SandboxHost, result: dict[str, Any]) -> dict[str, int]:
    """What each listing endpoint should cost for the steps that ran."""
    cm = host.sandbox.chartmogul.store
    names = [s["name"] for s in result["steps"]]
    with cm.lock:
        activities = len(cm.registry.feed)
        customers = len(cm.registry.customers)
        invoices = len(cm.registry.invoices)
        plans = len(cm.registry.plans)
    rechecks = _outcome(result, "payments").get("rechecked", 0) if "payments" in names else 0
    periods = len(_outcome(result, "reports").get("periods", [])) if "reports" in names else 0
    return {
        "GET /v1/activities": _pages(activities) * names.count("activities"),
        "GET /v1/customers": _pages(customers)
        * (names.count("customers") + names.count("reconcile")),
        "GET /v1/invoices": _pages(invoices) * names.count("payments") + rechecks,
        "GET /v1/plans": _pages(plans) * names.count("load_context"),
        "GET /v1/metrics/all": periods,
        "GET /v1/metrics/mrr": periods,
    }


def run(quick: bool, work: Path) -> Report:
    accounts, activities = (300, 1_500) if quick else (2_000, 10_000)
    report = Report("economy", f"{activities:,} recent activities over {accounts:,} accounts",
                    quick)  # fmt: skip
    density = Density(activities, recent=timedelta(days=6))
    with SandboxHost(work / "sandbox", accounts=accounts, density=density, seed=3) as host:
        host.reset_stats()
        since = datetime.now(UTC)
        args = ["pass", "--config", str(host.config), "--steps", ",".join(STEPS)]
        result = drive(args, work / "drive.log", **ACTIVITY_PIPELINE_ONLY)
        cm_requests, sf_requests = host.requests()
        written = host.written_since(since)
        expected = _chartmogul_pages(host, result)
    failed = [s["name"] for s in result["steps"] if not s["ok"]]
    if failed:
        report.notes.append(f"steps failed: {failed}; see {work / 'drive.log'}")
    calls: dict[str, int] = result["salesforce_calls"]
    total_calls = sum(calls.values())
    for kind in sorted(calls):
        sobject = kind.split()[0]
        records = written.get(sobject, 0)
        floor = _pages(records)
        report.add(f"Salesforce {kind}: calls for {records:,} records", str(calls[kind]),
                   f"<= {SLACK} x {floor}", calls[kind] <= SLACK * floor)  # fmt: skip
    composite = sum(n for e, n in sf_requests.items() if "/composite/sobjects" in e)
    report.add("Salesforce collections requests seen by the emulator", str(composite),
               f"== {total_calls} (no hidden calls)", composite == total_calls)  # fmt: skip
    rows = sum(_enqueued(s["outcome"]) for s in result["steps"] if s["name"] != "dispatch")
    report.add("one call per effect (effects enqueued) would be", f"{rows:,}")
    report.add("calls saved against one call per effect", f"{rows / max(1, total_calls):.0f}x")
    report.add("calls saved against one call per activity",
               f"{activities / max(1, total_calls):.0f}x")  # fmt: skip
    reads_ok = True
    for endpoint, want in expected.items():
        got = cm_requests.get(endpoint, 0)
        reads_ok = reads_ok and got == want
        report.add(f"ChartMogul {endpoint}", str(got), f"== {want} pages", got == want)
    others = {e: n for e, n in cm_requests.items() if e not in expected}
    if others:
        report.add("ChartMogul other requests", str(sum(others.values())), "== 0", False)
    report.figures = {
        "accounts": accounts,
        "activities": activities,
        "salesforce_calls": calls,
        "salesforce_records_sent": result["salesforce_records"],
        "salesforce_records_written": written,
        "salesforce_requests": dict(sf_requests),
        "chartmogul_requests": dict(cm_requests),
        "chartmogul_expected_pages": expected,
        "outbox_rows": rows,
        "pass_seconds": result["seconds"],
        "steps": [[s["name"], round(s["seconds"], 2), s["detail"]] for s in result["steps"]],
    }
    return report
