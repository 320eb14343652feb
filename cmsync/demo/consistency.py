"""The demo's verdict: does Salesforce agree with ChartMogul once the daemon has caught up?

Pure: ``check`` compares an ``Observation`` (what both systems and the daemon's store hold,
gathered by ``cmsync.demo.observe``) and lists every difference in words. Three promises are
checked, the ones an operator would lose sleep over:

1. every linked Account holds its customer's UUID, MRR, ARR and status. "Linked" is either
   side's word for it: the daemon's stored link, or a ``CM_Customer_UUID__c`` on the Account;
2. no two Tasks, Cases or Opportunities share a sync key (a retry never doubled a create);
3. every Closed-Won Opportunity has at most one ChartMogul invoice carrying its Id as external
   id, and each one the Closed-Won sync was expected to process has exactly one.

Money is compared in integer cents: Salesforce holds currency as a decimal number, ChartMogul
as cents, and the daemon converts in one place; a rounding slip is a difference too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AccountFigures",
    "ClosedWonDeal",
    "Consistency",
    "CustomerFigures",
    "KeyedRecord",
    "Observation",
    "check",
    "to_cents",
]


@dataclass(frozen=True, slots=True)
class CustomerFigures:
    """A ChartMogul customer as the API shows it now."""

    uuid: str
    mrr_cents: int
    arr_cents: int
    status: str


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The synced fields of one Salesforce Account (None: the field is empty)."""

    account_id: str
    customer_uuid: str | None
    mrr_cents: int | None
    arr_cents: int | None
    status: str | None


@dataclass(frozen=True, slots=True)
class KeyedRecord:
    """A Task, Case or Opportunity cmsync created, with its sync key (External ID)."""

    sobject: str
    record_id: str
    sync_key: str


@dataclass(frozen=True, slots=True)
class ClosedWonDeal:
    """A won Opportunity and how many ChartMogul invoices carry its Id as external id."""

    opportunity_id: str
    invoices: int
    expected: bool  # the Closed-Won sync should have imported it: exactly one invoice


@dataclass(frozen=True)
class Observation:
    customers: Mapping[str, CustomerFigures]  # by uuid
    accounts: Mapping[str, AccountFigures]  # by Account Id
    links: Mapping[str, str]  # the daemon's links: customer uuid -> Account Id
    keyed: Sequence[KeyedRecord] = ()
    deals: Sequence[ClosedWonDeal] = ()


@dataclass(frozen=True)
class Consistency:
    accounts: int  # linked Accounts compared
    keys: int  # keyed records checked
    deals: int  # won Opportunities checked
    differences: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.differences

    def describe(self) -> str:
        checked = (
            f"{self.accounts} linked Accounts, {self.keys} sync keys, "
            f"{self.deals} Closed-Won deals checked"
        )
        if self.ok:
            return f"consistency: OK ({checked})"
        lines = [f"consistency: FAILED, {len(self.differences)} differences ({checked}):"]
        lines.extend(f"  - {difference}" for difference in self.differences)
        return "\n".join(lines)


def to_cents(amount: object) -> int | None:
    """A Salesforce currency value in cents; None for an empty field or a non-number."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    return round(amount * 100)


def _money(cents: int | None) -> str:
    return "empty" if cents is None else f"{cents / 100:.2f}"


def _account_differences(
    account: AccountFigures, customer: CustomerFigures, where: str
) -> list[str]:
    out: list[str] = []
    if account.customer_uuid != customer.uuid:
        out.append(
            f"{where}: CM_Customer_UUID__c is {account.customer_uuid or 'empty'}, "
            f"expected {customer.uuid}"
        )
    for name, held, truth in (
        ("MRR", account.mrr_cents, customer.mrr_cents),
        ("ARR", account.arr_cents, customer.arr_cents),
    ):
        if held != truth:
            out.append(f"{where}: {name} is {_money(held)}, ChartMogul says {_money(truth)}")
    if account.status != customer.status:
        out.append(
            f"{where}: status is {account.status or 'empty'}, ChartMogul says {customer.status}"
        )
    return out


def _linked(observation: Observation) -> tuple[dict[str, str], list[str]]:
    """Account Id -> customer uuid over both kinds of link, and the links that disagree."""
    pairs: dict[str, str] = {}
    out: list[str] = []
    for uuid, account_id in sorted(observation.links.items()):
        if account_id in pairs:
            out.append(f"Account {account_id} is linked to {pairs[account_id]} and {uuid}")
            continue
        pairs[account_id] = uuid
    linked_to = {uuid: account_id for account_id, uuid in pairs.items()}
    for account_id, account in sorted(observation.accounts.items()):
        held = account.customer_uuid
        if held is None or account_id in pairs:
            continue  # a stored link is compared field by field below, UUID included
        elsewhere = linked_to.get(held)
        if elsewhere is not None:
            out.append(f"Account {account_id} holds customer {held}, linked to {elsewhere}")
        else:
            pairs[account_id] = held
            linked_to[held] = account_id
    return pairs, out


def check(observation: Observation) -> Consistency:
    """Every difference between what Salesforce holds and what it should, in words."""
    pairs, differences = _linked(observation)
    for account_id, uuid in sorted(pairs.items()):
        where = f"Account {account_id} (customer {uuid})"
        account = observation.accounts.get(account_id)
        customer = observation.customers.get(uuid)
        if account is None:
            differences.append(f"{where}: linked, but Salesforce has no such Account")
        elif customer is None:
            differences.append(f"{where}: ChartMogul has no such customer")
        else:
            differences.extend(_account_differences(account, customer, where))

    counts = Counter((r.sobject, r.sync_key) for r in observation.keyed)
    for (sobject, key), n in sorted(counts.items()):
        if n > 1:
            ids = sorted(
                r.record_id for r in observation.keyed if (r.sobject, r.sync_key) == (sobject, key)
            )
            differences.append(
                f"{n} {sobject} records share the sync key {key!r}: {', '.join(ids)}"
            )

    for deal in sorted(observation.deals, key=lambda d: d.opportunity_id):
        if deal.invoices > 1:
            differences.append(
                f"Opportunity {deal.opportunity_id}: {deal.invoices} ChartMogul invoices "
                "carry its Id (one at most)"
            )
        elif deal.expected and deal.invoices == 0:
            differences.append(
                f"Opportunity {deal.opportunity_id}: Closed Won, but no ChartMogul invoice "
                "carries its Id"
            )
    return Consistency(
        accounts=len(pairs),
        keys=len(observation.keyed),
        deals=len(observation.deals),
        differences=tuple(differences),
    )
