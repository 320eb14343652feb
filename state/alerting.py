"""Which alerts to send: the conditions observed now, against the alerts already sent.

An operator's chat channel must hear of a problem once, not at every check, and must hear
when it clears; a restarted daemon must do neither twice. So each condition has a key (a job,
the dead letters, the quarantine, a system's budget, another daemon), and the store keeps the
alerts sent and not yet cleared (``alert_sent``, with the ``mark`` each covered). ``decide``
compares:

- a condition active and not yet alerted: its alert;
- a condition whose items are counted (dead letters, quarantine entries) and that has items
  newer than the ``mark`` last alerted: a new alert for those (new dead letters are news even
  while older ones wait);
- an alerted condition no longer active (or no longer observed: a job renamed away): its
  recovery message;
- anything else: nothing.

The caller sends each message and records it (``Sent``) only once the POST succeeded, so a
failed POST is simply decided again at the next check. ``observe`` turns what the store holds
into the conditions, with the budget rule of ``state.verdict``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from state.jobhealth import JobHealthRecord
from state.records import BudgetSnapshot, Heartbeat
from state.verdict import budget_reason

__all__ = ["Condition", "Kind", "Message", "Sent", "decide", "observe"]

DEAD_LETTERS = "dead_letters"
QUARANTINE = "quarantine"
OTHER_DAEMON = "other_daemon"


class Kind(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition as observed now; ``mark`` the newest item it counts (0: none counted)."""

    key: str
    active: bool
    text: str  # what is wrong, in words (when active)
    recovery: str  # what an operator reads when it clears
    mark: int = 0


@dataclass(frozen=True, slots=True)
class Sent:
    """An alert sent and not cleared: what the store keeps per condition."""

    key: str
    mark: int
    text: str


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    kind: Kind
    text: str
    mark: int = 0

    @property
    def sent(self) -> Sent:
        return Sent(self.key, self.mark, self.text)


def decide(conditions: Iterable[Condition], sent: Mapping[str, Sent]) -> list[Message]:
    """The messages to send now, alerts first, each condition at most once."""
    messages: list[Message] = []
    seen: set[str] = set()
    for condition in conditions:
        seen.add(condition.key)
        before = sent.get(condition.key)
        if condition.active:
            if before is None or condition.mark > before.mark:
                messages.append(Message(condition.key, Kind.RAISED, condition.text, condition.mark))
        elif before is not None:
            messages.append(Message(condition.key, Kind.CLEARED, condition.recovery))
    for key, before in sorted(sent.items()):
        if key not in seen:  # a condition no longer watched (a job removed): cleared
            messages.append(Message(key, Kind.CLEARED, f"cleared: {before.text}"))
    return sorted(messages, key=lambda m: (m.kind is Kind.CLEARED, m.key))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def observe(
    *,
    health: Iterable[JobHealthRecord],
    failures_in_a_row: int,
    dead_letters: int,
    newest_dead_letter: int,
    quarantined: int,
    newest_quarantined: int,
    budgets: Iterable[BudgetSnapshot],
    budget_threshold: float,
    other: Heartbeat | None,
) -> list[Condition]:
    """The conditions alerted on, from what the store holds. ``other``: a beat of another
    process found lately in place of the observing daemon's own (another host on a shared
    disk, where the lock does not hold): two daemons write the same store."""
    conditions: list[Condition] = []
    for record in health:
        failing = record.failures >= failures_in_a_row
        conditions.append(
            Condition(
                f"job:{record.job}",
                failing,
                f"job {record.job} failing: {record.failures} failed runs in a row; last "
                f"error: {record.last_error or 'none recorded'}",
                f"job {record.job} runs again",
            )
        )
    conditions.append(
        Condition(
            DEAD_LETTERS,
            dead_letters > 0,
            f"new dead letters: {_plural(dead_letters, 'write')} refused for good wait in the "
            "outbox (cmsync problems list)",
            "no dead letters left",
            newest_dead_letter if dead_letters > 0 else 0,
        )
    )
    conditions.append(
        Condition(
            QUARANTINE,
            quarantined > 0,
            f"new quarantined records: {_plural(quarantined, 'record')} held back "
            "(cmsync problems list)",
            "no quarantined records left",
            newest_quarantined if quarantined > 0 else 0,
        )
    )
    for budget in budgets:
        reason = budget_reason(budget, budget_threshold)
        conditions.append(
            Condition(
                f"budget:{budget.system.value}",
                reason is not None,
                reason or "",
                f"{budget.system.value} API budget back under {budget_threshold:.0%}",
            )
        )
    conditions.append(
        Condition(
            OTHER_DAEMON,
            other is not None,
            "another cmsync beats on this store"
            + (f" (pid {other.pid}, target {other.target})" if other is not None else "")
            + ": two daemons on one store double every write; stop one",
            "only this cmsync beats on its store again",
        )
    )
    return conditions
