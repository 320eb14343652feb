"""Benchmark 3, memory: the peak RSS of ``cmsync once`` catching up on a large history.

A company of ``accounts`` Accounts whose customers carry ``activities`` MRR movements over a
year (dense histories, billed on yearly statements to keep the invoice list short) is synced
from an empty store by ``cmsync once``, a real subprocess, while this process (which hosts the
sandbox, and may use what it needs) samples the child's ``VmRSS`` and ``VmHWM`` from
``/proc/<pid>/status`` ten times a second. The figure is the kernel's own high-water mark,
``VmHWM``, as last read before the child exits (``ru_maxrss`` from ``wait4`` cannot be used:
it counts the pages the child shared with this multi-gigabyte process between fork and exec).
Pages must stream, nothing may hold the whole feed. The
Salesforce-side pollers (Closed-Won deals, enrichment) are off: this is the activity catch-up.
With ``--accounts N`` (``run_onboarding``) it measures the onboarding benchmark's workload
instead: a company's first pass, every step on, over N Accounts of the seeded scenario.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import onboarding
from bench.dense import Density
from bench.harness import ACTIVITY_PIPELINE_ONLY, Report, SandboxHost, spawn
from bench.proc import status_mb

__all__ = ["run", "run_onboarding", "watch"]

LIMIT_MB = 250.0
_STEP = re.compile(r"^(ok  |FAIL) (\w+)\s+([\d.]+)s")


def watch(process: subprocess.Popen[bytes], every: float = 0.1) -> dict[str, Any]:
    """Sample ``process`` until it exits; its exit code, peak and a coarse RSS timeline."""
    started = time.monotonic()
    timeline: list[tuple[float, float]] = []
    hwm = 0.0
    while process.poll() is None:
        sample = status_mb(process.pid)
        if sample:
            hwm = max(hwm, sample.get("VmHWM", 0.0))
            timeline.append((round(time.monotonic() - started, 1), round(sample["VmRSS"], 1)))
        time.sleep(every)
    return {
        "exit_code": process.returncode,
        "seconds": time.monotonic() - started,
        "peak_rss_mb": hwm,
        "timeline": timeline,
    }


def _peaks_by_step(
    steps: list[tuple[str, float]], timeline: list[tuple[float, float]]
) -> list[float | None]:
    """The highest RSS sampled during each step, the steps laid end to end back from the
    last sample (start-up before the first step is not in any)."""
    peaks: list[float | None] = []
    end = timeline[-1][0] - sum(seconds for _, seconds in steps) if timeline else 0.0
    for _, seconds in steps:
        start, end = end, end + seconds
        inside = [rss for t, rss in timeline if start <= t <= end]
        peaks.append(max(inside) if inside else None)
    return peaks


def run(quick: bool, work: Path) -> Report:
    accounts, activities = (1_000, 5_000) if quick else (100_000, 1_000_000)
    report = Report("memory", f"cmsync once over {activities:,} activities and {accounts:,} "
                    "accounts, from an empty store", quick)  # fmt: skip
    density = Density(activities, months_per_invoice=12)
    with SandboxHost(work / "sandbox", accounts=accounts, density=density, seed=4) as host:
        _measure(report, host, work / "once.log", ACTIVITY_PIPELINE_ONLY)
    report.figures["activities"] = activities
    return report


def run_onboarding(quick: bool, work: Path, accounts: int) -> Report:
    """``--accounts N``: the onboarding benchmark's workload (``bench.onboarding``), a first
    ``cmsync once`` over N Accounts of the seeded scenario, every step on (Closed-Won and
    enrichment too), from an empty store; the same limit."""
    report = Report("memory_onboarding", f"the first cmsync once over {accounts:,} Accounts "
                    f"(seed {onboarding.SEED}), from an empty store", quick)  # fmt: skip
    with SandboxHost(work / "sandbox", accounts=accounts, seed=onboarding.SEED) as host:
        _measure(report, host, work / "once.log", {})
    return report


def _measure(report: Report, host: SandboxHost, log: Path, overrides: dict[str, str]) -> None:
    """Run ``cmsync once`` against ``host``, sampled; its peak and per-step rows."""
    once = spawn(["once", "--config", str(host.config)], log, **overrides)
    watched = watch(once)
    output = log.read_text(encoding="utf-8", errors="replace")
    steps = [(m[2], float(m[3])) for m in map(_STEP.match, output.splitlines()) if m]
    if watched["exit_code"] != 0:
        report.notes.append(f"cmsync once exited {watched['exit_code']}; see {log}")
    peak = watched["peak_rss_mb"]
    report.add("peak RSS of cmsync once (VmHWM)", f"{peak:.0f} MB", f"<= {LIMIT_MB:.0f} MB",
               peak <= LIMIT_MB and watched["exit_code"] == 0)  # fmt: skip
    report.add("cmsync once wall time", f"{watched['seconds']:.0f} s")
    for (name, seconds), rss in zip(steps, _peaks_by_step(steps, watched["timeline"]), strict=True):
        held = f"{rss:.0f} MB" if rss is not None else "-"
        report.add(f"  step {name}: seconds, highest RSS sampled", f"{seconds:.1f} s, {held}")
    report.figures = {
        "accounts": host.options.accounts,
        "sandbox_seed_seconds": round(host.seed_seconds, 1),
        "steps": steps,
        **watched,
        "timeline": watched["timeline"][:: max(1, len(watched["timeline"]) // 120)],
    }
