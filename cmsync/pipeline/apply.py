"""Applying a batch of signals inside one store transaction: states, effects, applied keys.

Every poller ends a page the same way: load the touched accounts' states, links and already
applied signal keys; run each new signal through the lifecycle machine in order; enqueue the
effects of linked accounts as outbox rows; remember the applied keys and the new states. The
caller adds its cursor to the same transaction, so all of it commits together or not at all.

A customer not linked to an Account yet still moves through the lifecycle (so its stage is
right once it is matched) but its effects are not enqueued: there is nowhere to write them.
Nothing ChartMogul reports is refused: the lifecycle converges on it (``state.lifecycle``,
point 5). A movement is remembered by its key and by its slot (customer, subscription,
moment): one that comes back retyped by ChartMogul's regrouping is applied without raising
anything twice, and the alert of its old type is withdrawn (``cmsync.pipeline.withdraw``).

A signal cmsync fails on (say a figure the store cannot hold) is undone alone and quarantined
as an internal error; the batch's other signals apply and its caller's cursor moves
(``contain``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cmsync.chartmogul.records import record_key
from cmsync.pipeline.accounts import from_state, to_state
from cmsync.pipeline.contain import contained
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.translate import Translator
from cmsync.pipeline.withdraw import settle_withdrawals
from state import OutboxItem, SignalRef, Transaction
from state.effects import Effect
from state.lifecycle import Account, LifecyclePolicy, decide, withdraw_vanished
from state.signals import (
    FailureExpired,
    FirstCycleEnded,
    MovementKind,
    MrrMovement,
    PaymentFailed,
    PaymentRecovered,
    Signal,
    StatusObserved,
    TrialStarted,
)

__all__ = [
    "ApplyStats",
    "apply_signals",
    "signal_from_payload",
    "signal_payload",
    "withdraw_vanished_alerts",
]


@dataclass
class ApplyStats:
    """What a pass did with its signals (summed over pages)."""

    signals: int = 0
    replays: int = 0
    retyped: int = 0
    effects: int = 0
    enqueued: int = 0
    unlinked_effects: int = 0
    quarantined: int = 0  # signals cmsync failed on, undone alone (``contain``)

    def add(self, other: ApplyStats) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


_SIGNAL_TYPES: dict[str, type[Signal]] = {
    cls.__name__: cls
    for cls in (
        MrrMovement, PaymentFailed, PaymentRecovered, FailureExpired, StatusObserved,
        TrialStarted, FirstCycleEnded,
    )
}  # fmt: skip


def signal_from_payload(payload: Mapping[str, object]) -> Signal:
    """The signal a quarantine entry's payload was made from (for an operator's retry of an
    entry that an earlier version quarantined as an illegal transition)."""
    values = dict(payload)
    cls = _SIGNAL_TYPES[str(values.pop("signal"))]
    for name in ("at", "as_of"):
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(str(values[name]))
    if isinstance(values.get("kind"), str):
        values["kind"] = MovementKind(str(values["kind"]))
    return cls(**values)  # type: ignore[arg-type]  # the payload was made from this class


def signal_payload(signal: Signal) -> dict[str, object]:
    """What ``signal_from_payload`` makes the signal again from (JSON-ready)."""
    values: dict[str, object] = {"signal": type(signal).__name__}
    for field in dataclasses.fields(signal):
        value = getattr(signal, field.name)
        values[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def apply_signals(
    tx: Transaction,
    signals: Sequence[Signal],
    *,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    now: datetime,
) -> ApplyStats:
    """Apply ``signals`` (in order) within ``tx``; returns what happened. A signal that fails
    is undone alone and quarantined, and does not count as applied."""

    def work(tx: Transaction, batch: Sequence[Signal]) -> ApplyStats:
        return _apply(tx, batch, context=context, translator=translator, policy=policy, now=now)

    done = contained(
        tx, signals, work,
        key=lambda s: f"Signal:{record_key({'uuid': s.key})}", payload=signal_payload,
    )  # fmt: skip
    stats = ApplyStats(quarantined=done.quarantined)
    for result in done.results:
        stats.add(result)
    return stats


def _apply(
    tx: Transaction,
    signals: Sequence[Signal],
    *,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    now: datetime,
) -> ApplyStats:
    stats = ApplyStats(signals=len(signals))
    if not signals:
        return stats
    today = translator.today() if translator.today is not None else None
    uuids = list(dict.fromkeys(s.customer_uuid for s in signals))
    stored = tx.accounts.get_many(uuids)
    links = tx.links.get_many(uuids)
    refs = [SignalRef(s.customer_uuid, s.key) for s in signals]
    refs.extend(SignalRef(s.customer_uuid, s.slot) for s in signals if isinstance(s, MrrMovement))
    applied = {ref.key for ref in tx.signals.applied(refs)}
    accounts: dict[str, tuple[Account, int]] = {u: from_state(u, stored.get(u)) for u in uuids}
    changed: set[str] = set()
    rows: list[OutboxItem] = []
    effects: list[tuple[str, Effect]] = []  # (Account Id, effect): translated once all are known
    newly: list[SignalRef] = []
    for signal in signals:
        uuid = signal.customer_uuid
        account, revision = accounts[uuid]
        transition = decide(account, signal, applied, now, policy, today=today)
        if transition is None:  # a replay
            stats.replays += 1
            continue
        stats.retyped += transition.retyped
        applied.update(transition.applied)
        newly.extend(SignalRef(uuid, key) for key in transition.applied)
        if transition.account != account:
            accounts[uuid] = (transition.account, revision)
            changed.add(uuid)
        stats.effects += len(transition.effects)
        link = links.get(uuid)
        if link is None:
            stats.unlinked_effects += len(transition.effects)
            continue
        effects.extend((link.account_id, effect) for effect in transition.effects)
    effects = settle_withdrawals(tx, effects)
    targets = context.org.targets(account_id for account_id, _ in effects)
    for account_id, effect in effects:
        rows.extend(translator.rows(effect, targets[account_id]))
    if changed:
        tx.accounts.put_many(
            to_state(accounts[u][0], accounts[u][1], stored.get(u)) for u in sorted(changed)
        )
    tx.signals.mark(newly)
    # Every row's key is its signal's, marked applied just above in this transaction: a
    # replay is skipped before it makes effects, so merged keys need not be kept as well.
    stats.enqueued = tx.outbox.enqueue(rows, remember_merged=False)
    return stats


def withdraw_vanished_alerts(
    tx: Transaction,
    present: Mapping[str, set[tuple[str, datetime]]],
    since: datetime,
    until: datetime,
    *,
    context: SyncContext,
    translator: Translator,
    skip: frozenset[str] = frozenset(),
) -> int:
    """After a full read of the feed between ``since`` and ``until`` (``present``: per
    customer, the (subscription, moment) of every movement it showed), withdraw the alerts
    remembered for movements of that span it no longer shows (``state.lifecycle``, point 6).
    Customers in ``skip`` (an entry of theirs did not parse) are left alone. Returns how many
    effects that made."""
    states = [s for s in tx.accounts.with_memo("raised") if s.customer_uuid not in skip]
    if not states:
        return 0
    links = tx.links.get_many([s.customer_uuid for s in states])
    changed = []
    effects: list[tuple[str, Effect]] = []
    for state in states:
        account, revision = from_state(state.customer_uuid, state)
        transition = withdraw_vanished(
            account, present.get(state.customer_uuid, set()), since, until
        )
        if transition.account == account:
            continue
        changed.append(to_state(transition.account, revision, state))
        link = links.get(state.customer_uuid)
        if link is not None:
            effects.extend((link.account_id, effect) for effect in transition.effects)
    effects = settle_withdrawals(tx, effects)
    targets = context.org.targets(account_id for account_id, _ in effects)
    rows = [row for a, e in effects for row in translator.rows(e, targets[a])]
    tx.accounts.put_many(changed)
    tx.outbox.enqueue(rows)
    return len(effects)
