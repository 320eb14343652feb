"""The verdict ``cmsync status`` exits with: healthy (0), degraded (1) or down (2).

Cron jobs and monitoring plugins (the Nagios plugin convention that Icinga and Sensu follow
reads 0 as OK, 1 as WARNING, 2 as CRITICAL) act on an exit code, not on text. Down outranks
degraded: a daemon that is not beating syncs nothing, whatever else the store says.

- **down**: no live heartbeat (never started, stopped, or its last beat stale).
- **degraded**: the daemon beats but something needs an operator: a job failing (one failed
  run counts: the daemon logs it as failing from the first), dead letters waiting, the store
  refusing writes, or an API budget nearly spent (``BUDGET_NEARLY_SPENT`` of what cmsync may
  use of the daemon's daily allocation, ``share * max``: at the whole share the dispatcher
  stops writing until the rolling 24 hours free calls again).
- **healthy**: otherwise. Quarantined records and unmatched customers are problems of single
  records, listed by ``cmsync status``, not a reason to page anyone.

Pure: the caller reads the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from state.records import BudgetSnapshot

__all__ = [
    "BUDGET_NEARLY_SPENT",
    "LIVE_STATES",
    "Judgement",
    "Verdict",
    "budget_reason",
    "judge",
]

BUDGET_NEARLY_SPENT = 0.9  # of cmsync's share of the daily allocation
RUNNING = "running"
# The daemon's states (cmsync.status) that mean it is alive: a daemon whose store refuses
# writes cannot beat, but it writes why beside the store and keeps trying.
LIVE_STATES = frozenset({RUNNING, "store unwritable"})


class Verdict(IntEnum):
    """The exit code of ``cmsync status``."""

    HEALTHY = 0
    DEGRADED = 1
    DOWN = 2


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[str, ...]  # in words, each a thing to look at; empty when healthy

    def as_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.name.lower(),
            "exit_code": int(self.verdict),
            "reasons": list(self.reasons),
        }


def budget_reason(budget: BudgetSnapshot, threshold: float = BUDGET_NEARLY_SPENT) -> str | None:
    """Why ``budget`` is nearly spent (``threshold`` of what cmsync may use), None if not;
    the alerts (``state.alerting``) apply the same rule with their own threshold."""
    allowed = budget.max * budget.share
    if allowed <= 0 or budget.used < allowed * threshold:
        return None
    return (
        f"{budget.system.value} API budget nearly spent: {budget.used} of the {int(allowed)} "
        f"calls cmsync may use ({budget.share:.0%} of {budget.max} a day)"
    )


def judge(
    daemon: str,
    failing: Mapping[str, int],
    dead_letters: int,
    budgets: Iterable[BudgetSnapshot],
) -> Judgement:
    """The verdict from the daemon's state, each failing job's count of failed runs in a row,
    the number of dead letters and the API budgets."""
    reasons: list[str] = []
    if daemon not in LIVE_STATES:
        reasons.append(f"daemon {daemon}: no live heartbeat")
    elif daemon != RUNNING:
        reasons.append(f"daemon {daemon}")
    for job, count in sorted(failing.items()):
        if count > 0:
            runs = "run" if count == 1 else "runs in a row"
            reasons.append(f"job {job} failing ({count} failed {runs})")
    if dead_letters:
        reasons.append(f"{dead_letters} dead letter{'' if dead_letters == 1 else 's'}")
    reasons += [r for r in map(budget_reason, budgets) if r is not None]
    if daemon not in LIVE_STATES:
        verdict = Verdict.DOWN
    else:
        verdict = Verdict.DEGRADED if reasons else Verdict.HEALTHY
    return Judgement(verdict, tuple(reasons))
