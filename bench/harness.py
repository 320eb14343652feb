"""What every benchmark shares: the sandbox host, cmsync subprocesses, tables and results.

Layout of a run: the sandbox (both emulators, seeded) runs in the benchmark's own process on
an event loop in a thread (``SandboxHost``), so a benchmark can seed, inject changes and read
the emulators' request counts and records directly; cmsync runs in subprocesses (``drive``,
``spawn``) exactly as an operator runs it, so the two never share an interpreter lock.

Each benchmark returns a ``Report``: rows of (figure, value, target, met?) printed as a table,
plus the raw figures, merged into ``bench/results.json`` under the benchmark's name.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.dense import Density, dense_factory
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread

__all__ = [
    "ACTIVITY_PIPELINE_ONLY",
    "RESULTS",
    "ROOT",
    "Report",
    "Row",
    "SandboxHost",
    "drive",
    "env",
    "save",
    "spawn",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


@dataclass(frozen=True)
class Row:
    """One line of a benchmark's table; ``ok`` is None for a figure without a target."""

    label: str
    value: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    name: str
    title: str
    quick: bool
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(label, value, target, ok))

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    def render(self) -> str:
        width = max([len(r.label) for r in self.rows] + [10])
        vwidth = max([len(r.value) for r in self.rows] + [5])
        mode = " (quick)" if self.quick else ""
        lines = [f"== {self.name}: {self.title}{mode}"]
        for r in self.rows:
            mark = {True: "ok  ", False: "MISS", None: "    "}[r.ok]
            target = f"  target {r.target}" if r.target else ""
            lines.append(f"  {mark} {r.label:<{width}}  {r.value:>{vwidth}}{target}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def save(report: Report, path: Path = RESULTS) -> None:
    """Merge ``report`` into the results file under its name (other benchmarks kept)."""
    try:
        results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    results[report.name] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": report.quick,
        "passed": report.passed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "table": [r.__dict__ for r in report.rows],
        "notes": report.notes,
        "figures": report.figures,
    }  # fmt: skip
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# The Salesforce-side pollers (Closed-Won deals into ChartMogul, Contact and Lead enrichment)
# are switched off where a benchmark measures the activity pipeline: their reads and writes are
# not the ones its targets count, and the seeded org's backlog of won deals would dominate it.
ACTIVITY_PIPELINE_ONLY = {
    "CMSYNC_CLOSED_WON__ENABLED": "false",
    "CMSYNC_ENRICHMENT__ENABLED": "false",
}


def env(**overrides: str) -> dict[str, str]:
    """The environment for a cmsync subprocess: no stray CMSYNC_ settings, ``overrides`` on."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CMSYNC_")}
    clean["PYTHONPATH"] = str(ROOT)
    return {**clean, **overrides}


PROFILE_DIR = "BENCH_PROFILE_DIR"  # set (``--profile DIR``) to sample cmsync with py-spy


def profiled(command: list[str], name: str) -> list[str]:
    """``command`` under ``py-spy record`` when profiling was asked for (see the README).

    py-spy samples every thread (the store's work runs in worker threads, which in-process
    profilers miss) and writes collapsed stacks that ``python -m bench.profile`` summarises.
    """
    directory = os.environ.get(PROFILE_DIR)
    if not directory:
        return command
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise RuntimeError(
            f"profiling needs py-spy in the venv: {sys.executable} -m pip install py-spy"
        )
    out = Path(directory) / f"{name}-{time.strftime('%H%M%S')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    # BENCH_PROFILE_MODE: "idle" (the default) samples every thread, waits included: where the
    # time went; "active" only threads on a CPU, SQLite's C code included; "gil" only the
    # thread holding the interpreter lock: where the Python time went.
    mode = {"idle": ["--idle"], "active": [], "gil": ["--gil"]}[
        os.environ.get("BENCH_PROFILE_MODE", "idle")
    ]
    return [str(spy), "record", *mode, "--rate", "250", "--format", "raw", "--output", str(out),
            "--", *command]  # fmt: skip


def drive(args: list[str], log: Path, **overrides: str) -> dict[str, Any]:
    """Run ``python -m bench.drive ARGS`` to completion; its JSON result."""
    out = log.with_name(f"drive-{args[0]}-{time.monotonic_ns()}.json")
    command = [sys.executable, "-m", "bench.drive", *args, "--out", str(out)]
    with log.open("ab") as err:
        done = subprocess.run(  # noqa: S603 (our own interpreter and module, no shell)
            profiled(command, f"drive-{args[0]}"),
            cwd=ROOT, env=env(**overrides), stdout=err, stderr=err, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench.drive {args[0]} failed ({done.returncode}); see {log}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def spawn(args: list[str], log: Path, **overrides: str) -> subprocess.Popen[bytes]:
    """Start ``python -m cmsync ARGS`` in the background, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and module, no shell)
            [sys.executable, "-m", "cmsync", *args],
            cwd=ROOT, env=env(**overrides), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


class SandboxHost:
    """A seeded sandbox on loopback TLS, served from a thread of this process."""

    def __init__(
        self,
        directory: Path,
        *,
        accounts: int,
        density: Density | None = None,
        seed: int = 1,
        daily_api_limit: int = 10_000_000,
    ) -> None:
        self.options = SandboxOptions(
            directory=directory,
            seed=seed,
            accounts=accounts,
            daily_api_limit=daily_api_limit,
            scenario=dense_factory(density) if density is not None else None,
        )
        self._loop = LoopThread()
        self._running: RunningSandbox | None = None
        self.seed_seconds = 0.0

    def __enter__(self) -> SandboxHost:
        self._loop.__enter__()
        started = time.perf_counter()
        try:
            self._running = self._loop.call(start_sandbox(self.options), timeout=1800)
        except BaseException:
            self._loop.__exit__(None, None, None)
            raise
        self.seed_seconds = time.perf_counter() - started
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._running is not None:
            self._loop.call(self._running.stop())
        self._loop.__exit__(exc_type, exc, tb)

    @property
    def sandbox(self) -> RunningSandbox:
        assert self._running is not None, "use SandboxHost in a with block"
        return self._running

    @property
    def config(self) -> Path:
        return self.sandbox.config_file

    @property
    def store_path(self) -> Path:
        return self.sandbox.options.directory.resolve() / "cmsync.db"

    def reset_stats(self) -> None:
        self.sandbox.chartmogul.stats.reset()
        self.sandbox.salesforce.stats.reset()

    def requests(self) -> tuple[Counter[str], Counter[str]]:
        """Requests by endpoint so far: (ChartMogul, Salesforce)."""
        return (
            Counter(self.sandbox.chartmogul.stats.by_endpoint),
            Counter(self.sandbox.salesforce.stats.by_endpoint),
        )

    def written_since(self, since: datetime) -> dict[str, int]:
        """Distinct Salesforce records the integration user wrote at or after ``since``,
        per object: the ground truth the call floors are computed from."""
        store = self.sandbox.salesforce.store
        counts: Counter[str] = Counter()
        with store.lock:
            for name, table in store.tables.items():
                for record in table:
                    stamp = record.get("LastModifiedDate")
                    if (
                        isinstance(stamp, datetime)
                        and stamp >= since
                        and record.get("LastModifiedById") == store.user_id
                    ):
                        counts[name] += 1
        return dict(counts)
