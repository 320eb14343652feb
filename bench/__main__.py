"""``make bench``: the benchmarks, each against the sandbox over loopback TLS.

    python -m bench [economy|catchup|memory|freshness|dashboard|onboarding ...] [--quick]
                    [--keep] [--profile DIR] [--accounts N]

Runs the named benchmarks (all by default) in order, prints each one's table, and merges its
figures into ``bench/results.json``. ``--quick`` uses small sizes (a few minutes in all) for
development; the full sizes are the targets' and take about a quarter of an hour on two cores.
``--accounts N`` sizes the onboarding workload (a first pass over N Accounts of the seeded
scenario): for ``onboarding`` instead of its 20,000, and for ``memory``, which then measures
``cmsync once`` on that workload instead of the activity catch-up (``memory_onboarding`` in
the results).
``--profile DIR`` samples every cmsync subprocess with py-spy (``pip install py-spy`` into the
venv first) and writes collapsed stacks there; ``python -m bench.profile FILE`` summarises one.
Exits 1 if a target was missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import catchup, dashboard, economy, freshness, memory, onboarding
from bench.harness import PROFILE_DIR, RESULTS, Report, save

BENCHMARKS: dict[str, Callable[[bool, Path], Report]] = {
    "economy": economy.run,
    "catchup": catchup.run,
    "memory": memory.run,
    "freshness": freshness.run,
    "dashboard": dashboard.run,
    "onboarding": onboarding.run,
}
# The benchmarks ``--accounts N`` sizes, called with ``accounts=N``.
SIZED: dict[str, Callable[[bool, Path, int], Report]] = {
    "onboarding": onboarding.run,
    "memory": memory.run_onboarding,
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--keep", action="store_true", help="keep the working directories")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the cmsync processes with py-spy into DIR")  # fmt: skip
    sized = " and ".join(SIZED)
    parser.add_argument("--accounts", type=int, metavar="N",
                        help=f"the onboarding workload's size, for {sized}")  # fmt: skip
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if args.accounts is not None and (not args.names or set(args.names) - SIZED.keys()):
        parser.error(f"--accounts sizes only {sized}: name them")
    return args


def main() -> int:
    args = _arguments()
    if args.profile is not None:
        os.environ[PROFILE_DIR] = str(args.profile.resolve())
    missed: list[str] = []
    for name in args.names or list(BENCHMARKS):
        work = Path(tempfile.mkdtemp(prefix=f"cmsync-bench-{name}-"))
        load = os.getloadavg()[0]
        started = time.perf_counter()
        try:
            if args.accounts is not None:
                report = SIZED[name](args.quick, work, args.accounts)
            else:
                report = BENCHMARKS[name](args.quick, work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        seconds = time.perf_counter() - started
        report.figures["benchmark_seconds"] = round(seconds, 1)
        report.figures["load_average_at_start"] = round(load, 2)
        if load > 0.5:  # other work on the machine skews every timing
            report.notes.append(f"the machine was busy at the start (load average {load:.1f})")
        kept = f"kept in {work}" if args.keep else "working directory removed"
        print(f"{report.render()}\n  ({seconds:.0f} s; {kept})\n", flush=True)
        save(report)
        if not report.passed:
            missed.append(name)
    print(f"results merged into {RESULTS}")
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
