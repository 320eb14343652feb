"""Matching a ChartMogul customer to a Salesforce Account: found, not found, or ambiguous.

Theory of operation. The rules are tried in a fixed order, most certain first:

1. the stored link (an earlier match, or an operator's decision);
2. an Account whose ``CM_Customer_UUID__c`` holds the customer's UUID;
3. the customer's external id, when it is the Id of an existing Account;
4. the Accounts of Contacts whose email is the customer's email;
5. the Accounts whose website domain is the customer's email domain, never for free-mail
   domains (gmail.com and the like say nothing about the company).

The first rule that yields candidates decides: exactly one Account is a match; more than one
is ambiguous and goes to an operator; the weaker rules are not consulted, because a weaker
rule must never overrule a conflict a stronger one found. A heuristic match (rules 4 and 5) to
an Account already linked to another customer is also ambiguous: cmsync never moves a link by
guessing. No candidates anywhere: not found (retried on later passes).

Pure: the caller builds a ``MatchIndex`` from what it read of Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from state.records import MatchMethod as Method

__all__ = [
    "FREEMAIL_DOMAINS",
    "AccountFacts",
    "Ambiguous",
    "CustomerFacts",
    "Found",
    "MatchIndex",
    "MatchResult",
    "Method",
    "NotFound",
    "account_id_of",
    "build_index",
    "email_domain",
    "match",
    "normalise_email",
    "website_domain",
]

FREEMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "outlook.com",
        "hotmail.com", "hotmail.co.uk", "live.com", "msn.com", "aol.com", "icloud.com",
        "me.com", "mac.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.de",
        "gmx.net", "web.de", "mail.com", "yandex.com", "yandex.ru", "zoho.com", "qq.com",
        "163.com", "126.com", "fastmail.com", "hey.com", "tutanota.com", "mail.ru", "orange.fr",
        "free.fr", "laposte.net", "t-online.de", "libero.it", "naver.com",
    }
)  # fmt: skip

_SALESFORCE_ID = re.compile(r"[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?")
_ACCOUNT_PREFIX = "001"


@dataclass(frozen=True)
class CustomerFacts:
    uuid: str
    external_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class MatchIndex:
    """What cmsync knows of Salesforce, keyed for matching (all keys normalised)."""

    account_ids: frozenset[str] = frozenset()  # 18-character Ids of existing Accounts
    by_uuid_field: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_contact_email: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_domain: Mapping[str, frozenset[str]] = field(default_factory=dict)
    linked_to: Mapping[str, str] = field(default_factory=dict)  # account id -> customer uuid

    def named(self) -> set[str]:
        """Every Account Id the index can answer with."""
        ids = set(self.account_ids)
        for mapping in (self.by_uuid_field, self.by_contact_email, self.by_domain):
            for candidates in mapping.values():
                ids.update(candidates)
        return ids

    def with_links(self, links: Mapping[str, str]) -> MatchIndex:
        """The index with stored links (account id -> customer uuid) over ``linked_to``."""
        return replace(self, linked_to={**self.linked_to, **links})


@dataclass(frozen=True)
class AccountFacts:
    """What matching needs of one Salesforce Account."""

    account_id: str
    website: str | None = None
    uuid_field: str | None = None  # the value of CM_Customer_UUID__c


def build_index(
    accounts: Iterable[AccountFacts],
    contacts: Iterable[tuple[str, str | None]],
    links: Mapping[str, str],
) -> MatchIndex:
    """The index for ``match`` from Accounts, (account id, email) of Contacts, and stored links
    (account id -> customer uuid, over the Accounts' ``CM_Customer_UUID__c``). A Contact of an
    Account not given is left out. The daemon keeps the org on disk and builds an index per
    page instead (``cmsync.pipeline.org``); this is the whole-org form it must agree with."""
    account_ids: set[str] = set()
    by_uuid: dict[str, set[str]] = {}
    by_domain: dict[str, set[str]] = {}
    by_email: dict[str, set[str]] = {}
    linked: dict[str, str] = {}
    for account in accounts:
        account_ids.add(account.account_id)
        if account.uuid_field:
            by_uuid.setdefault(account.uuid_field, set()).add(account.account_id)
            linked[account.account_id] = account.uuid_field
        domain = website_domain(account.website)
        if domain:
            by_domain.setdefault(domain, set()).add(account.account_id)
    for account_id, email in contacts:
        cleaned = normalise_email(email)
        if cleaned and account_id in account_ids:
            by_email.setdefault(cleaned, set()).add(account_id)

    def frozen(found: dict[str, set[str]]) -> dict[str, frozenset[str]]:
        return {key: frozenset(ids) for key, ids in found.items()}

    return MatchIndex(
        account_ids=frozenset(account_ids),
        by_uuid_field=frozen(by_uuid),
        by_contact_email=frozen(by_email),
        by_domain=frozen(by_domain),
        linked_to={**linked, **links},
    )


@dataclass(frozen=True)
class Found:
    account_id: str
    method: Method


@dataclass(frozen=True)
class NotFound:
    pass


@dataclass(frozen=True)
class Ambiguous:
    method: Method
    candidates: tuple[str, ...]
    reason: str


MatchResult = Found | NotFound | Ambiguous


def normalise_email(email: str | None) -> str | None:
    if not email:
        return None
    cleaned = email.strip().lower()
    return cleaned if "@" in cleaned else None


def email_domain(email: str | None) -> str | None:
    cleaned = normalise_email(email)
    return cleaned.rsplit("@", 1)[1] if cleaned else None


def website_domain(website: str | None) -> str | None:
    """``https://www.Acme.example/pricing`` -> ``acme.example``."""
    if not website or not website.strip():
        return None
    text = website.strip()
    host = urlsplit(text if "://" in text else "//" + text).hostname
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host.removeprefix("www.") or None


_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _to_18(record_id: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce Id."""
    suffix = ""
    for chunk in (record_id[0:5], record_id[5:10], record_id[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += _CHECKSUM_ALPHABET[bits]
    return record_id + suffix


def account_id_of(value: str | None) -> str | None:
    """``value`` as an 18-character Account Id, or None when it is not one."""
    if value and _SALESFORCE_ID.fullmatch(value) and value.startswith(_ACCOUNT_PREFIX):
        return _to_18(value) if len(value) == 15 else value
    return None


def _decide(
    customer: CustomerFacts, candidates: frozenset[str], method: Method, index: MatchIndex
) -> MatchResult | None:
    if not candidates:
        return None
    ordered = tuple(sorted(candidates))
    if len(ordered) > 1:
        return Ambiguous(method, ordered, f"{len(ordered)} Accounts match by {method.value}")
    (account_id,) = ordered
    holder = index.linked_to.get(account_id)
    if method in (Method.CONTACT_EMAIL, Method.DOMAIN) and holder not in (None, customer.uuid):
        return Ambiguous(method, ordered, f"Account {account_id} is linked to {holder}")
    return Found(account_id, method)


def match(
    customer: CustomerFacts,
    stored_link: str | None,
    index: MatchIndex,
    freemail: frozenset[str] = FREEMAIL_DOMAINS,
) -> MatchResult:
    """The Account for ``customer``, by the rules in the module docstring."""
    if stored_link:
        return Found(stored_link, Method.STORED)
    external = account_id_of(customer.external_id)
    email = normalise_email(customer.email)
    domain = email_domain(email)
    rules: list[tuple[Method, frozenset[str]]] = [
        (Method.UUID_FIELD, index.by_uuid_field.get(customer.uuid, frozenset())),
        (
            Method.EXTERNAL_ID,
            frozenset({external}) if external and external in index.account_ids else frozenset(),
        ),
        (
            Method.CONTACT_EMAIL,
            index.by_contact_email.get(email, frozenset()) if email else frozenset(),
        ),
        (
            Method.DOMAIN,
            index.by_domain.get(domain, frozenset())
            if domain and domain not in freemail
            else frozenset(),
        ),
    ]
    for method, candidates in rules:
        result = _decide(customer, candidates, method, index)
        if result is not None:
            return result
    return NotFound()
