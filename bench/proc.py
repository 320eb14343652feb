"""A process's memory as the kernel counts it (``/proc/<pid>/status``).

``VmHWM`` is the high-water mark of the process's own address space, which ``exec`` starts
afresh; ``ru_maxrss`` is not: a child inherits the peak of the process it was forked from
(here the benchmark, which hosts a seeded sandbox), so it cannot measure cmsync.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["status_mb"]


def status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM of a live process, in MB (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024  # kB
    return found
