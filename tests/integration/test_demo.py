"""`cmsync demo` as CI and a newcomer run it: a real process, the whole system inside it.

Headless, it must end with writes, a Closed-Won creation (the business's first event is a won
deal) and a passing consistency check; with the dashboard, it must draw the daemon's store and
stop everything when the dashboard quits.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

from cmsync.pipeline.sync_pass import SyncPass

DEMO = [sys.executable, "-m", "cmsync", "demo"]


def _demo(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _screen(svg: str) -> list[str]:
    """The text lines of a Textual SVG screenshot (each line is split into styled runs)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m[2]), []).append((float(m[1]), html.unescape(m[3])))
    return [
        "".join(t for _, t in sorted(row)).replace("\xa0", " ") for _, row in sorted(rows.items())
    ]


def test_a_headless_run_writes_creates_and_passes_its_consistency_check(tmp_path: Path) -> None:
    done = _demo("--headless", "--duration", "10", "--dir", str(tmp_path), timeout=90)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"^\[\s*\d+s\] \d+ events \| outbox ", out, re.MULTILINE)  # progress
    writes = re.search(r"written to Salesforce: (\d+) writes? to (\d+) records?", out)
    assert writes is not None and int(writes.group(1)) > 0, out
    assert re.search(r"^\s+Account\s+\d+ records?\s+\(update \d+", out, re.MULTILINE), out
    created = re.search(
        r"created in ChartMogul from Closed-Won deals: (\d+) customers?.*, (\d+) invoices?", out
    )
    if hasattr(SyncPass, "closed_won"):
        assert created is not None and int(created.group(2)) >= 1, out
    else:
        assert "the Closed-Won sync is not part of the daemon yet" in out
    assert "simulator error" not in out
    assert re.search(r"^consistency: OK \(\d+ linked Accounts", out, re.MULTILINE), out
    assert (tmp_path / "demo.log").stat().st_size > 0


def test_the_dashboard_shows_the_live_store_and_quitting_stops_everything(
    tmp_path: Path,
) -> None:
    shot = tmp_path / "dashboard.svg"
    done = _demo("--dir", str(tmp_path), "--screenshot", str(shot), "--duration", "9", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"cmsync demo stopped after \d+ events", done.stdout)
    lines = _screen(shot.read_text(encoding="utf-8"))
    assert "target: sandbox" in lines[0] and "daemon:  running" in lines[0], lines[0]
    assert any(re.search(r"│ dispatch\s+\d+s ago\s+ok", line) for line in lines), lines
    assert any(
        re.search(r"SF (Account|Task|Opportunity|Contact|Lead) 00", line) for line in lines
    ), lines
