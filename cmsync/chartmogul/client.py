"""The ChartMogul API as typed calls: what cmsync reads and writes, nothing more.

Listings are async iterators of pages (``*_pages``) or of records (``iter_*``); either holds
one page in memory. A page's malformed entries are set aside as ``Rejected`` rather than
failing the page. Creates are safe to repeat: when a create's outcome is unknown
(``AmbiguousWriteError``), the object is looked up by its external id before trying again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date
from typing import Any, Literal, TypeVar

from cmsync.chartmogul.errors import (
    AmbiguousWriteError,
    ChartMogulClientError,
    ChartMogulError,
    ChartMogulNotFoundError,
    already_exists,
)
from cmsync.chartmogul.records import (
    Account,
    Activity,
    Customer,
    CustomerSubscription,
    DataSource,
    Invoice,
    MetricsReport,
    Page,
    Plan,
    RecordError,
    Rejected,
    _Record,
    parse_record,
)
from cmsync.chartmogul.transport import Transport
from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewPlan

__all__ = ["MAX_PAGE_SIZE", "ChartMogulClient", "MetricsEndpoint", "MetricsInterval"]

log = logging.getLogger("cmsync.chartmogul")

MAX_PAGE_SIZE = 200
_AMBIGUOUS_RETRIES = 3
MetricsInterval = Literal["day", "week", "month", "quarter", "year"]
MetricsEndpoint = Literal[
    "all", "mrr", "arr", "arpa", "asp", "customer-count", "customer-churn-rate",
    "mrr-churn-rate", "ltv",
]  # fmt: skip
R = TypeVar("R", bound=_Record)
T = TypeVar("T")


def _page(model: type[R], body: Any, root_key: str) -> Page[R]:
    if not isinstance(body, dict) or not isinstance(body.get(root_key), list):
        raise ChartMogulError(f"answer has no {root_key!r} list")
    good: list[R] = []
    bad: list[Rejected] = []
    for raw in body[root_key]:
        try:
            good.append(parse_record(model, raw))
        except RecordError as exc:
            bad.append(Rejected(raw=raw, error=exc))
    cursor = body.get("cursor")
    total_pages = body.get("total_pages")  # first page only; for the progress display
    return Page(
        entries=tuple(good),
        rejected=tuple(bad),
        cursor=cursor if isinstance(cursor, str) else None,
        has_more=bool(body.get("has_more")),
        total_pages=total_pages if type(total_pages) is int and total_pages >= 0 else None,
    )


def _last_uuid(raw_entries: list[Any]) -> str | None:
    """The uuid of a page's last entry, read from the raw answer (a rejected entry counts)."""
    for raw in reversed(raw_entries):
        uuid = raw.get("uuid") if isinstance(raw, dict) else None
        if isinstance(uuid, str) and uuid:
            return uuid
    return None


class ChartMogulClient:
    """Typed ChartMogul v1 calls over one ``Transport``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"ChartMogulClient({self.transport!r})"

    async def _pages(
        self,
        model: type[R],
        path: str,
        root_key: str,
        params: Mapping[str, str | int],
        cursor: str | None = None,
    ) -> AsyncIterator[Page[R]]:
        query: dict[str, str | int] = {"per_page": MAX_PAGE_SIZE, **params}
        while True:
            if cursor:
                query["cursor"] = cursor
            page = _page(model, await self.transport.request("GET", path, params=query), root_key)
            yield page
            if not page.has_more or not page.cursor:
                return
            cursor = page.cursor

    async def ping(self) -> bool:
        body = await self.transport.request("GET", "/ping")
        return isinstance(body, dict) and body.get("data") == "pong!"

    # --- activities ---------------------------------------------------------------------

    async def activity_pages(
        self,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
        start_after: str | None = None,
        per_page: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[Page[Activity]]:
        """The account's activity feed in date order, after ``start_after`` or from
        ``start_date``.

        Pages with ``start-after=<uuid of the last entry read>``, as the docs show and the
        official Go client does, never with the returned ``cursor``: in the official Ruby
        client's recorded traffic that cursor names the next, *unseen* entry and sending it back
        returns the entries after it, one skipped per page boundary.
        """
        query: dict[str, str | int] = {"order": "date", "per_page": per_page}
        if start_date:
            query["start-date"] = start_date
        if end_date:
            query["end-date"] = end_date
        while True:
            if start_after:
                query["start-after"] = start_after
            body = await self.transport.request("GET", "/activities", params=query)
            page = _page(Activity, body, "entries")
            yield page
            last = _last_uuid(body["entries"])
            if not page.has_more or last is None:
                return
            start_after = last

    # --- customers ----------------------------------------------------------------------

    def customer_pages(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[Page[Customer]]:
        params = {
            k: v
            for k, v in (
                ("data_source_uuid", data_source_uuid),
                ("external_id", external_id),
                ("status", status),
            )
            if v is not None
        }
        return self._pages(Customer, "/customers", "entries", params, cursor)

    async def get_customer(self, uuid: str) -> Customer:
        return parse_record(Customer, await self.transport.request("GET", f"/customers/{uuid}"))

    async def search_customers(self, email: str) -> list[Customer]:
        """Customers with exactly this email; none is an empty list (the API's 404)."""
        found: list[Customer] = []
        params: dict[str, str | int] = {"email": email}
        try:
            async for page in self._pages(Customer, "/customers/search", "entries", params):
                found.extend(page.entries)
        except ChartMogulNotFoundError:
            return []
        return found

    async def find_customer(self, external_id: str, data_source_uuid: str) -> Customer | None:
        """The customer with that external id: its own, or one it carries since a customer
        was merged into it (``external_ids``; the merged customer itself is gone)."""
        async for page in self.customer_pages(
            data_source_uuid=data_source_uuid, external_id=external_id
        ):
            for customer in page.entries:
                if customer.external_id == external_id:
                    return customer
                if external_id in customer.external_ids:
                    return customer
        return None

    async def create_customer(self, new: NewCustomer) -> Customer:
        """Create, or return the customer a lost earlier attempt already created."""

        async def lookup() -> Customer | None:
            return await self.find_customer(new.external_id, new.data_source_uuid)

        async def create() -> Customer:
            body = await self.transport.request("POST", "/customers", json=new.to_wire())
            return parse_record(Customer, body)

        return await self._create_once(create, lookup, f"customer {new.external_id}")

    async def update_customer(self, uuid: str, changes: Mapping[str, Any]) -> Customer:
        body = await self.transport.request("PATCH", f"/customers/{uuid}", json=dict(changes))
        return parse_record(Customer, body)

    async def delete_customer(self, uuid: str) -> bool:
        """``DELETE /v1/customers/{uuid}`` (204); False if it was gone already (404), so a
        repeated delete after a lost answer is done, not an error."""
        try:
            await self.transport.request("DELETE", f"/customers/{uuid}")
        except ChartMogulNotFoundError:
            return False
        return True

    async def iter_subscriptions(self, customer_uuid: str) -> AsyncIterator[CustomerSubscription]:
        path = f"/customers/{customer_uuid}/subscriptions"
        async for page in self._pages(CustomerSubscription, path, "entries", {}):
            for subscription in page.entries:
                yield subscription

    # --- invoices -----------------------------------------------------------------------

    def invoice_pages(
        self,
        *,
        customer_uuid: str | None = None,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[Page[Invoice]]:
        params = {
            k: v
            for k, v in (
                ("customer_uuid", customer_uuid),
                ("data_source_uuid", data_source_uuid),
                ("external_id", external_id),
            )
            if v is not None
        }
        return self._pages(Invoice, "/invoices", "invoices", params, cursor)

    async def import_invoices(
        self, customer_uuid: str, invoices: list[NewInvoice]
    ) -> list[Invoice]:
        """Import invoices once: those a lost earlier attempt imported are not sent again."""
        pending = list(invoices)
        done: list[Invoice] = []
        for attempt in range(_AMBIGUOUS_RETRIES + 1):
            body = {"invoices": [inv.to_wire() for inv in pending]}
            path = f"/import/customers/{customer_uuid}/invoices"
            try:
                answer = await self.transport.request("POST", path, json=body)
            except AmbiguousWriteError:
                if attempt == _AMBIGUOUS_RETRIES:
                    raise
                log.info("invoice import for %s may have applied; checking", customer_uuid)
                present = await self._existing_invoices(customer_uuid, pending)
                done.extend(present.values())
                pending = [inv for inv in pending if inv.external_id not in present]
                if not pending:
                    return done
                continue
            except ChartMogulClientError as exc:
                if not already_exists(exc) or attempt == _AMBIGUOUS_RETRIES:
                    raise
                present = await self._existing_invoices(customer_uuid, pending)
                if not present:
                    raise
                done.extend(present.values())
                pending = [inv for inv in pending if inv.external_id not in present]
                if not pending:
                    return done
                continue
            page = _page(Invoice, answer, "invoices")
            if page.rejected:
                raise page.rejected[0].error
            failures = [
                f"{raw.get('external_id')}: {raw['errors']}"
                for raw in answer["invoices"]
                if isinstance(raw, dict) and raw.get("errors")
            ]
            if failures:
                raise ChartMogulClientError("; ".join(failures), method="POST", path=path)
            return done + list(page.entries)
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete_invoice(self, uuid: str) -> bool:
        """``DELETE /v1/invoices/{uuid}``: the invoice, its line items and transactions go,
        with its subscription if it was the only invoice, and the customer's metrics are
        recalculated (ChartMogul API reference, "Delete an Invoice",
        https://dev.chartmogul.com/reference/delete-an-invoice). False if it was gone already
        (404): a repeated delete after a lost answer is done, not an error."""
        try:
            await self.transport.request("DELETE", f"/invoices/{uuid}")
        except ChartMogulNotFoundError:
            return False
        return True

    async def _existing_invoices(
        self, customer_uuid: str, invoices: list[NewInvoice]
    ) -> dict[str, Invoice]:
        wanted = {inv.external_id for inv in invoices}
        present: dict[str, Invoice] = {}
        async for page in self.invoice_pages(customer_uuid=customer_uuid):
            for invoice in page.entries:
                if invoice.external_id in wanted:
                    present[invoice.external_id] = invoice
        return present

    # --- data sources and plans ---------------------------------------------------------

    async def account(self) -> Account:
        """The account's settings; ``currency`` is the one every MRR figure is in."""
        body = await self.transport.request("GET", "/account")
        return parse_record(Account, body)

    async def data_sources(self) -> list[DataSource]:
        body = await self.transport.request("GET", "/data_sources")
        return list(_page(DataSource, body, "data_sources").entries)

    def plan_pages(
        self, *, data_source_uuid: str | None = None, external_id: str | None = None
    ) -> AsyncIterator[Page[Plan]]:
        params = {
            k: v
            for k, v in (("data_source_uuid", data_source_uuid), ("external_id", external_id))
            if v is not None
        }
        return self._pages(Plan, "/plans", "plans", params)

    async def find_plan(self, external_id: str, data_source_uuid: str) -> Plan | None:
        async for page in self.plan_pages(
            data_source_uuid=data_source_uuid, external_id=external_id
        ):
            for plan in page.entries:
                if plan.external_id == external_id:
                    return plan
        return None

    async def create_plan(self, new: NewPlan) -> Plan:
        """Create, or return the plan a lost earlier attempt already created."""

        async def lookup() -> Plan | None:
            return await self.find_plan(new.external_id, new.data_source_uuid)

        async def create() -> Plan:
            return parse_record(
                Plan, await self.transport.request("POST", "/plans", json=new.to_wire())
            )

        return await self._create_once(create, lookup, f"plan {new.external_id}")

    # --- metrics ------------------------------------------------------------------------

    async def metrics(
        self,
        start: date,
        end: date,
        interval: MetricsInterval = "month",
        *,
        metric: MetricsEndpoint = "all",
    ) -> MetricsReport:
        """``/metrics/{metric}`` between two dates, one entry per interval (dated at its end).

        ``all`` has every key metric but not the MRR movements; ``mrr`` has those.
        """
        params: dict[str, str | int] = {
            "start-date": start.isoformat(),
            "end-date": end.isoformat(),
            "interval": interval,
        }
        body = await self.transport.request("GET", f"/metrics/{metric}", params=params)
        return parse_record(MetricsReport, body)

    # --- shared -------------------------------------------------------------------------

    @staticmethod
    async def _create_once(
        create: Callable[[], Awaitable[T]],
        lookup: Callable[[], Awaitable[T | None]],
        what: str,
    ) -> T:
        for attempt in range(_AMBIGUOUS_RETRIES + 1):
            try:
                return await create()
            except AmbiguousWriteError:
                if attempt == _AMBIGUOUS_RETRIES:
                    raise
                log.info("create of %s may have applied; looking it up", what)
            except ChartMogulClientError as exc:
                if not already_exists(exc):
                    raise
            found = await lookup()
            if found is not None:
                return found
        raise AssertionError("unreachable")  # pragma: no cover
