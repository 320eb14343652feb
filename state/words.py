"""Why a write happens, in words an account manager understands.

The live feed, the audit trail and the outbox say why each write was made. Their keys
(``mrr|<customer>|<subscription>|contraction|<moment>|-12000``) are what makes a write
idempotent, and they stay where they are (the outbox row's idempotency key, the audit row's
``keys``); what a person reads is said here, from the typed signal or effect, never by
parsing a key: "contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)", "payment failed on
invoice INV-1042 ($49.00, 3 Dec 2026)", "drift: CM_MRR__c was 320.00, ChartMogul says 360.00".

Money is in the ChartMogul account's currency, as ChartMogul states it on the activity or
invoice the signal was read from (a symbol for the common ones, the ISO code otherwise, the
bare amount when no currency is known). Dates are the day, the month's short name and the
year: "7 Dec 2026" reads the same in every locale, where 07/12 does not, and a first pass over
two years of history needs the year. Customer uuids never appear: the record the write is
for is beside the words already; an invoice's id does, since that is what the owner chases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from state.effects import (
    AccountField,
    AlertKind,
    ChurnRiskAlert,
    Effect,
    ExpansionOpportunity,
    MilestoneReached,
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

__all__ = [
    "day",
    "drift_words",
    "effect_words",
    "figures_words",
    "money",
    "signal_words",
    "withdrawal_words",
    "worded",
]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_NOUNS = {
    MovementKind.NEW_BIZ: "new business",
    MovementKind.EXPANSION: "expansion",
    MovementKind.CONTRACTION: "contraction",
    MovementKind.CHURN: "churn",
    MovementKind.REACTIVATION: "reactivation",
}
_ALERT_TITLES = {
    AlertKind.CONTRACTION: "MRR contraction",
    AlertKind.DOWNGRADE: "plan downgrade",
    AlertKind.PAYMENT_FAILED: "failed payment",
    AlertKind.CHURN: "churn",
}
_FIELD_NAMES = {
    AccountField.CUSTOMER_UUID: "ChartMogul link",
    AccountField.MRR: "MRR",
    AccountField.ARR: "ARR",
    AccountField.PLAN: "plan",
    AccountField.STATUS: "status",
    AccountField.CUSTOMER_SINCE: "customer since",
    AccountField.STAGE: "stage",
    AccountField.CHURN_RISK: "churn risk",
    AccountField.LAST_ACTIVITY: "last activity",
    AccountField.URL: "ChartMogul page",
}
_VALUE_CHARS = 60  # a drifting value longer than this is cut: the record holds the whole


def money(cents: int, currency: str | None = None) -> str:
    """``-$1,234.50``, ``CHF 99.00``; the bare amount when the currency is not known."""
    sign = "-" if cents < 0 else ""
    amount = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    if not currency:
        return f"{sign}{amount}"
    code = currency.upper()
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{code} {amount}"


# English month abbreviations, as ``%b`` gives them in the C locale Python runs in: by table,
# because ``strftime`` was most of the words of every field update of a catch-up.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(at: date | datetime) -> str:
    """``7 Dec 2026``: unambiguous in any locale, and short."""
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year}"


def _movement(signal: MrrMovement, plan_before: str | None) -> str:
    amount = money(abs(signal.movement_cents), signal.currency)
    said = f"{_NOUNS[signal.kind]} of {amount}/mo on {day(signal.at)}"
    if plan_before and signal.plan and signal.plan != plan_before:
        said += f" with a plan change from {plan_before} to {signal.plan}"
    return f"{said} (ChartMogul)"


def signal_words(signal: Signal, plan_before: str | None = None) -> str:
    """What happened, as the owner of the account would say it. ``plan_before``: the plan
    the customer was on, to name a plan change (the movement knows only the plan after)."""
    match signal:
        case MrrMovement():
            return _movement(signal, plan_before)
        case PaymentFailed():
            paid = money(signal.amount_cents, signal.currency)
            return f"payment failed on invoice {signal.invoice} ({paid}, {day(signal.at)})"
        case PaymentRecovered():
            paid = money(signal.amount_cents, signal.currency)
            return f"payment recovered on invoice {signal.invoice} ({paid}, {day(signal.at)})"
        case FailureExpired():
            return (
                f"failed payment on invoice {signal.invoice} expired on {day(signal.at)}: "
                "no longer a churn risk"
            )
        case StatusObserved():
            return f"status change: ChartMogul shows the customer as {signal.status}"
        case TrialStarted():
            return f"trial started on {day(signal.at)} (ChartMogul)"
        case FirstCycleEnded():
            return f"first billing period ended on {day(signal.at)}"
    raise AssertionError(f"unhandled signal {signal!r}")  # pragma: no cover


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def withdrawal_words(
    record: str,
    kind: MovementKind,
    at: datetime,
    now: MovementKind | None,
    standing: str | None = None,
) -> str:
    """An alert taken back because ChartMogul regrouped its movement into one of kind ``now``
    (None: the movement is gone from its activities); ``standing``: the amount an expansion
    Opportunity keeps for the day's other expansions, when it is brought down, not closed."""
    what = f"the {_NOUNS[kind]} of {day(at)}"
    done = f"{record} withdrawn"
    if standing is not None:
        done = f"{record} brought down to +{standing} ARR"
    if now is None:
        return f"{done}: {what} is no longer in ChartMogul's activities"
    return f"{done}: ChartMogul regrouped {what} into {_a(_NOUNS[now])}"


def _fields(effect: UpdateAccount) -> str:
    return ", ".join(_FIELD_NAMES[name] for name, _ in effect.fields)


def effect_words(
    effect: Effect, cause: Signal | None = None, plan_before: str | None = None
) -> str:
    """Why ``effect`` is written: its own words if the lifecycle gave it some, else said from
    ``cause`` (the signal it follows) or, lacking one, from the effect itself."""
    if effect.words:
        return effect.words
    said = signal_words(cause, plan_before) if cause is not None else ""
    currency = (
        cause.currency
        if isinstance(cause, MrrMovement | PaymentFailed | PaymentRecovered)
        else None
    )
    match effect:
        case UpdateAccount():
            return said or f"{_fields(effect)} from ChartMogul"
        case ChurnRiskAlert():
            if not said:
                at_stake = money(effect.mrr_at_stake.cents, currency)
                said = f"{_ALERT_TITLES[effect.kind]}, {at_stake} MRR at stake"
            return f"{effect.record.value} for the owner: {said}"
        case ExpansionOpportunity():
            amount = money(effect.amount.cents, currency)
            said = said or f"expansion on {day(effect.close_date)}"
            return f"upgrade Opportunity (+{amount} ARR) for the {said}"
        case MilestoneReached():
            return (
                f"MRR reached {money(effect.mrr.cents, currency)} on {day(effect.at)}, past the "
                f"{money(effect.milestone.cents, currency)} milestone"
            )
        case WithdrawAlert():
            return f"{effect.record} withdrawn: ChartMogul regrouped its movement"
    raise AssertionError(f"unhandled effect {effect!r}")  # pragma: no cover


def worded(effect: Effect, cause: Signal, plan_before: str | None = None) -> Effect:
    """``effect`` carrying its words (``effect_words``), kept beside its key."""
    if effect.words:
        return effect
    return replace(effect, words=effect_words(effect, cause, plan_before))


def figures_words(customer: str | None) -> str:
    """A customer's figures written again from its ChartMogul record (a refresh, a link)."""
    whose = f" of {customer}" if customer else ""
    return f"MRR, ARR and status{whose} as ChartMogul has them"


def _value(value: object) -> str:
    match value:
        case None | "":
            return "empty"
        case bool():
            return "yes" if value else "no"
        case int() | float() | Decimal():
            return f"{value:,.2f}"
        case _:
            text = str(value)
            return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def drift_words(fields: Iterable[tuple[str, object, object]]) -> str:
    """``drift: CM_MRR__c was 320.00, ChartMogul says 360.00`` for (field, held, wanted)
    triples: what Salesforce held and what it is set back to. Field API names, since that is
    what an admin finds on the page layout."""
    said = "; ".join(
        f"{name} was {_value(held)}, ChartMogul says {_value(want)}" for name, held, want in fields
    )
    return f"drift: {said}"
