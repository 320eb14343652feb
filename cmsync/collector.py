"""The garbage collector tuned for a sync process: rare collections, start-up objects frozen.

A catch-up allocates millions of short-lived objects (parsed records, rows, effects) that
reference counting frees on its own; the cycle collector, run every 700 net container
allocations by default, still walked them, and ~50 times per 100,000 activities it walked the
whole heap, the imported libraries included: 5 s of a 55 s catch-up (``make bench``). Here the
objects alive once the process has started (modules, classes, settings) are moved out of the
collector's sight (``gc.freeze``), and the youngest generation is collected every 20,000
allocations instead. Cyclic garbage still goes, a little later.
"""

from __future__ import annotations

import gc

__all__ = ["FIRST_GENERATION", "tune_collector"]

FIRST_GENERATION = 20_000  # net container allocations between young collections


def tune_collector() -> None:
    """Call once, after start-up's imports; idempotent."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION, second, third)
