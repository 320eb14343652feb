"""What a Closed-Won run needs to know of its deals, read by the page instead of by the deal.

Deciding a deal asks three questions of the services: the email of its Account's first
Contact (Salesforce), and which ChartMogul customer has a given uuid, carries the Account Id
as an external id (its own, or one a merge carried over, ``external_ids``), or has a given
email. Asked per deal that is a SOQL query and up to three ChartMogul requests each; a first
pass over a large org has well over a thousand deals. So the run reads them together:

- ``primary_emails``: one SOQL query per IN list of Account Ids (``soql.in_chunks`` keeps
  each within the URI limit), every Contact with an email of those Accounts, the first per
  Account kept (oldest, then lowest Id: the order the one-Account query used);
- ``ListedCustomers.read``: one customer listing (200 a page) per run, however many chunks
  of deals the run decides (``poll``): every customer is indexed by uuid, external id (own
  or carried over) and email, not filtered by the deals, which the run no longer holds all
  at once; the index is a scratch SQLite file (``named_index``), not objects, and a question
  reads back the compact record the decisions read (``Named``). In ``cmsync once`` the
  customer sweep has just listed every customer (``streams.customers.Listing``, with
  ``everyone``) into such an index as its pages came, and ChartMogul is not listed a second
  time. Alone (the daemon's job), the run lists them itself, once, when its first chunk has
  a deal to decide.

``CustomerLookups`` is what the decision asks (``steps.ChartMogulSide``): the listing
answers it; the tests answer it per deal too, to show both decide every deal alike. A
customer named by uuid that the listing lacks is read once more by itself: ChartMogul may not
list yet a customer made a moment ago (the store's own record of what cmsync made wins), and
one merged or deleted since answers 404, as before.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulNotFoundError
from cmsync.pipeline.named_index import NamedIndex
from cmsync.pipeline.streams.customers import Listing
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import in_chunks

__all__ = ["CustomerLookups", "ListedCustomers", "NamedCustomer", "primary_emails"]

_EMAILS = (
    "SELECT AccountId, Email FROM Contact WHERE AccountId IN {accounts} AND Email != null "
    "ORDER BY AccountId ASC, CreatedDate ASC, Id ASC"
)


async def primary_emails(
    gateway: SalesforceGateway, account_ids: Iterable[str]
) -> dict[str, str | None]:
    """Each Account's first Contact's email (None: no Contact with one), by IN lists."""
    wanted = list(dict.fromkeys(account_ids))
    found: dict[str, str | None] = dict.fromkeys(wanted)
    for query in in_chunks(_EMAILS, wanted, name="accounts") if wanted else []:
        async for records in gateway.query_pages(query):
            for row in records:
                account = str(row.get("AccountId") or "")
                if account in found and found[account] is None and row.get("Email"):
                    found[account] = str(row["Email"])
    return found


class NamedCustomer(Protocol):
    """What a deal's decision reads of a customer: a ``Customer`` read, or one the sweep
    listed (``streams.customers.Listed``)."""

    @property
    def uuid(self) -> str: ...
    @property
    def id(self) -> int | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def external_ids(self) -> Sequence[str]: ...
    @property
    def data_source_uuid(self) -> str | None: ...
    @property
    def data_source_uuids(self) -> Sequence[str]: ...
    @property
    def email(self) -> str | None: ...
    @property
    def chartmogul_url(self) -> str | None: ...
    @property
    def mrr(self) -> int: ...
    @property
    def customer_since(self) -> datetime | None: ...


class CustomerLookups(Protocol):
    """The ChartMogul customers a deal's decision asks about."""

    async def read(
        self, *, uuids: Iterable[str], external_ids: Iterable[str], emails: Iterable[str]
    ) -> None:
        """Told what a chunk of the run's deals can name, before any of them is decided
        (may read nothing; called once per chunk)."""
        ...

    async def by_uuid(self, uuid: str) -> NamedCustomer | None: ...

    async def by_external_id(self, external_id: str, data_source_uuid: str) -> NamedCustomer | None:
        """The customer carrying ``external_id`` in that data source (its own, or one a
        merge carried over), as ``GET /v1/customers?data_source_uuid=&external_id=`` finds
        it; the first listed."""
        ...

    async def by_email(self, email: str) -> Sequence[NamedCustomer]:
        """Every customer with that email, compared without case as the sandbox's search
        compares it (``GET /v1/customers/search``; the API reference does not say)."""
        ...


def _sources(customer: NamedCustomer) -> Collection[str]:
    return customer.data_source_uuids or (
        [customer.data_source_uuid] if customer.data_source_uuid else []
    )


class ListedCustomers:
    """Every customer of one listing, indexed for the run's deals (see the module doc);
    ``swept``: the listing the pass's sweep has just read, indexed instead of listing."""

    def __init__(self, chartmogul: ChartMogulClient, swept: Listing | None = None) -> None:
        if swept is not None and swept.named is None:
            raise ValueError("a sweep's listing without every customer cannot name them")
        self.chartmogul = chartmogul
        self.swept = swept
        self._index: NamedIndex | None = None  # once listed: the sweep's, or one read here
        self._own = False  # read here: deleted by ``close``
        self.pages = 0  # listing pages read
        self.listed = False

    async def read(
        self, *, uuids: Iterable[str], external_ids: Iterable[str], emails: Iterable[str]
    ) -> None:
        """List every customer once (the first call; later chunks find the index built),
        indexed by uuid, external ids (own or carried over) and email (lower-cased, as the
        search compares), on disk (``named_index``). What a chunk names is not needed: every
        customer is kept."""
        del uuids, external_ids, emails  # the index answers for any deal of the run
        if self.listed:
            return
        self.listed = True
        if self.swept is not None:
            self._index = self.swept.named
            return
        index = self._index = NamedIndex()
        self._own = True
        async for page in self.chartmogul.customer_pages():
            self.pages += 1
            index.add(page.entries)

    def close(self) -> None:
        """Delete the index this run listed itself (the sweep's is the pass's to drop)."""
        if self._own and self._index is not None:
            self._index.close()
        self._index = None

    def has(self, uuid: str | None) -> bool:
        """Whether the listing showed the customer with this uuid."""
        return uuid is not None and self._index is not None and self._index.has(uuid)

    async def by_uuid(self, uuid: str) -> NamedCustomer | None:
        listed = self._index.by_uuid(uuid) if self._index is not None else None
        if listed is not None:
            return listed
        try:  # not listed: made a moment ago, or gone (merged, deleted): ask
            return await self.chartmogul.get_customer(uuid)
        except ChartMogulNotFoundError:
            return None

    async def by_external_id(self, external_id: str, data_source_uuid: str) -> NamedCustomer | None:
        for customer in self._index.carrying(external_id) if self._index is not None else ():
            if data_source_uuid in _sources(customer):
                return customer
        return None

    async def by_email(self, email: str) -> list[NamedCustomer]:
        found = self._index.mailed(email.lower()) if self._index is not None else []
        return sorted(found, key=lambda c: (c.id or 0, c.uuid))
