"""A seeded, realistic company as plain data (pure: same seed and ``now``, same scenario).

Each Account gets a link kind that decides how its ChartMogul customer can be found: most are
matchable (stored link, external id, a Contact's email, the website domain) and some are traps
(one email on two Accounts, no email, free-mail addresses, customers with no Account, unicode,
quotes and backslashes). Every kind appears at least once once there are ten or more accounts.
Each customer gets up to two years of billing history: new business, seat and plan upgrades,
downgrades, failed payments (most recovered), churn, reactivation, and some customers whose
renewal invoice never came (Past Due).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import replace
from datetime import date, datetime, timedelta

from cmsync.sandbox.scenario import names
from cmsync.sandbox.scenario.model import (
    IMPORT_SOURCE,
    PAYPAL_SOURCE,
    AccountPlan,
    ContactPlan,
    CustomerPlan,
    InvoicePlan,
    LeadPlan,
    LineItemPlan,
    LinkKind,
    OpportunityPlan,
    PlanSpec,
    Scenario,
    UserPlan,
)

__all__ = ["FREE_PLAN", "PLANS", "add_months", "generate"]

PLANS = (
    PlanSpec("starter_monthly", "Starter", 1, "month", 2_900),
    PlanSpec("growth_monthly", "Growth", 1, "month", 7_900),
    PlanSpec("scale_monthly", "Scale", 1, "month", 19_900),
    PlanSpec("growth_quarterly", "Growth Quarterly", 3, "month", 21_300),
    PlanSpec("pro_annual", "Pro Annual", 1, "year", 90_000),
)
# A free plan: its customers stay Active with zero MRR and are never churned (Free Customer
# Handling, help article 15384089786524). Not among the plans paying customers pick from.
FREE_PLAN = PlanSpec("free_monthly", "Free", 1, "month", 0)
_PLAN = {p.key: p for p in (*PLANS, FREE_PLAN)}
_MONTHLY_TIERS = ("starter_monthly", "growth_monthly", "scale_monthly")

# Share of accounts per link kind; None is an Account with no ChartMogul customer.
_LINK_WEIGHTS: tuple[tuple[LinkKind | None, int], ...] = (
    (LinkKind.LINKED, 25),
    (LinkKind.EXTERNAL_ID, 14),
    (LinkKind.CONTACT_EMAIL, 20),
    (LinkKind.DOMAIN, 12),
    (LinkKind.AMBIGUOUS, 4),
    (LinkKind.NO_EMAIL, 4),
    (LinkKind.FREEMAIL, 6),
    (None, 15),
)


def add_months(moment: datetime, months: int) -> datetime:
    """Same day-of-month ``months`` later (days are kept at or below 28 by construction)."""
    index = moment.month - 1 + months
    return moment.replace(year=moment.year + index // 12, month=index % 12 + 1)


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = "".join(c if c.isalnum() else "-" for c in folded.lower())
    return "-".join(part for part in slug.split("-") if part) or "company"


def _local_part(first: str, last: str) -> str:
    # Apostrophes survive on purpose: o'brien@... is a valid address and a SOQL trap.
    folded = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


class _Builder:
    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.users: list[UserPlan] = []
        self.accounts: list[AccountPlan] = []
        self.contacts: list[ContactPlan] = []
        self.leads: list[LeadPlan] = []
        self.opportunities: list[OpportunityPlan] = []
        self.customers: list[CustomerPlan] = []
        self.domains: dict[str, str] = {}
        self.first_contact: dict[str, ContactPlan] = {}
        self.customer_of: dict[str, CustomerPlan] = {}
        self.account_name: dict[str, str] = {}
        self.used_names: set[str] = set()

    def person(self) -> tuple[str, str]:
        return self.rng.choice(names.FIRST_NAMES), self.rng.choice(names.LAST_NAMES)

    def company_name(self, index: int) -> str:
        if index % 11 == 5:
            base = names.TRAP_COMPANY_NAMES[(index // 11) % len(names.TRAP_COMPANY_NAMES)]
        else:
            base = " ".join(
                (
                    self.rng.choice(names.NAME_ADJECTIVES),
                    self.rng.choice(names.NAME_NOUNS),
                    self.rng.choice(names.NAME_SUFFIXES),
                )
            )
        name, n = base, 1
        while name in self.used_names:
            n += 1
            name = f"{base} {n}"
        self.used_names.add(name)
        return name

    def link_kinds(self, count: int) -> list[LinkKind | None]:
        kinds: list[LinkKind | None] = [k for k, _ in _LINK_WEIGHTS] if count >= 10 else []
        population = [k for k, _ in _LINK_WEIGHTS]
        weights = [w for _, w in _LINK_WEIGHTS]
        kinds += self.rng.choices(population, weights, k=count - len(kinds))
        self.rng.shuffle(kinds)
        return kinds

    def build_users(self) -> None:
        roles = ["rep"] * 4 + ["csm"] * 2
        for i, role in enumerate(roles, start=1):
            first, last = self.person()
            email = f"{_local_part(first, last)}.{role}{i}@cmsync-demo.example"
            self.users.append(UserPlan(f"user-{i}", first, last, email))

    def build_account(self, index: int, link: LinkKind | None) -> AccountPlan:
        key = f"acct-{index:05d}"
        name = self.company_name(index)
        domain = f"{_ascii_slug(name)}-{index}.example"
        with_site = link is LinkKind.DOMAIN or self.rng.random() < 0.85
        website = self.rng.choice(("https://www.", "http://", "https://")) + domain
        self.domains[key] = domain
        reps = [u.key for u in self.users[:4]]
        csms = [u.key for u in self.users[4:]]
        account = AccountPlan(
            key=key,
            name=name,
            website=website if with_site else None,
            owner=self.rng.choice(reps),
            success_manager=self.rng.choice(csms) if self.rng.random() < 0.4 else None,
            country=self.rng.choice(names.COUNTRIES),
            link=link,
        )
        self.accounts.append(account)
        for c in range(self.rng.randint(1, 3)):
            first, last = self.person()
            email = f"{_local_part(first, last)}@{domain}" if self.rng.random() < 0.95 else None
            if c == 0 and email is None:
                email = f"{_local_part(first, last)}@{domain}"
            contact = ContactPlan(f"{key}-c{c}", key, first, last, email)
            self.contacts.append(contact)
            self.first_contact.setdefault(key, contact)
        self.account_name[key] = name
        return account

    def customer_email(self, account: AccountPlan, index: int) -> str | None:
        domain = self.domains[account.key]
        first_contact = self.first_contact[account.key]
        match account.link:
            case LinkKind.LINKED | LinkKind.CONTACT_EMAIL:
                return first_contact.email
            case LinkKind.DOMAIN:
                return f"billing@{domain}"
            case LinkKind.AMBIGUOUS:
                shared = f"finance@{domain}"
                other = self.accounts[(index * 7 + 3) % len(self.accounts)].key
                if other == account.key:
                    other = self.accounts[0].key if index else self.accounts[-1].key
                for owner in {account.key, other}:
                    first, last = self.person()
                    self.contacts.append(
                        ContactPlan(f"{owner}-shared{index}", owner, first, last, shared)
                    )
                return shared
            case LinkKind.NO_EMAIL:
                return None
            case _:  # EXTERNAL_ID and FREEMAIL: a personal address that matches nothing
                first, last = self.person()
                return (
                    f"{_local_part(first, last)}{index}@{self.rng.choice(names.FREEMAIL_DOMAINS)}"
                )

    def history(
        self, key: str
    ) -> tuple[tuple[InvoicePlan, ...], tuple[tuple[str, datetime], ...], datetime | None]:
        rng, now = self.rng, self.now
        roll = rng.random()
        if roll < 0.05:  # a lead: no trial, no invoice
            return (), (), None
        if roll < 0.10:  # on a free trial that started recently
            return (), (), now - timedelta(days=rng.randint(1, 13))
        months_ago = rng.randint(1, 24)
        start = add_months(now.replace(day=rng.randint(1, 28), hour=0, minute=0, second=0,
                                       microsecond=0), -months_ago)  # fmt: skip
        if start > now:
            start = add_months(start, -1)
        plan = rng.choices(PLANS, weights=(30, 30, 10, 12, 18))[0]
        quantity = rng.randint(1, 12)
        sub_n = 1
        invoices: list[InvoicePlan] = []
        cancellations: list[tuple[str, datetime]] = []
        period_start = start
        first = True
        while period_start <= now:
            subscription = f"{key}-sub-{sub_n}"
            if not first:
                r = rng.random()
                if r < 0.06:  # upgrade: a bigger monthly tier or more seats
                    if plan.key in _MONTHLY_TIERS[:-1] and rng.random() < 0.5:
                        plan = _PLAN[_MONTHLY_TIERS[_MONTHLY_TIERS.index(plan.key) + 1]]
                    else:
                        quantity += rng.randint(1, 5)
                elif r < 0.10:  # downgrade: a smaller tier or fewer seats
                    if plan.key in _MONTHLY_TIERS[1:] and rng.random() < 0.5:
                        plan = _PLAN[_MONTHLY_TIERS[_MONTHLY_TIERS.index(plan.key) - 1]]
                    elif quantity > 1:
                        quantity = max(1, quantity - rng.randint(1, 3))
                elif r < 0.13:  # churn, and perhaps come back months later
                    cancellations.append((subscription, period_start))
                    if rng.random() < 0.4:
                        period_start = add_months(period_start, rng.randint(1, 6))
                        sub_n += 1
                        first = True
                        continue
                    break
            first = False
            end = add_months(period_start, plan.period_months)
            pay = rng.random()
            payment = "successful" if pay >= 0.06 else ("recovered" if pay < 0.045 else "failed")
            item = LineItemPlan(
                subscription=subscription,
                plan=plan.key,
                start=period_start,
                end=end,
                quantity=quantity,
                amount_cents=plan.unit_price_cents * quantity,
            )
            number = len(invoices) + 1
            invoices.append(InvoicePlan(f"{key}-inv-{number:03d}", period_start, (item,), payment))
            period_start = end
        if not cancellations and len(invoices) > 2 and rng.random() < 0.04:
            invoices.pop()  # the renewal never came: Past Due, MRR kept
        return tuple(invoices), tuple(cancellations), None

    def build_customer(self, index: int, account: AccountPlan | None, link: LinkKind) -> None:
        key = f"cus-{index:05d}"
        if account is not None:
            email = self.customer_email(account, index)
            name, company, country = account.name, account.name, account.country
        else:
            company = self.company_name(index + 1_000_000)
            email = f"ops@{_ascii_slug(company)}-x{index}.example"
            name, country = company, self.rng.choice(names.COUNTRIES)
        invoices, cancellations, trial = self.history(key)
        first_seen = invoices[0].date if invoices else self.now
        lead_created = first_seen - timedelta(days=self.rng.randint(5, 60))
        customer = CustomerPlan(
            key=key,
            account=account.key if account else None,
            link=link,
            name=name,
            company=company,
            email=email,
            country=country,
            lead_created_at=lead_created,
            free_trial_started_at=trial or (lead_created + timedelta(days=2)),
            invoices=invoices,
            cancellations=cancellations,
            # One customer in twelve bills through PayPal, the slow source (by index, so the
            # random stream, and with it every other choice, stays what it was).
            source=PAYPAL_SOURCE.key if index % 12 == 5 else IMPORT_SOURCE.key,
        )
        self.customers.append(customer)
        if account is not None:
            self.customer_of[account.key] = customer

    def build_free_customer(self, index: int) -> None:
        """A customer on the free plan since a month ago, renewed monthly; drawn without the
        random generator, so the rest of the scenario is the same with or without it."""
        key = f"cus-{index:05d}"
        start = add_months(self.now.replace(hour=0, minute=0, second=0, microsecond=0), -1)
        items = (
            LineItemPlan(f"{key}-sub-1", FREE_PLAN.key, start, add_months(start, 1), 1, 0),
            LineItemPlan(f"{key}-sub-1", FREE_PLAN.key, add_months(start, 1),
                         add_months(start, 2), 1, 0),
        )  # fmt: skip
        self.customers.append(
            CustomerPlan(
                key=key,
                account=None,
                link=LinkKind.CM_ONLY,
                name="Freeloader Labs",
                company="Freeloader Labs",
                email=f"ops@freeloader-x{index}.example",
                country="US",
                lead_created_at=start - timedelta(days=3),
                free_trial_started_at=None,
                invoices=tuple(
                    InvoicePlan(f"{key}-inv-{n:03d}", item.start, (item,), "successful")
                    for n, item in enumerate(items, 1)
                    if item.start <= self.now
                ),
                cancellations=(),
            )
        )

    def build_deals(self, account: AccountPlan) -> None:
        rng = self.rng
        customer = self.customer_of.get(account.key)
        if customer is not None and customer.invoices:
            item = customer.invoices[0].line_items[0]
            acv = item.amount_cents * 12 / _PLAN[item.plan].period_months / 100
            won_on = customer.invoices[0].date.date()
            self.opportunities.append(
                OpportunityPlan(f"{account.key}-o1", account.key, f"{account.name} - New",
                                "Closed Won", round(acv, 2), won_on, "New Customer")
            )  # fmt: skip
        elif account.link is None and rng.random() < 0.5:  # won lately, not yet in ChartMogul
            won_on = (self.now - timedelta(days=rng.randint(0, 20))).date()
            acv = float(rng.choice((3_480, 9_480, 23_880, 10_800, 45_000)))
            self.opportunities.append(
                OpportunityPlan(f"{account.key}-o1", account.key, f"{account.name} - New",
                                "Closed Won", acv, won_on, "New Customer")
            )  # fmt: skip
        if rng.random() < 0.3:
            stage = rng.choice(
                ("Prospecting", "Qualification", "Negotiation/Review", "Closed Lost")
            )
            self.opportunities.append(
                OpportunityPlan(f"{account.key}-o2", account.key, f"{account.name} - Expansion",
                                stage, float(rng.randint(10, 300) * 100),
                                (self.now + timedelta(days=rng.randint(-30, 60))).date(),
                                "Existing Customer - Upgrade")
            )  # fmt: skip

    def build_leads(self, count: int) -> None:
        rng = self.rng
        paying = [c for c in self.customers if c.account and c.email]
        for i in range(count):
            first, last = self.person()
            key = f"lead-{i:05d}"
            if paying and rng.random() < 0.35:  # converted into an Account that pays
                customer = rng.choice(paying)
                assert customer.account is not None
                contact = self.first_contact[customer.account]
                converted_on: date | None = (self.now - timedelta(days=rng.randint(0, 60))).date()
                account_name = self.account_name[customer.account]
                self.leads.append(
                    LeadPlan(key, contact.first_name, contact.last_name, account_name,
                             contact.email, customer.account, contact.key, converted_on)
                )  # fmt: skip
                continue
            if paying and rng.random() < 0.3:  # an open lead whose email ChartMogul knows
                email: str | None = rng.choice(paying).email
            else:
                domain = rng.choice(names.FREEMAIL_DOMAINS)
                email = f"{_local_part(first, last)}.{i}@{domain}" if rng.random() < 0.9 else None
            company = self.company_name(i + 2_000_000)
            self.leads.append(LeadPlan(key, first, last, company, email, None, None, None))


_EURO_COUNTRIES = frozenset({"DE", "FR", "NL", "ES"})
_MATCHABLE = frozenset({LinkKind.LINKED, LinkKind.EXTERNAL_ID, LinkKind.CONTACT_EMAIL})


def _foreign_currency(customers: list[CustomerPlan]) -> list[CustomerPlan]:
    """Bill the matchable customers of euro-area Accounts in EUR (at least one customer, the
    first matchable one if no Account is in the euro area): ChartMogul converts their
    invoices into the account currency. Decided after the fact so the random draws, and so
    every other customer, stay as they were."""
    billed = [
        replace(c, currency="EUR") if c.country in _EURO_COUNTRIES and c.link in _MATCHABLE else c
        for c in customers
    ]
    if not any(c.currency == "EUR" for c in billed):
        first = next((i for i, c in enumerate(billed) if c.link in _MATCHABLE and c.invoices), None)
        if first is not None:
            billed[first] = replace(billed[first], currency="EUR")
    return billed


def generate(seed: int, accounts: int, now: datetime) -> Scenario:
    """The scenario for ``seed`` with ``accounts`` Salesforce Accounts, as of ``now``."""
    if accounts < 1:
        raise ValueError("a scenario needs at least one account")
    b = _Builder(seed, now)
    b.build_users()
    kinds = b.link_kinds(accounts)
    built = [b.build_account(i, kind) for i, kind in enumerate(kinds)]
    index = 0
    for account in built:
        if account.link is not None:
            b.build_customer(index, account, account.link)
            index += 1
    for _ in range(max(1, accounts // 20)):
        b.build_customer(index, None, LinkKind.CM_ONLY)
        index += 1
    for account in built:
        b.build_deals(account)
    b.build_leads(max(1, accounts // 2))
    b.build_free_customer(index)
    customers = _foreign_currency(b.customers)
    notes: dict[str, int] = {"currency.eur": sum(c.currency == "EUR" for c in customers)}
    for c in customers:
        notes[f"link.{c.link.value}"] = notes.get(f"link.{c.link.value}", 0) + 1
    return Scenario(
        seed=seed,
        now=now,
        plans=(*PLANS, FREE_PLAN),
        users=tuple(b.users),
        accounts=tuple(b.accounts),
        contacts=tuple(b.contacts),
        leads=tuple(b.leads),
        opportunities=tuple(b.opportunities),
        customers=tuple(customers),
        notes=notes,
    )
