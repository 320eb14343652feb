"""Why a write happens, in words: golden sentences for every kind of signal and effect, the
outbox row keeping the key beside them, and no generated signal ever said with a key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsync.config import FieldSettings, SyncSettings
from cmsync.pipeline.translate import AccountTarget, Translator
from state.effects import (
    AccountField,
    AlertKind,
    AlertRecord,
    ChurnRiskAlert,
    Effect,
    ExpansionOpportunity,
    MilestoneReached,
    Money,
    Priority,
    UpdateAccount,
    WithdrawAlert,
)
from state.lifecycle import Account, LifecyclePolicy, Stage, apply, decide, withdraw_vanished
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
from state.words import day, drift_words, effect_words, figures_words, money, signal_words

NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)
AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CUS = "cus_82f9a0c4-5b1e-4c36-9d0b-2f1f8c5d7e61"
SUB = "sub_4f1c9e"
POLICY = LifecyclePolicy(milestones_cents=(100_000,))
ACCOUNT_ID = "001Dn000000Acme1AAA"


def mv(
    kind: MovementKind, delta: int, mrr: int, plan: str = "pro", currency: str | None = "USD"
) -> MrrMovement:
    return MrrMovement(CUS, AT, kind, SUB, delta, mrr, plan, currency=currency)


SIGNALS: list[tuple[Signal, str | None, str]] = [
    (
        mv(MovementKind.CONTRACTION, -12_000, 32_000),
        None,
        "contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)",
    ),
    (mv(MovementKind.CHURN, -32_000, 0), None, "churn of $320.00/mo on 7 Dec 2026 (ChartMogul)"),
    (
        mv(MovementKind.EXPANSION, 5_000, 15_000),
        "basic",
        "expansion of $50.00/mo on 7 Dec 2026 with a plan change from basic to pro (ChartMogul)",
    ),
    (
        mv(MovementKind.NEW_BIZ, 125_000, 125_000, currency="CHF"),
        None,
        "new business of CHF 1,250.00/mo on 7 Dec 2026 (ChartMogul)",
    ),
    (
        mv(MovementKind.REACTIVATION, 7_500, 7_500, currency="gbp"),
        None,
        "reactivation of £75.00/mo on 7 Dec 2026 (ChartMogul)",
    ),
    (
        mv(MovementKind.CONTRACTION, -12_000, 32_000, currency=None),
        None,
        "contraction of 120.00/mo on 7 Dec 2026 (ChartMogul)",
    ),
    (
        PaymentFailed(CUS, AT, "INV-1042", 4_900, "EUR"),
        None,
        "payment failed on invoice INV-1042 (€49.00, 7 Dec 2026)",
    ),
    (
        PaymentRecovered(CUS, AT, "INV-1042", 4_900, "EUR"),
        None,
        "payment recovered on invoice INV-1042 (€49.00, 7 Dec 2026)",
    ),
    (
        FailureExpired(CUS, AT, "INV-1042"),
        None,
        "failed payment on invoice INV-1042 expired on 7 Dec 2026: no longer a churn risk",
    ),
    (
        StatusObserved(CUS, AT, "Past Due", None),
        None,
        "status change: ChartMogul shows the customer as Past Due",
    ),
    (TrialStarted(CUS, AT), None, "trial started on 7 Dec 2026 (ChartMogul)"),
    (FirstCycleEnded(CUS, AT), None, "first billing period ended on 7 Dec 2026"),
]


@pytest.mark.parametrize(("signal", "plan_before", "words"), SIGNALS)
def test_every_kind_of_signal_is_said_in_words(
    signal: Signal, plan_before: str | None, words: str
) -> None:
    assert signal_words(signal, plan_before) == words


def test_money_and_days_are_short_and_unambiguous() -> None:
    assert money(-123_450, "usd") == "-$1,234.50"
    assert money(5, "JPY") == "JPY 0.05"  # the amount as ChartMogul states it, in cents
    assert money(100_000) == "1,000.00"
    assert day(datetime(2027, 1, 3, 23, 59, tzinfo=UTC)) == "3 Jan 2027"


def _active(**kw: object) -> Account:
    base: dict[str, object] = {
        "stage": Stage.ACTIVE,
        "mrr_cents": 44_000,
        "plan": "pro",
        "first_cycle_done": True,
        "as_of": AT - timedelta(days=30),
    }
    return Account(CUS, **{**base, **kw})  # type: ignore[arg-type]


def _words(effects: tuple[Effect, ...]) -> dict[str, str]:
    return {type(e).__name__: e.words for e in effects}


def test_a_contraction_says_why_on_the_update_and_on_the_owners_task() -> None:
    done = apply(_active(), mv(MovementKind.CONTRACTION, -12_000, 32_000), NOW, POLICY)
    assert _words(done.effects) == {
        "UpdateAccount": "contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)",
        "ChurnRiskAlert": (
            "Task for the owner: contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)"
        ),
    }


def test_a_downgrade_names_both_plans() -> None:
    done = apply(_active(), mv(MovementKind.CONTRACTION, -12_000, 32_000, "basic"), NOW, POLICY)
    [alert] = [e for e in done.effects if isinstance(e, ChurnRiskAlert)]
    assert alert.kind is AlertKind.DOWNGRADE
    assert alert.words == (
        "Task for the owner: contraction of $120.00/mo on 7 Dec 2026 with a plan change from "
        "pro to basic (ChartMogul)"
    )


def test_a_failed_payment_names_its_invoice() -> None:
    failed = PaymentFailed(CUS, AT, "INV-1042", 4_900, "USD")
    assert _words(apply(_active(), failed, NOW, POLICY).effects) == {
        "UpdateAccount": "payment failed on invoice INV-1042 ($49.00, 7 Dec 2026)",
        "ChurnRiskAlert": (
            "Task for the owner: payment failed on invoice INV-1042 ($49.00, 7 Dec 2026)"
        ),
    }


def test_an_upgrade_and_a_milestone_say_their_amounts() -> None:
    account = _active(mrr_cents=90_000, plan="basic")
    done = apply(account, mv(MovementKind.EXPANSION, 20_000, 110_000), NOW, POLICY)
    assert _words(done.effects) == {
        "UpdateAccount": (
            "expansion of $200.00/mo on 7 Dec 2026 with a plan change from basic to pro "
            "(ChartMogul)"
        ),
        "ExpansionOpportunity": (
            "upgrade Opportunity (+$2,400.00 ARR) for the expansion of $200.00/mo on 7 Dec 2026 "
            "with a plan change from basic to pro (ChartMogul)"
        ),
        "MilestoneReached": "MRR reached $1,100.00 on 7 Dec 2026, past the $1,000.00 milestone",
    }


def test_churn_and_status_changes_on_the_update() -> None:
    churned = apply(_active(), mv(MovementKind.CHURN, -44_000, 0), NOW, POLICY)
    assert _words(churned.effects)["UpdateAccount"] == (
        "churn of $440.00/mo on 7 Dec 2026 (ChartMogul)"
    )
    seen = StatusObserved(CUS, NOW, "Cancelled", AT)
    [update] = apply(_active(), seen, NOW, POLICY).effects
    assert update.words == "status change: ChartMogul shows the customer as Cancelled"


def test_a_withdrawn_alert_says_what_chartmogul_did_with_its_movement() -> None:
    churn = mv(MovementKind.CHURN, -44_000, 0)
    first = decide(_active(), churn, set(), NOW, POLICY)
    assert first is not None
    retyped = mv(MovementKind.CONTRACTION, -40_000, 4_000)
    again = decide(first.account, retyped, set(first.applied), NOW, POLICY)
    assert again is not None
    [withdrawn] = [e for e in again.effects if isinstance(e, WithdrawAlert)]
    assert withdrawn.words == (
        "Task withdrawn: ChartMogul regrouped the churn of 7 Dec 2026 into a contraction"
    )
    assert withdrawn.reason == retyped.key  # the key stays, in the idempotency key
    gone = withdraw_vanished(first.account, set(), AT - timedelta(hours=1), NOW)
    [vanished] = gone.effects
    assert vanished.words == (
        "Task withdrawn: the churn of 7 Dec 2026 is no longer in ChartMogul's activities"
    )


def test_effects_built_without_words_are_still_said_in_words() -> None:
    """Whatever builds an effect outside the lifecycle, its row never shows a key."""
    bare: list[tuple[Effect, str]] = [
        (
            UpdateAccount.of(
                CUS, {AccountField.MRR: Money(100), AccountField.STAGE: "active"}, "k"
            ),
            "MRR, stage from ChartMogul",
        ),
        (
            ChurnRiskAlert(
                CUS,
                "cmsync:churn:ab12",
                AlertKind.CHURN,
                AlertRecord.CASE,
                Priority.HIGH,
                AT.date(),
                "s",
                "d",
                Money(44_000),
            ),
            "Case for the owner: churn, 440.00 MRR at stake",
        ),
        (
            ExpansionOpportunity(CUS, "cmsync:expansion:ab", Money(60_000), AT.date(), "n", "d"),
            "upgrade Opportunity (+600.00 ARR) for the expansion on 7 Dec 2026",
        ),
        (
            MilestoneReached(CUS, "cmsync:milestone:ab", Money(100_000), Money(101_000), AT, "s"),
            "MRR reached 1,010.00 on 7 Dec 2026, past the 1,000.00 milestone",
        ),
        (
            WithdrawAlert(CUS, "Task", "cmsync:churn:ab12", "vanished|mrr|x", "d"),
            "Task withdrawn: ChartMogul regrouped its movement",
        ),
    ]
    assert [effect_words(e) for e, _ in bare] == [words for _, words in bare]


def test_drift_and_figures_are_said_with_the_field_and_both_values() -> None:
    assert drift_words([("CM_MRR__c", 320.0, 360.0)]) == (
        "drift: CM_MRR__c was 320.00, ChartMogul says 360.00"
    )
    assert drift_words([("CM_Status__c", None, "Active"), ("CM_ARR__c", 1200, 4320.5)]) == (
        "drift: CM_Status__c was empty, ChartMogul says Active; "
        "CM_ARR__c was 1,200.00, ChartMogul says 4,320.50"
    )
    assert figures_words("Acme Corp") == "MRR, ARR and status of Acme Corp as ChartMogul has them"


def test_the_outbox_row_shows_the_words_and_keeps_the_key() -> None:
    translator = Translator(FieldSettings(), SyncSettings())
    signal = mv(MovementKind.CONTRACTION, -12_000, 32_000)
    done = apply(_active(), signal, NOW, POLICY)
    rows = [r for e in done.effects for r in translator.rows(e, AccountTarget(ACCOUNT_ID))]
    assert [(r.target_object, r.reason) for r in rows] == [
        ("Account", "contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)"),
        ("Task", "Task for the owner: contraction of $120.00/mo on 7 Dec 2026 (ChartMogul)"),
    ]
    assert rows[0].idempotency_key == f"fields|{signal.key}|{ACCOUNT_ID}"


# --- no generated signal is ever said with a key ------------------------------------------

_IDS = st.text("0123456789abcdef", min_size=8, max_size=12)
_MOMENTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 8), timezones=st.just(UTC)
)
_CURRENCIES = st.sampled_from([None, "USD", "EUR", "GBP", "CHF"])
_PLANS = st.sampled_from([None, "basic", "pro", "enterprise"])


@st.composite
def _signals(draw: st.DrawFn, customer: str) -> Signal:
    at = draw(_MOMENTS)
    cents = st.integers(-10_000_000, 10_000_000)
    invoice = "INV-" + draw(st.text("0123456789", min_size=1, max_size=6))
    choice = draw(st.integers(0, 6))
    match choice:
        case 0:
            return MrrMovement(
                customer, at, draw(st.sampled_from(list(MovementKind))),
                "sub_" + draw(_IDS), draw(cents), draw(st.integers(0, 10_000_000)),
                draw(_PLANS), currency=draw(_CURRENCIES),
            )  # fmt: skip
        case 1:
            return PaymentFailed(customer, at, invoice, draw(cents), draw(_CURRENCIES))
        case 2:
            return PaymentRecovered(customer, at, invoice, draw(cents), draw(_CURRENCIES))
        case 3:
            return FailureExpired(customer, at, invoice)
        case 4:
            status = draw(st.sampled_from(["Active", "Past Due", "Cancelled", "Lead"]))
            return StatusObserved(customer, at, status, draw(st.none() | _MOMENTS))
        case 5:
            return TrialStarted(customer, at)
    return FirstCycleEnded(customer, at)


@settings(max_examples=150, deadline=None)
@given(
    customer=_IDS.map(lambda h: f"cus_{h}"),
    stage=st.sampled_from(list(Stage)),
    mrr=st.integers(0, 10_000_000),
    plan=_PLANS,
    data=st.data(),
)
def test_no_generated_signal_or_effect_is_said_with_a_key(
    customer: str, stage: Stage, mrr: int, plan: str | None, data: st.DataObject
) -> None:
    signals = data.draw(st.lists(_signals(customer), min_size=1, max_size=4))
    account = Account(customer, stage=stage, mrr_cents=mrr, plan=plan)
    translator = Translator(FieldSettings(), SyncSettings())
    applied: set[str] = set()
    for signal in signals:
        done = decide(account, signal, applied, NOW, POLICY)
        if done is None:
            continue
        applied.update(done.applied)
        account = done.account
        said = [signal_words(signal)]
        for effect in done.effects:
            assert effect.words, effect
            said += [r.reason for r in translator.rows(effect, AccountTarget(ACCOUNT_ID))]
        for words in said:
            assert words and "|" not in words and "cus_" not in words, words
            assert "sub_" not in words and "cmsync:" not in words, words
            assert "_" not in words.replace("INV-", ""), words  # no enum value, no id
