"""The CRM side of the simulated business, written straight into the Salesforce emulator.

What sales reps do in Salesforce, done through the org store's system path (what a convertLead
or a UI save would leave behind): deals close (an open Opportunity set to Closed Won, or a new
Closed Won Opportunity on an Account with no ChartMogul customer, opening one for a company
that just signed if none is left), a new Contact appears with a paying customer's email, and a
Lead is converted into a Contact on the customer's Account (or on a new Account).

Where each deal lands is chosen so that the demo shows the Closed-Won sync, not a trap: only
Accounts whose customer the daemon can link for sure (``MATCHABLE``), or Accounts with no
customer at all, and each Account at most once. New Contacts go to the customer's own Account,
so an email never becomes shared between two Accounts (the scenario has its own traps for that).
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cmsync.demo.billing import Billing, Person
from cmsync.demo.events import Action, ActionKind
from cmsync.sandbox.clock import SandboxClock
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.store import RecordStore
from cmsync.sandbox.scenario import names
from cmsync.sandbox.scenario.model import LinkKind, Scenario
from cmsync.sandbox.scenario.seed import SeedResult

__all__ = ["MATCHABLE", "Crm", "Ground"]

MATCHABLE = frozenset({"linked", "external_id", "contact_email", "domain"})
DEAL_SIZES = (3_480.0, 9_480.0, 23_880.0, 10_800.0, 45_000.0)  # annual contract values


@dataclass(frozen=True)
class Ground:
    """The scenario's ground truth (``DIR/scenario.json``) as the simulator needs it."""

    account_of: Mapping[str, str]  # customer uuid -> its Account Id
    link_of: Mapping[str, str | None]  # Account Id -> how its customer matches; None: none

    @classmethod
    def load(cls, path: Path) -> Ground:
        """From the ``scenario.json`` the sandbox writes."""
        truth = json.loads(path.read_text(encoding="utf-8"))
        accounts = truth["accounts"]
        return cls(
            account_of={
                c["uuid"]: accounts[c["account"]]["id"]
                for c in truth["customers"].values()
                if c["account"] is not None and c["link"] != "ambiguous"
            },
            link_of={a["id"]: a["link"] for a in accounts.values()},
        )

    @classmethod
    def of(cls, scenario: Scenario, seeded: SeedResult) -> Ground:
        """From the scenario itself and what seeding it created (the same facts)."""
        return cls(
            account_of={
                seeded.customer_uuids[c.key]: seeded.account_ids[c.account]
                for c in scenario.customers
                if c.account is not None and c.link is not LinkKind.AMBIGUOUS
            },
            link_of={
                seeded.account_ids[a.key]: a.link.value if a.link else None
                for a in scenario.accounts
            },
        )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _local(text: str) -> str:
    """An email local part (apostrophes kept: o'brien@ is valid, and a SOQL trap)."""
    return "".join(c for c in _fold(text) if c.isalnum() or c in ".'") or "someone"


def _slug(text: str) -> str:
    """A domain label: letters, digits and single dashes."""
    words = "".join(c if c.isalnum() else " " for c in _fold(text)).split()
    return "-".join(words) or "company"


class Crm:
    """Acts on the org's records; thread-safe through the store's lock."""

    def __init__(
        self,
        store: RecordStore,
        clock: SandboxClock,
        ground: Ground,
        billing: Billing,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ground = ground
        self.billing = billing
        self.dealt: set[str] = set()  # Accounts that got a deal from the demo
        self.fresh: list[str] = []  # Accounts the demo opened: no customer yet
        self.deals: list[str] = []  # Opportunity Ids closed or created as won

    def _today(self) -> date:
        return self.clock.now().date()

    def _live(self, sobject: str) -> list[Record]:
        return [r for r in self.store.table(sobject) if not r.deleted]

    def _name(self, account_id: str) -> str:
        return str(self.store.get("Account", account_id).get("Name"))

    def _won_accounts(self) -> set[str]:
        return {str(o.get("AccountId")) for o in self._live("Opportunity") if o.get("IsWon")}

    def _action(self, kind: ActionKind, subject: str, detail: str) -> Action:
        return Action(self.clock.now(), kind, subject, detail)

    # --- deals ------------------------------------------------------------------------

    def close_open_deal(self, rng: random.Random) -> Action | None:
        """An open Opportunity on a linked (or customer-less) Account is won today."""
        with self.store.lock:
            won = self._won_accounts()
            opps = [
                o for o in self._live("Opportunity")
                if not o.get("IsClosed") and o.get("Amount")
                and (account := str(o.get("AccountId"))) not in self.dealt
                and (self.ground.link_of.get(account) in MATCHABLE
                     or (account in self.ground.link_of and self.ground.link_of[account] is None
                         and account not in won))
            ]  # fmt: skip
            if not opps:
                return None
            opp = rng.choice(opps)
            account = str(opp.get("AccountId"))
            self.store.update(
                "Opportunity", opp.id, {"StageName": "Closed Won", "CloseDate": self._today()}
            )
            self.dealt.add(account)
            self.deals.append(opp.id)
            detail = f"{opp.get('Name')}: {float(str(opp.get('Amount'))):,.2f} closed won"
        return self._action(ActionKind.DEAL_WON, opp.id, detail)

    def new_deal(self, rng: random.Random) -> Action | None:
        """A new Closed Won Opportunity on an Account with no ChartMogul customer."""
        with self.store.lock:
            won = self._won_accounts()
            free = [
                a for a, link in self.ground.link_of.items() if link is None and a not in won
            ] + self.fresh
            free = [a for a in free if a not in self.dealt and a not in won]
            account = rng.choice(free) if free else self._open_account(rng)
            name = self._name(account)
            amount = rng.choice(DEAL_SIZES)
            owner = self.store.get("Account", account).get("OwnerId")
            opp = self.store.insert(
                "Opportunity",
                {"Name": f"{name} - New", "StageName": "Closed Won", "CloseDate": self._today(),
                 "Amount": amount, "Type": "New Customer", "AccountId": account,
                 "OwnerId": owner},
            )  # fmt: skip
            self.dealt.add(account)
            self.deals.append(opp)
        return self._action(ActionKind.NEW_DEAL_WON, opp, f"{name}: {amount:,.2f} won")

    def _open_account(self, rng: random.Random, company: str | None = None) -> str:
        """A new Account with no customer yet: a company that just signed (with one Contact),
        or a converted Lead's ``company`` (whose Contact the conversion makes)."""
        users = [
            u.id for u in self._live("User") if u.get("IsActive") and u.id != self.store.user_id
        ]
        n = len(self.fresh) + 1
        name = company or " ".join(
            (rng.choice(names.NAME_ADJECTIVES), rng.choice(names.NAME_NOUNS), f"{n}",
             rng.choice(names.NAME_SUFFIXES))
        )  # fmt: skip
        domain = f"{_slug(name)}-new{n}.example"  # never a seeded Account's domain
        fields: dict[str, object] = {"Name": name, "Website": f"https://www.{domain}"}
        if users:
            fields["OwnerId"] = rng.choice(users)
        account = self.store.insert("Account", fields)
        if company is None:
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            self.store.insert(
                "Contact",
                {"FirstName": first, "LastName": last, "AccountId": account,
                 "Email": f"{_local(first)}.{_local(last)}@{domain}"},
            )  # fmt: skip
        self.fresh.append(account)
        return account

    # --- people -----------------------------------------------------------------------

    def _account_for(self, person: Person) -> str | None:
        """The paying customer's own Account: from the scenario, or the deal that made it."""
        known = self.ground.account_of.get(person.uuid)
        if known is not None:
            return known
        found = self.store.find(person.external_id)  # Closed-Won customers: the Account Id
        return found.id if found is not None and found.sobject == "Account" else None

    def _people(self) -> list[tuple[Person, str]]:
        out = []
        for person in self.billing.paying_people():
            account = self._account_for(person)
            if account is not None:
                out.append((person, account))
        return out

    def new_contact(self, rng: random.Random) -> Action | None:
        """Someone with a paying customer's email is added to that customer's Account."""
        people = self._people()
        if not people:
            return None
        person, account = rng.choice(people)
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        with self.store.lock:
            contact = self.store.insert(
                "Contact",
                {"FirstName": first, "LastName": last, "Email": person.email,
                 "AccountId": account},
            )  # fmt: skip
            detail = f"{first} {last} <{person.email}> joins {self._name(account)}"
        return self._action(ActionKind.NEW_CONTACT, contact, detail)

    def convert_lead(self, rng: random.Random) -> Action | None:
        """An open Lead converted: into a paying customer's Account when its email is one,
        else into a new Account. A Lead with the email of a customer whose Account is not
        known for sure stays open: on a new Account it would make two claims to one email."""
        accounts = {p.email.casefold(): a for p, a in self._people()}
        customers = self.billing.emails()
        with self.store.lock:
            known, unknown = [], []
            for lead in self._live("Lead"):
                address = str(lead.get("Email") or "").casefold()
                if lead.get("IsConverted"):
                    continue
                if address in accounts:
                    known.append(lead)
                elif address not in customers:
                    unknown.append(lead)
            if not known and not unknown:
                return None
            lead = rng.choice(known if known and (rng.random() < 0.7 or not unknown) else unknown)
            email = lead.get("Email")
            account = accounts.get(str(email or "").casefold()) or self._open_account(
                rng, company=str(lead.get("Company"))
            )
            contact_fields: dict[str, object] = {
                "FirstName": lead.get("FirstName"), "LastName": lead.get("LastName"),
                "AccountId": account,
            }  # fmt: skip
            if email:
                contact_fields["Email"] = email
            contact = self.store.insert("Contact", contact_fields)
            self.store.update(
                "Lead",
                lead.id,
                {"Status": "Closed - Converted", "IsConverted": True,
                 "ConvertedDate": self._today(), "ConvertedAccountId": account,
                 "ConvertedContactId": contact},
            )  # fmt: skip
            who = f"{lead.get('FirstName')} {lead.get('LastName')}"
            detail = f"{who} <{email or 'no email'}> converted into {self._name(account)}"
        return self._action(ActionKind.LEAD_CONVERTED, lead.id, detail)
