"""The account lifecycle: a pure ``decide`` and ``apply`` over one static ``transitions`` table.

Theory of operation. An account (one ChartMogul customer) is in one ``Stage``: lead, trial,
new (its first paid period), active, at_risk, churned. Signals (``state.signals``) move it:

1. ``decide(account, signal, applied, now, policy)`` is what the pipeline runs every signal
   of a page through (``cmsync.pipeline.apply``): a signal whose key was applied before is a
   replay and changes nothing (None); a movement whose slot (customer, subscription, moment)
   was applied under another key is a retyped one (point 6); the transition it returns names
   the keys to remember as applied. ``apply`` folds the signal into the account's facts (MRR,
   plan, open failed invoices, downgrade/contraction flags, first cycle done), then asks the
   table which stage follows from the current one. Where several stages may follow
   (``_settle``), the first whose condition holds wins: at_risk when a risk is open, new while
   in the first cycle, else active. A signal the table does not foresee converges (point 5);
   a movement that leaves no MRR does not start an account that was not paying.
2. The table is ONE module-level ``transitions.Machine`` with no registered models; its
   events are triggered on a throwaway plain object carrying the stage and the conditions,
   and each answer is kept (``_destination``: it depends on those four values alone).
   Registering 100,000 accounts would make ``transitions`` quadratic, and the store's rows
   cannot be its models, so the machine is the legality table, nothing more.
3. Effects are planned from (before, after, signal): field updates for what changed, and, for
   signals within ``policy.alert_horizon`` of ``now``, a churn-risk Task/Case, an expansion
   Opportunity or a milestone note. A first sync over two years of history thus sets every
   field right without burying owners in stale Tasks.
4. A movement dated before the newest one already applied (ChartMogul back-dates activities
   when it rebuilds a history) does not move the stage: it only emits its alert, if recent.
   Payments and the end of the first cycle are not ordered that way (see ``_late``).
5. Nothing ChartMogul says is refused. ChartMogul is the source of truth for revenue, and it
   rebuilds histories (back-dated imports), regroups movements of one customer within an
   hour (Smart Activity Classification, help article 4416682609426: two subscriptions bought
   30 minutes apart are two ``new_biz``, an hour-old ``churn`` becomes a ``contraction`` when
   the customer buys again) and reports movements late. So a signal the table does not
   foresee (an expansion for a churned account, a second ``new_biz`` for a paying one, a
   contraction for a lead) *converges* (``_converge``): the stage follows what the movement
   leaves behind, paying when its resulting MRR is positive, churned after a ``churn``, and a
   customer whose MRR falls to zero without a churn stays where it was (Free Customer
   Handling, help article 15384089786524: free and paused customers stay Active). The
   customer record then settles anything left (``StatusObserved``). Alerts are raised only
   where they still mean something: no churn-risk alert for an account that was not paying,
   none for a late churn the account has already come back from, and no Opportunity for a
   ``new_biz`` that a regrouping made of an expansion. Quarantine is kept for what an operator
   can act on. Replays never reach ``apply``: ``decide`` drops signals whose key was applied.
6. An alert is withdrawn when its movement is regrouped away. Each churn-risk alert and
   expansion Opportunity raised for a movement is remembered (``Raised``) while the movement
   is within the alert horizon. A movement that comes back *retyped* (its slot applied under
   another key) withdraws the alert of its old type when its new type would not raise the
   same kind of record (a churn that became a contraction closes the churn Task; a
   contraction whose amount changed keeps its Task) and raises nothing itself: its alert, if
   any, was raised under its first type. A movement that *vanished* (the re-read of the
   horizon no longer shows it, ``withdraw_vanished``) withdraws its alert too. An expansion
   Opportunity that other expansions of its day still stand on keeps their amount instead.

No I/O, no clock: ``now`` is a parameter, and the result is a new ``Account`` plus effects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from transitions import Machine, MachineError

from state.effects import (
    AccountField,
    AlertKind,
    AlertRecord,
    ChurnRiskAlert,
    Effect,
    ExpansionOpportunity,
    FieldValue,
    MilestoneReached,
    Money,
    Priority,
    UpdateAccount,
    WithdrawAlert,
)
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
from state.words import signal_words, withdrawal_words, worded

__all__ = [
    "Account",
    "LifecyclePolicy",
    "Raised",
    "Risk",
    "Stage",
    "Transition",
    "apply",
    "decide",
    "withdraw_vanished",
]


class Stage(StrEnum):
    LEAD = "lead"
    TRIAL = "trial"
    NEW = "new"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    CHURNED = "churned"


class Risk(StrEnum):
    NONE = "None"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


@dataclass(frozen=True, slots=True)
class Raised:
    """An alert raised for a movement, remembered while a regrouping may still take it away
    (point 6): the movement's place and key, and the record it made."""

    subscription: str
    at: datetime
    key: str  # the movement's signal key
    kind: MovementKind
    record: str  # "Task", "Case" or "Opportunity"
    sync_key: str
    arr_cents: int = 0  # an Opportunity's share of its day's amount


@dataclass(frozen=True)
class Account:
    """Everything the machine knows about one customer."""

    customer_uuid: str
    stage: Stage = Stage.LEAD
    mrr_cents: int = 0
    plan: str | None = None
    customer_since: datetime | None = None
    first_cycle_done: bool = False
    failures: tuple[tuple[str, datetime], ...] = ()  # (invoice, when) of open failed payments
    downgraded: bool = False
    contracted: bool = False
    as_of: datetime | None = None  # date of the newest signal applied
    expansion_day: tuple[str, int] | None = None  # (opportunity sync key, ARR cents so far)
    raised: tuple[Raised, ...] = ()  # alerts of movements within the alert horizon

    @property
    def failed_invoices(self) -> frozenset[str]:
        return frozenset(invoice for invoice, _ in self.failures)

    @property
    def risk(self) -> Risk:
        if self.stage is Stage.CHURNED:
            return Risk.NONE
        if self.failures:
            return Risk.HIGH
        if self.downgraded:
            return Risk.MEDIUM
        if self.contracted:
            return Risk.LOW
        return Risk.NONE


_ACCOUNT_FIELDS = frozenset(f.name for f in fields(Account))


def _copy(account: Account, /, **changes: Any) -> Account:
    """``dataclasses.replace(account, **changes)``, at a fraction of its cost: every signal of
    a catch-up folds into a copy of its account, and ``replace`` walks the fields and goes
    through the frozen ``__init__`` (an ``object.__setattr__`` per field), together about a
    tenth of the lifecycle's time (``make bench``). ``Account`` has no ``__post_init__`` and
    no field outside ``__init__``, so its attributes with the changes over them are the
    object ``replace`` would build."""
    unknown = changes.keys() - _ACCOUNT_FIELDS
    if unknown:
        raise TypeError(f"Account has no field {sorted(unknown)}")
    copied = object.__new__(Account)
    copied.__dict__.update(account.__dict__)
    copied.__dict__.update(changes)
    return copied


@dataclass(frozen=True)
class LifecyclePolicy:
    """The knobs of the lifecycle, from configuration."""

    milestones_cents: tuple[int, ...] = (100_000, 500_000, 1_000_000)
    alert_records: Mapping[AlertKind, AlertRecord] = field(default_factory=dict)
    high_priority_cents: int = 50_000  # MRR at stake at or above this: High
    low_priority_cents: int = 5_000  # below this: Low
    due_days: int = 3
    alert_horizon: timedelta = timedelta(days=7)

    def record_for(self, kind: AlertKind) -> AlertRecord:
        return self.alert_records.get(kind, AlertRecord.TASK)

    def priority_for(self, at_stake_cents: int) -> Priority:
        if at_stake_cents >= self.high_priority_cents:
            return Priority.HIGH
        if at_stake_cents < self.low_priority_cents:
            return Priority.LOW
        return Priority.NORMAL


@dataclass(frozen=True)
class Transition:
    account: Account
    effects: tuple[Effect, ...]
    # Said by ``decide``: the keys that count as applied from now on (the signal's, and a
    # movement's slot the first time it is seen), and whether the movement was a retyped one.
    applied: tuple[str, ...] = ()
    retyped: bool = False


# --- the machine: a legality table -------------------------------------------------------

_PAYING = [Stage.NEW.value, Stage.ACTIVE.value, Stage.AT_RISK.value]


def _settle(trigger: str, sources: list[str]) -> list[dict[str, Any]]:
    """Transitions whose destination depends on the account: first matching condition wins."""
    return [
        {"trigger": trigger, "source": sources, "dest": Stage.AT_RISK.value, "conditions": "risky"},
        {"trigger": trigger, "source": sources, "dest": Stage.NEW.value, "conditions": "in_cycle1"},
        {"trigger": trigger, "source": sources, "dest": Stage.ACTIVE.value},
    ]


_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "trial_started", "source": Stage.LEAD.value, "dest": Stage.TRIAL.value},
    *_settle("new_biz", [Stage.LEAD.value, Stage.TRIAL.value]),
    *_settle("expansion", _PAYING),
    *_settle("contraction", _PAYING),
    *_settle("payment_failed", _PAYING),
    *_settle("payment_recovered", _PAYING),
    *_settle("failure_expired", _PAYING),
    *_settle("first_cycle_ended", _PAYING),
    # A payment on an account that is not paying (yet, or any more) changes no stage.
    *(
        {"trigger": trigger, "source": stage.value, "dest": stage.value}
        for trigger in ("payment_failed", "payment_recovered", "failure_expired")
        for stage in (Stage.LEAD, Stage.TRIAL, Stage.CHURNED)
    ),
    {"trigger": "churn", "source": _PAYING, "dest": Stage.CHURNED.value},
    # Several subscriptions cancelled at one moment: a churn movement each.
    {"trigger": "churn", "source": Stage.CHURNED.value, "dest": Stage.CHURNED.value},
    # The customer record says paying / cancelled where the movement that said so was missed.
    *_settle("observed_paying", [Stage.LEAD.value, Stage.TRIAL.value, Stage.CHURNED.value]),
    {"trigger": "observed_cancelled", "source": _PAYING, "dest": Stage.CHURNED.value},
    *_settle("reactivation", [Stage.CHURNED.value]),
]

MACHINE = Machine(
    model=None,
    states=[s.value for s in Stage],
    transitions=_TRANSITIONS,
    initial=None,
    auto_transitions=False,
)


class _Probe:
    """The throwaway object the machine's events run on (never registered as a model)."""

    def __init__(self, stage: Stage, risky: bool, in_cycle1: bool) -> None:
        self.state = stage.value
        self.risky = risky
        self.in_cycle1 = in_cycle1


def _trigger(signal: Signal) -> str:
    match signal:
        case MrrMovement():
            return signal.kind.value
        case PaymentFailed():
            return "payment_failed"
        case PaymentRecovered():
            return "payment_recovered"
        case FailureExpired():
            return "failure_expired"
        case StatusObserved():
            return "observed_paying" if signal.paying else "observed_cancelled"
        case TrialStarted():
            return "trial_started"
        case FirstCycleEnded():
            return "first_cycle_ended"


@cache
def _destination(stage: Stage, trigger: str, risky: bool, in_cycle1: bool) -> Stage | None:
    """The machine's answer (None: illegal). The machine has no callbacks and its conditions
    read only the probe, so the answer depends on these four values alone and is asked once:
    an event through ``transitions`` cost as much as the rest of applying a signal."""
    probe = _Probe(stage, risky, in_cycle1)
    try:
        MACHINE.events[trigger].trigger(probe)
    except MachineError:
        return None
    return Stage(probe.state)


_PAYING_STAGES = frozenset({Stage.NEW, Stage.ACTIVE, Stage.AT_RISK})


def _next_stage(account: Account, folded: Account, signal: Signal) -> Stage:
    if (
        isinstance(signal, MrrMovement)
        and signal.mrr_cents <= 0
        and signal.kind is not MovementKind.CHURN
        and account.stage not in _PAYING_STAGES
    ):
        return account.stage  # nothing paid after it: no start, whatever its type
    trigger = _trigger(signal)
    risky, in_cycle1 = folded.risk is not Risk.NONE, not folded.first_cycle_done
    stage = _destination(account.stage, trigger, risky, in_cycle1)
    if stage is None:
        return _converge(account, folded, signal)
    return stage


def _settled(folded: Account) -> Stage:
    """The paying stage the account's facts imply (the machine's ``_settle`` order)."""
    if folded.risk is not Risk.NONE:
        return Stage.AT_RISK
    return Stage.ACTIVE if folded.first_cycle_done else Stage.NEW


def _converge(account: Account, folded: Account, signal: Signal) -> Stage:
    """The stage after a signal the table does not foresee: what ChartMogul now says (point 5).

    A movement decides by what it leaves: a positive MRR is a paying stage, a churn is
    churned, and a fall to zero without a churn keeps the stage (a free customer is not
    churned). Other signals cannot say more than the stage already does, except a trial
    starting for a churned customer and a cancelled status for one never seen paying.
    """
    match signal:
        case MrrMovement(kind=MovementKind.CHURN):
            return Stage.CHURNED
        case MrrMovement() if signal.mrr_cents > 0:
            return _settled(folded)
        case TrialStarted() if account.stage is Stage.CHURNED:
            return Stage.TRIAL
        case StatusObserved(paying=False):
            return Stage.CHURNED
        case _:
            return account.stage


# --- folding a signal into the account's facts -------------------------------------------


def _plan_changed(account: Account, signal: MrrMovement) -> bool:
    return bool(signal.plan and account.plan and signal.plan != account.plan)


def _fold(account: Account, signal: Signal) -> Account:
    paying = account.stage in _PAYING_STAGES
    match signal:
        case MrrMovement(kind=MovementKind.NEW_BIZ | MovementKind.REACTIVATION) if paying:
            # Another subscription of a paying customer that ChartMogul typed as the start of
            # its business (regrouped within the hour): more MRR, no fresh start.
            return _copy(account, mrr_cents=signal.mrr_cents, plan=signal.plan or account.plan)
        case MrrMovement(kind=MovementKind.NEW_BIZ | MovementKind.REACTIVATION):
            return _copy(
                account,
                mrr_cents=signal.mrr_cents,
                plan=signal.plan or account.plan,
                customer_since=account.customer_since or signal.at,
                failures=(),
                downgraded=False,
                contracted=False,
            )
        case MrrMovement(kind=MovementKind.EXPANSION):
            return _copy(
                account,
                mrr_cents=signal.mrr_cents,
                plan=signal.plan or account.plan,
                # an expansion for an account not seen paying: a start that was missed
                customer_since=account.customer_since or (None if paying else signal.at),
                downgraded=False,
                contracted=False,
            )
        case MrrMovement(kind=MovementKind.CONTRACTION):
            downgrade = _plan_changed(account, signal)
            return _copy(
                account,
                mrr_cents=signal.mrr_cents,
                plan=signal.plan or account.plan,
                # a contraction for an account not seen paying tells of no risk (point 5)
                downgraded=account.downgraded or (paying and downgrade),
                contracted=account.contracted or (paying and not downgrade),
            )
        case MrrMovement(kind=MovementKind.CHURN):
            return _copy(
                account,
                mrr_cents=signal.mrr_cents,
                failures=(),
                downgraded=False,
                contracted=False,
            )
        case PaymentFailed():
            kept = tuple(f for f in account.failures if f[0] != signal.invoice)
            return _copy(account, failures=(*kept, (signal.invoice, signal.at)))
        case PaymentRecovered() | FailureExpired():
            return _copy(
                account, failures=tuple(f for f in account.failures if f[0] != signal.invoice)
            )
        case FirstCycleEnded():
            return _copy(account, first_cycle_done=True)
        case StatusObserved(paying=True):
            return _copy(account, customer_since=account.customer_since or signal.at)
        case StatusObserved():
            return _copy(account, failures=(), downgraded=False, contracted=False)
        case TrialStarted():
            return account
    raise AssertionError(f"unhandled signal {signal!r}")  # pragma: no cover


# --- planning effects --------------------------------------------------------------------


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _field_changes(
    before: Account, after: Account, signal: Signal
) -> dict[AccountField, FieldValue]:
    changes: dict[AccountField, FieldValue] = {}
    if after.stage is not before.stage:
        changes[AccountField.STAGE] = after.stage.value
    if after.risk is not before.risk:
        changes[AccountField.CHURN_RISK] = after.risk.value
    if isinstance(signal, MrrMovement):
        changes[AccountField.MRR] = Money(after.mrr_cents)
        changes[AccountField.ARR] = Money(after.mrr_cents * 12)
        changes[AccountField.LAST_ACTIVITY] = signal.at
        if after.plan and after.plan != before.plan:
            changes[AccountField.PLAN] = after.plan
    if after.customer_since and after.customer_since != before.customer_since:
        changes[AccountField.CUSTOMER_SINCE] = after.customer_since.date()
    return changes


def _alert(
    before: Account, signal: Signal, now: datetime, policy: LifecyclePolicy, today: date | None
) -> ChurnRiskAlert | None:
    # The Task's due date is a Salesforce date: from the org's "today" when the caller knows
    # it (its Date headers), not from a VM clock that may be a day off.
    due = (today or now.date()) + timedelta(days=policy.due_days)
    late = before.as_of is not None and signal.at < before.as_of
    match signal:
        case MrrMovement(kind=MovementKind.CHURN) if before.stage is Stage.CHURNED:
            return None  # the same churn, on another subscription: one alert is enough
        case MrrMovement(kind=MovementKind.CHURN | MovementKind.CONTRACTION) if (
            before.stage not in _PAYING_STAGES
        ):
            return None  # nothing at risk that the owner knew of (point 5)
        case MrrMovement(kind=MovementKind.CHURN) if late and before.mrr_cents > 0:
            return None  # a churn the account has already come back from (point 5)
        case MrrMovement(kind=MovementKind.CONTRACTION | MovementKind.CHURN):
            if signal.kind is MovementKind.CHURN:
                kind = AlertKind.CHURN
            elif _plan_changed(before, signal):
                kind = AlertKind.DOWNGRADE
            else:
                kind = AlertKind.CONTRACTION
            at_stake = abs(signal.movement_cents)
            plan_note = (
                f" Plan {before.plan} -> {signal.plan}." if kind is AlertKind.DOWNGRADE else ""
            )
            evidence = (
                f"ChartMogul {signal.kind.value} on {signal.at.date().isoformat()}: MRR "
                f"{_money(before.mrr_cents)} -> {_money(signal.mrr_cents)} "
                f"({_money(signal.movement_cents)}) on subscription {signal.subscription or '-'}."
                f"{plan_note} {signal.description}".rstrip()
            )
        case PaymentFailed():
            kind = AlertKind.PAYMENT_FAILED
            at_stake = before.mrr_cents
            evidence = (
                f"Payment of {_money(signal.amount_cents)} failed on "
                f"{signal.at.date().isoformat()} for invoice {signal.invoice}; "
                f"the account's MRR is {_money(before.mrr_cents)}."
            )
        case _:
            return None
    titles = {
        AlertKind.CONTRACTION: "MRR contraction",
        AlertKind.DOWNGRADE: "Plan downgrade",
        AlertKind.PAYMENT_FAILED: "Failed payment",
        AlertKind.CHURN: "Customer churned",
    }
    return ChurnRiskAlert(
        customer_uuid=signal.customer_uuid,
        sync_key=f"cmsync:{kind.value}:{_short(signal.key)}",
        kind=kind,
        record=policy.record_for(kind),
        priority=policy.priority_for(at_stake),
        due=due,
        subject=f"Churn risk: {titles[kind]} ({_money(at_stake)} MRR at stake)",
        description=evidence,
        mrr_at_stake=Money(at_stake),
    )


def _short(key: str) -> str:
    """A stable, length-bounded form of a signal key for External ID fields (80 chars)."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _expansion(
    before: Account, signal: MrrMovement, day_key: str, amount_cents: int
) -> ExpansionOpportunity:
    upgrade = _plan_changed(before, signal)
    title = f"Upgrade {before.plan} -> {signal.plan}" if upgrade else "Expansion"
    return ExpansionOpportunity(
        customer_uuid=signal.customer_uuid,
        sync_key=day_key,
        amount=Money(amount_cents),
        close_date=signal.at.date(),
        name=f"{title} (+{_money(amount_cents)} ARR)",
        description=(
            f"ChartMogul expansion on {signal.at.date().isoformat()}: MRR "
            f"{_money(before.mrr_cents)} -> {_money(signal.mrr_cents)} on subscription "
            f"{signal.subscription or '-'}. {signal.description}"
        ).rstrip(),
    )


def _milestones(
    before: Account, after: Account, signal: Signal, policy: LifecyclePolicy
) -> list[MilestoneReached]:
    return [
        MilestoneReached(
            customer_uuid=after.customer_uuid,
            sync_key=f"cmsync:milestone:{_short(after.customer_uuid + '|' + str(m))}",
            milestone=Money(m),
            mrr=Money(after.mrr_cents),
            at=signal.at,
            subject=f"MRR milestone: {_money(m)} reached ({_money(after.mrr_cents)} MRR)",
        )
        for m in sorted(policy.milestones_cents)
        if before.mrr_cents < m <= after.mrr_cents
    ]


def _events(
    before: Account,
    after: Account,
    signal: Signal,
    now: datetime,
    policy: LifecyclePolicy,
    retyped: bool = False,
    today: date | None = None,
) -> tuple[list[Effect], tuple[str, int] | None]:
    """Alerts, opportunities and milestones for a recent signal; the new expansion_day.

    A retyped movement (see ``apply``) raises nothing: its alert, if any, was raised under
    its first type."""
    effects: list[Effect] = []
    expansion_day = after.expansion_day
    if retyped or now - signal.at > policy.alert_horizon:
        return effects, expansion_day
    alert = _alert(before, signal, now, policy, today)
    if alert is not None:
        effects.append(alert)
    if isinstance(signal, MrrMovement) and signal.kind is MovementKind.EXPANSION:
        day_key = "cmsync:expansion:" + _short(
            f"{signal.customer_uuid}|{signal.subscription}|{signal.at.date().isoformat()}"
        )
        previous = before.expansion_day
        so_far = previous[1] if previous and previous[0] == day_key else 0
        amount = so_far + signal.movement_cents * 12
        effects.append(_expansion(before, signal, day_key, amount))
        expansion_day = (day_key, amount)
    effects.extend(_milestones(before, after, signal, policy))
    return effects, expansion_day


# --- withdrawing the alerts of movements regrouped away (point 6) --------------------------

_REGROUPING = (
    "ChartMogul regrouped this movement with the customer's others within the hour (Smart "
    "Activity Classification)"
)


def _alert_family(kind: MovementKind) -> str | None:
    """The kind of record a movement of ``kind`` raises (None: none)."""
    match kind:
        case MovementKind.CHURN:
            return "churn"
        case MovementKind.CONTRACTION:
            return "contraction"  # a downgrade too: decided by the plans, not the type
        case MovementKind.EXPANSION:
            return "expansion"
        case _:
            return None


def _remembered(
    after: Account, signal: Signal, effects: list[Effect], now: datetime, policy: LifecyclePolicy
) -> tuple[Raised, ...]:
    """``after.raised`` with the alerts ``signal`` raised, and without those past the horizon."""
    kept = tuple(r for r in after.raised if now - r.at <= policy.alert_horizon)
    if not isinstance(signal, MrrMovement):
        return kept
    new = [
        Raised(
            signal.subscription,
            signal.at,
            signal.key,
            signal.kind,
            effect.record.value if isinstance(effect, ChurnRiskAlert) else "Opportunity",
            effect.sync_key,
            signal.movement_cents * 12 if isinstance(effect, ExpansionOpportunity) else 0,
        )
        for effect in effects
        if isinstance(effect, ChurnRiskAlert | ExpansionOpportunity)
    ]
    return (*kept, *new) if new else kept


def _take_back(
    account: Account, gone: list[Raised], why: str, reason: str, now: MovementKind | None
) -> tuple[Account, list[Effect]]:
    """Withdraw the alerts of ``gone``; an Opportunity other raised expansions of its day
    still stand on is brought down to their amount instead of closed."""
    left = tuple(r for r in account.raised if r not in gone)
    effects: list[Effect] = []
    expansion_day = account.expansion_day
    for r in gone:
        what = (
            f"the {r.kind.value} of {r.at.date().isoformat()} on subscription "
            f"{r.subscription or '-'}"
        )
        standing = sum(o.arr_cents for o in left if o.sync_key == r.sync_key)
        if expansion_day and expansion_day[0] == r.sync_key:
            expansion_day = (r.sync_key, standing)
        if r.record == "Opportunity" and standing > 0:
            effects.append(
                ExpansionOpportunity(
                    customer_uuid=account.customer_uuid,
                    sync_key=r.sync_key,
                    amount=Money(standing),
                    close_date=r.at.date(),
                    name=f"Expansion (+{_money(standing)} ARR)",
                    description=f"{_REGROUPING}: {what} {why}; the day's other expansions stand.",
                    words=withdrawal_words(r.record, r.kind, r.at, now, _money(standing)),
                )
            )
            continue
        effects.append(
            WithdrawAlert(
                customer_uuid=account.customer_uuid,
                record=r.record,
                sync_key=r.sync_key,
                reason=reason,
                description=f"Withdrawn by cmsync. {_REGROUPING}: {what} {why}.",
                words=withdrawal_words(r.record, r.kind, r.at, now),
            )
        )
    return _copy(account, raised=left, expansion_day=expansion_day), effects


def _retyped(account: Account, signal: MrrMovement) -> tuple[Account, list[Effect]]:
    """The alerts raised for the old type of a retyped movement, withdrawn where its new type
    would not raise the same kind of record; the others now stand for the new key."""
    place = (signal.subscription, signal.at)
    old = [r for r in account.raised if (r.subscription, r.at) == place and r.key != signal.key]
    if not old:
        return account, []
    family = _alert_family(signal.kind)
    gone = [r for r in old if _alert_family(r.kind) != family]
    kept = tuple(
        replace(r, key=signal.key, kind=signal.kind) if r in old and r not in gone else r
        for r in account.raised
    )
    account = _copy(account, raised=kept)
    if not gone:
        return account, []
    return _take_back(account, gone, f"is now a {signal.kind.value}", signal.key, signal.kind)


def withdraw_vanished(
    account: Account,
    present: Container[tuple[str, datetime]],
    since: datetime,
    until: datetime,
) -> Transition:
    """Withdraw the alerts of movements dated strictly between ``since`` and ``until`` that
    a full read of that part of the feed no longer shows (``present``: its (subscription,
    moment) pairs for this customer): regrouped into another movement, or undone within the
    hour, they are gone from ChartMogul (point 6)."""
    gone = [
        r for r in account.raised if since < r.at < until and (r.subscription, r.at) not in present
    ]
    if not gone:
        return Transition(account, ())
    effects: list[Effect] = []
    for r in gone:
        after, withdrawn = _take_back(
            account, [r], "is no longer in ChartMogul's activities", f"vanished|{r.key}", None
        )
        account = after
        effects.extend(withdrawn)
    return Transition(account, tuple(effects))


# --- the entry points --------------------------------------------------------------------


def _late(account: Account, signal: Signal) -> bool:
    """A movement older than the newest one applied: history, not news (see point 4).

    Only movements are ordered: payments fold into a set of open invoices and the first cycle
    into a flag, whatever order they arrive in, so they are never late.
    """
    moves = isinstance(signal, MrrMovement | TrialStarted)
    return moves and account.as_of is not None and signal.at < account.as_of


def apply(
    account: Account,
    signal: Signal,
    now: datetime,
    policy: LifecyclePolicy,
    *,
    retyped: bool = False,
    today: date | None = None,
) -> Transition:
    """The account after ``signal``, and the effects to write; never refuses (point 5).

    ``today``: Salesforce's date, for the due dates of the Tasks raised (``now``'s if None).

    ``retyped``: a movement of the same customer, subscription and moment was applied under
    another type or amount (ChartMogul regrouped it within the hour): its facts are folded
    in, nothing is raised a second time, and the alert of its old type is withdrawn where the
    new type would not raise the same kind of record (point 6)."""
    withdrawn: list[Effect] = []
    if retyped and account.raised and isinstance(signal, MrrMovement):
        account, withdrawn = _retyped(account, signal)
    if _late(account, signal):
        effects, expansion_day = _events(account, account, signal, now, policy, retyped, today)
        raised = account.raised
        if effects or raised:
            raised = _remembered(account, signal, effects, now, policy)
        late = _copy(account, expansion_day=expansion_day, raised=raised)
        return Transition(late, (*withdrawn, *(worded(e, signal, account.plan) for e in effects)))
    folded = _fold(account, signal)
    stage = _next_stage(account, folded, signal)
    as_of = signal.at if isinstance(signal, MrrMovement | TrialStarted) else account.as_of
    # Copied only when something changed: a catch-up applies every signal of the feed, and
    # copies of the account were a measurable part of that (``make bench``).
    after = folded
    if (stage, as_of) != (folded.stage, folded.as_of):
        after = _copy(folded, stage=stage, as_of=as_of)
    effects, expansion_day = _events(account, after, signal, now, policy, retyped, today)
    if expansion_day != after.expansion_day:
        after = _copy(after, expansion_day=expansion_day)
    if effects or after.raised:
        raised = _remembered(after, signal, effects, now, policy)
        if raised != after.raised:
            after = _copy(after, raised=raised)
    changes = _field_changes(account, after, signal)
    planned: list[Effect] = [*withdrawn]
    if changes:
        words = signal_words(signal, account.plan)
        planned.append(UpdateAccount.of(account.customer_uuid, changes, signal.key, words))
    planned.extend(worded(e, signal, account.plan) for e in effects)
    return Transition(after, tuple(planned))


def decide(
    account: Account,
    signal: Signal,
    applied: Container[str],
    now: datetime,
    policy: LifecyclePolicy,
    *,
    today: date | None = None,
) -> Transition | None:
    """``apply`` unless the signal's key was applied before (a replay): then None. A movement
    whose ``slot`` was applied under another key is a retyped one (see ``apply``). The
    transition names the keys its caller remembers as applied (``Transition.applied``): the
    signal's, and a movement's slot unless it was applied already."""
    if signal.key in applied:
        return None
    retyped = isinstance(signal, MrrMovement) and signal.slot in applied
    done = apply(account, signal, now, policy, retyped=retyped, today=today)
    keys: tuple[str, ...] = (signal.key,)
    if isinstance(signal, MrrMovement) and not retyped:
        keys = (signal.key, signal.slot)
    return Transition(done.account, done.effects, keys, retyped)
