"""The headless demo's last words: what happened, what was written, created and repaired.

Pure rendering of what ``observe`` read and ``consistency.check`` found; the consistency
verdict comes last, since the exit status is its.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cmsync.demo.consistency import Consistency
from cmsync.demo.events import ActionKind
from cmsync.demo.observe import Creations, StoreActivity

__all__ = ["Outcome", "render"]


@dataclass(frozen=True)
class Outcome:
    seconds: float
    seed: int
    accounts: int
    events: Counter[ActionKind]
    simulator_errors: tuple[str, ...]
    activity: StoreActivity
    creations: Creations
    closed_won_sync: bool  # the daemon has a Closed-Won step
    reconcile_sync: bool  # the daemon has a reconciliation step
    settled: bool  # the daemon ran every poller once more before it stopped
    passes: int  # catch-up passes run after it stopped
    consistency: Consistency


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _events(outcome: Outcome) -> list[str]:
    total = sum(outcome.events.values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in outcome.events.most_common())
    lines = [f"  the business: {_plural(total, 'event')}" + (f": {kinds}" if kinds else "")]
    lines.extend(f"    simulator error: {error}" for error in outcome.simulator_errors)
    return lines


def _writes(activity: StoreActivity) -> list[str]:
    records = sum(len(ids) for ids in activity.records.values())
    lines = [
        f"  written to Salesforce: {_plural(activity.total_writes, 'write')} to "
        f"{_plural(records, 'record')}"
    ]
    for sobject in sorted(activity.records, key=lambda o: -len(activity.records[o])):
        actions = ", ".join(
            f"{action} {n}"
            for (obj, action), n in sorted(activity.writes.items())
            if obj == sobject
        )
        lines.append(
            f"    {sobject:<24}{_plural(len(activity.records[sobject]), 'record'):>12}  ({actions})"
        )
    return lines


def _created(outcome: Outcome) -> str:
    head = "  created in ChartMogul from Closed-Won deals:"
    if not outcome.closed_won_sync:
        return f"{head} nothing (the Closed-Won sync is not part of the daemon yet)"
    made = outcome.creations
    names = f" ({', '.join(made.customers)})" if made.customers else ""
    return (
        f"{head} {_plural(len(made.customers), 'customer')}{names}, "
        f"{_plural(len(made.invoices), 'invoice')}"
    )


def _repaired(outcome: Outcome) -> str:
    if not outcome.reconcile_sync:
        return "  reconciliation: not part of the daemon yet"
    activity = outcome.activity
    return (
        f"  reconciliation: {_plural(activity.reconcile_runs, 'run')}, repaired "
        f"{_plural(len(activity.repaired_records), 'record')} "
        f"({_plural(activity.repaired_fields, 'field')} written)"
    )


def _state(outcome: Outcome) -> list[str]:
    activity, box = outcome.activity, outcome.activity.outbox
    open_items = sum(activity.quarantine.values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(activity.quarantine.items()))
    caught = f"caught up in {_plural(outcome.passes, 'pass')} after the daemon stopped"
    if not outcome.settled:
        caught += " (it had not finished a last round of polls in time)"
    return [
        f"  quarantine: {open_items} open" + (f" ({kinds})" if kinds else ""),
        f"  outbox: {box.pending} pending, {box.in_flight} in flight, {box.dead} dead, "
        f"{box.done or 0} done",
        f"  {caught}",
    ]


def render(outcome: Outcome) -> list[str]:
    """The summary, line by line, ending with the consistency verdict."""
    return [
        f"summary after {outcome.seconds:.0f}s (seed {outcome.seed}, {outcome.accounts} accounts)",
        *_events(outcome),
        *_writes(outcome.activity),
        _created(outcome),
        _repaired(outcome),
        *_state(outcome),
        outcome.consistency.describe(),
    ]
