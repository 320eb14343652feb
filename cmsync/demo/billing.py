"""The billing side of the simulated business, written straight into the ChartMogul emulator.

What a billing system would import through the API, done in-process through the emulator's
own store operations (the same validation the REST handlers apply, under the store's lock):
upgrades and downgrades are an invoice for the current subscription from now with more or
fewer seats or another tier; a failed renewal is an invoice whose payment failed, recovered
later by a successful transaction added to it; churn cancels every paying subscription; a
comeback is a new subscription after churn; a backfill is an add-on invoice dated weeks ago,
which rewrites the customer's history (and its MRR from then on) the way a late import does.
A merge is a duplicate billing profile: the billing system opens a second customer for a paying
one (same name and email), and someone merges the first into it in ChartMogul (``POST
/v1/customers/merges``), so the survivor carries the first one's external id (an Account Id)
and billing, and the first one is gone.

Every method picks its customer with the simulator's ``random.Random`` from a list in a stable
order, so a seed replays the same choices; it returns an ``Action`` saying what it did, or
None when no customer qualifies (the simulator then picks another kind of event).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cmsync.demo.events import Action, ActionKind
from cmsync.sandbox.chartmogul.records import Customer, LineItem, Plan, Subscription
from cmsync.sandbox.chartmogul.store import Store
from cmsync.sandbox.chartmogul.timefmt import from_ts, iso_millis, to_ts
from cmsync.sandbox.clock import SandboxClock
from cmsync.sandbox.scenario.generate import PLANS
from state.periods import add_months, period_end

__all__ = ["RECOVER_AFTER", "Billing", "Person", "add_months"]

TIERS = ("starter_monthly", "growth_monthly", "scale_monthly")  # upgrades climb these
_PRICE = {plan.key: plan.unit_price_cents for plan in PLANS}
RECOVER_AFTER = timedelta(seconds=8)  # a failed payment stays open at least this long
BACKFILL_DAYS = (20, 70)  # how far back a backfilled invoice is dated


def _period_end(start: int, plan: Plan) -> int:
    return to_ts(period_end(from_ts(start), plan.interval_unit, plan.interval_count))


def _account_external_id(customer: Customer) -> str:
    """The external id that names the customer's Account (one a merge carried over to it,
    if any: Salesforce Account Ids start 001), else its own."""
    return next((e for e in customer.external_ids if e.startswith("001")), customer.external_id)


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


@dataclass(frozen=True, slots=True)
class Person:
    """A paying customer as the CRM side needs it: who, and which Account may be theirs."""

    uuid: str
    email: str
    name: str
    external_id: str


@dataclass(frozen=True, slots=True)
class _Failure:
    invoice_uuid: str
    invoice_external_id: str
    customer_uuid: str
    at: datetime


@dataclass(frozen=True, slots=True)
class _Paying:
    customer: Customer
    subscription: Subscription
    item: LineItem  # the line item setting the subscription's MRR now


class Billing:
    """Acts on one data source of the emulator's store; thread-safe through the store's lock."""

    def __init__(self, store: Store, clock: SandboxClock, data_source_uuid: str, prefix: str):
        self.store = store
        self.clock = clock
        self.data_source_uuid = data_source_uuid
        self.prefix = prefix
        self._numbers = itertools.count(1)
        self._failures: list[_Failure] = []

    # --- reading ----------------------------------------------------------------------

    def _customers(self) -> list[Customer]:
        reg = self.store.registry
        return [
            c
            for c in reg.customer_order
            if reg.live_customer(c)
            and c.data_source.uuid == self.data_source_uuid
            and c.timeline is not None
        ]

    def _paying(self, now: int) -> list[_Paying]:
        out: list[_Paying] = []
        for customer in self._customers():
            timeline = customer.timeline
            assert timeline is not None
            if timeline.customer_mrr_at(now) <= 0:
                continue
            for sub in customer.subscriptions.values():
                if sub.index >= len(timeline.subscription_moments):
                    continue
                if timeline.subscription_mrr_at(sub.index, now) <= 0:
                    continue
                items = [
                    i for i in sub.line_items
                    if i.plan is not None and (i.service_period_start or 0) <= now
                ]  # fmt: skip
                if items:
                    latest = max(items, key=lambda i: (i.service_period_start or 0, i.invoice.seq))
                    out.append(_Paying(customer, sub, latest))
        return out

    def _mrr(self, customer: Customer, now: int) -> int:
        return customer.timeline.customer_mrr_at(now) if customer.timeline else 0

    def emails(self) -> set[str]:
        """Every customer's email, case-folded: paying or not, billed or not."""
        reg = self.store.registry
        with self.store.lock:
            return {
                c.email.casefold()
                for c in reg.customer_order
                if c.email and c.uuid in reg.customers
            }

    def paying_people(self) -> list[Person]:
        """Paying customers with an email, in creation order."""
        with self.store.lock:
            now = to_ts(self.clock.now())
            return [
                Person(c.uuid, c.email, c.company or c.name, _account_external_id(c))
                for c in self._customers()
                if c.email and self._mrr(c, now) > 0
            ]

    # --- writing ----------------------------------------------------------------------

    def _plan(self, customer: Customer, key: str) -> Plan | None:
        return self.store.registry.plan_by_external.get((customer.data_source.uuid, key))

    def _import(
        self,
        customer: Customer,
        subscription: str,
        plan: Plan,
        period: tuple[int, int],
        quantity: int,
        amount: int,
        *,
        paid: bool = True,
    ) -> dict[str, Any]:
        external_id = f"{self.prefix}-inv-{next(self._numbers):04d}"
        start, end = period
        currency = customer.invoices[-1].currency if customer.invoices else "USD"
        body = {
            "external_id": external_id,
            "date": iso_millis(start),
            "currency": currency,
            "line_items": [
                {"type": "subscription", "subscription_external_id": subscription,
                 "plan_uuid": plan.uuid, "service_period_start": iso_millis(start),
                 "service_period_end": iso_millis(end), "amount_in_cents": amount,
                 "quantity": quantity, "external_id": f"{external_id}-li1"}
            ],
            "transactions": [
                {"type": "payment", "date": iso_millis(start),
                 "result": "successful" if paid else "failed", "external_id": f"{external_id}-tx1"}
            ],
        }  # fmt: skip
        return self.store.import_invoices(customer.uuid, [body])[0]

    def _change(self, rng: random.Random, kind: ActionKind) -> Action | None:
        """An upgrade or a downgrade: another tier, or more or fewer seats, from now."""
        up = kind is ActionKind.UPGRADE
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            candidates = [p for p in self._paying(now) if up or p.item.quantity > 1]
            if not candidates:
                return None
            pick = rng.choice(candidates)
            plan, quantity = pick.item.plan, pick.item.quantity
            assert plan is not None
            unit = pick.item.amount_in_cents // max(1, quantity)
            tier = TIERS.index(plan.external_id) if plan.external_id in TIERS else None
            step = 1 if up else -1
            other = (
                self._plan(pick.customer, TIERS[tier + step])
                if tier is not None and 0 <= tier + step < len(TIERS)
                else None
            )
            if other is not None and rng.random() < 0.4:
                what = f"{plan.name} -> {other.name}"
                plan, unit = other, _PRICE[other.external_id]
            else:
                new = quantity + rng.randint(1, 5) if up else max(1, quantity - rng.randint(1, 3))
                what = f"{quantity} -> {new} seats on {plan.name}"
                quantity = new
            before = self._mrr(pick.customer, now)
            period = (now, _period_end(now, plan))
            self._import(
                pick.customer,
                pick.subscription.external_id,
                plan,
                period,
                quantity,
                unit * quantity,
            )
            after = self._mrr(pick.customer, now)
        detail = f"{pick.customer.name}: {what} (MRR {_money(before)} -> {_money(after)})"
        return Action(moment, kind, pick.customer.uuid, detail)

    def upgrade(self, rng: random.Random) -> Action | None:
        return self._change(rng, ActionKind.UPGRADE)

    def downgrade(self, rng: random.Random) -> Action | None:
        return self._change(rng, ActionKind.DOWNGRADE)

    def fail_payment(self, rng: random.Random) -> Action | None:
        """A renewal invoice from now whose payment failed (the MRR does not move)."""
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            failing = {f.customer_uuid for f in self._failures}
            candidates = [p for p in self._paying(now) if p.customer.uuid not in failing]
            if not candidates:
                return None
            pick = rng.choice(candidates)
            item, plan = pick.item, pick.item.plan
            assert plan is not None
            period = (now, _period_end(now, plan))
            invoice = self._import(
                pick.customer, pick.subscription.external_id, plan, period,
                item.quantity, item.amount_in_cents, paid=False,
            )  # fmt: skip
            self._failures.append(
                _Failure(invoice["uuid"], invoice["external_id"], pick.customer.uuid, moment)
            )
        detail = f"{pick.customer.name}: renewal of {_money(item.amount_in_cents)} failed"
        return Action(moment, ActionKind.PAYMENT_FAILED, pick.customer.uuid, detail)

    def recover_payment(self, rng: random.Random) -> Action | None:
        """A successful payment added to an invoice whose payment failed a while ago."""
        with self.store.lock:
            moment = self.clock.now()
            due = [f for f in self._failures if moment - f.at >= RECOVER_AFTER]
            if not due:
                return None
            failure = rng.choice(due)
            self._failures.remove(failure)
            body = {"type": "payment", "date": iso_millis(to_ts(moment)), "result": "successful",
                    "external_id": f"{failure.invoice_external_id}-tx2"}  # fmt: skip
            self.store.run(self.store.invoices.add_transaction, failure.invoice_uuid, body)
            name = self.store.registry.customers[failure.customer_uuid].name
        detail = f"{name}: invoice {failure.invoice_external_id} paid after all"
        return Action(moment, ActionKind.PAYMENT_RECOVERED, failure.customer_uuid, detail)

    def churn(self, rng: random.Random) -> Action | None:
        """Every paying subscription of one customer cancelled now."""
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            paying = self._paying(now)
            customers = list({p.customer.uuid: p.customer for p in paying}.values())
            if not customers:
                return None
            customer = rng.choice(customers)
            before = self._mrr(customer, now)
            for p in paying:
                if p.customer is customer:
                    self.store.cancel_subscription(p.subscription.uuid, moment)
        detail = f"{customer.name}: cancelled (MRR {_money(before)} -> 0.00)"
        return Action(moment, ActionKind.CHURN, customer.uuid, detail)

    def reactivate(self, rng: random.Random) -> Action | None:
        """A customer who churned comes back on a new subscription of its last plan."""
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            lapsed: list[tuple[Customer, LineItem]] = []
            for customer in self._customers():
                timeline = customer.timeline
                assert timeline is not None
                if timeline.customer_since is None or timeline.customer_mrr_at(now) > 0:
                    continue
                items = [i for s in customer.subscriptions.values() for i in s.line_items
                         if i.plan is not None and i.amount_in_cents > 0]  # fmt: skip
                if items:
                    lapsed.append((customer, max(items, key=lambda i: i.invoice.seq)))
            if not lapsed:
                return None
            customer, last = rng.choice(lapsed)
            assert last.plan is not None
            subscription = f"{self.prefix}-sub-{next(self._numbers):04d}"
            period = (now, _period_end(now, last.plan))
            self._import(
                customer, subscription, last.plan, period, last.quantity, last.amount_in_cents
            )
            after = self._mrr(customer, now)
        detail = f"{customer.name}: back on {last.plan.name} (MRR 0.00 -> {_money(after)})"
        return Action(moment, ActionKind.REACTIVATION, customer.uuid, detail)

    def backfill(self, rng: random.Random) -> Action | None:
        """An add-on invoice dated weeks ago: the customer's history is rebuilt from then."""
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            one_each = list({p.customer.uuid: p for p in self._paying(now)}.values())
            if not one_each:
                return None
            pick = rng.choice(one_each)
            plan = self._plan(pick.customer, "growth_quarterly") or pick.item.plan
            assert plan is not None
            start = now - rng.randint(*BACKFILL_DAYS) * 86_400
            end = to_ts(add_months(from_ts(start), 3))  # still running today
            quantity = rng.randint(1, 3)
            unit = _PRICE.get(plan.external_id, pick.item.amount_in_cents)
            before = self._mrr(pick.customer, now)
            subscription = f"{self.prefix}-addon-{next(self._numbers):04d}"
            self._import(pick.customer, subscription, plan, (start, end), quantity, unit * quantity)
            after = self._mrr(pick.customer, now)
        detail = (
            f"{pick.customer.name}: add-on invoice backdated to {from_ts(start).date()} "
            f"(MRR {_money(before)} -> {_money(after)}, history rebuilt)"
        )
        return Action(moment, ActionKind.BACKFILL, pick.customer.uuid, detail)

    def merge(self, rng: random.Random) -> Action | None:
        """A paying customer whose external id is its Account's Id gets a duplicate billing
        profile, and is merged into it: the survivor carries its id, billing and history."""
        with self.store.lock:
            moment = self.clock.now()
            now = to_ts(moment)
            candidates = [
                c
                for c in self._customers()
                if c.external_id.startswith("001") and not c.merged and self._mrr(c, now) > 0
            ]
            if not candidates:
                return None
            loser = rng.choice(candidates)
            profile = self.store.customers.create(
                {"data_source_uuid": self.data_source_uuid, "name": loser.name,
                 "external_id": f"{self.prefix}-profile-{next(self._numbers):04d}",
                 "company": loser.company, "email": loser.email, "country": loser.country}
            )  # fmt: skip
            survivor = str(profile["uuid"])
            self.store.customers.merge(
                {"from": {"customer_uuid": loser.uuid}, "into": {"customer_uuid": survivor}}
            )
            after = self._mrr(self.store.customers.get(survivor), now)
        detail = (
            f"{loser.name}: {loser.uuid} merged into its duplicate profile {survivor} "
            f"(MRR {_money(after)} there)"
        )
        return Action(moment, ActionKind.MERGE, survivor, detail)
