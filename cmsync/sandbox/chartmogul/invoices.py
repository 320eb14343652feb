"""Invoice import (the only way MRR enters ChartMogul), invoice listing, and transactions.

``POST /v1/import/customers/{uuid}/invoices`` validates every invoice of the batch first.
Errors are reported per invoice, in its ``errors`` object, as flat keys: ``external_id``,
``line_items.external_id``, ``transactions.external_id`` (the keys and duplicate messages the
official Go client matches on), ``date``, ``line_items.plan_uuid``, ...

Chosen, where no source says: a batch with any invalid invoice is refused whole with 422 and
every invoice echoed with its ``errors`` (``{}`` for the valid ones), so that nothing is half
imported; a batch without errors answers 201 with each invoice, its line items carrying the
``subscription_uuid`` ChartMogul assigned, and ``errors: {}`` [REAL].

An import for an unknown customer uuid answers the body users have reported from the real API:
404 ``{"error": "Invoice not found", "error_details": [...]}``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from cmsync.sandbox.chartmogul.errors import (
    DUPLICATE_INVOICE,
    DUPLICATE_LINE_ITEM,
    DUPLICATE_TRANSACTION,
    ApiError,
    bad_parameter,
    field_errors,
    missing_parameter,
    not_found,
)
from cmsync.sandbox.chartmogul.fields import decode_cursor, encode_cursor, per_page, reject_page
from cmsync.sandbox.chartmogul.history import rebuild
from cmsync.sandbox.chartmogul.rates import ISO_4217
from cmsync.sandbox.chartmogul.records import (
    Customer,
    Invoice,
    LineItem,
    Subscription,
    Transaction,
)
from cmsync.sandbox.chartmogul.registry import Registry
from cmsync.sandbox.chartmogul.timefmt import iso_millis, parse_time
from cmsync.sandbox.chartmogul.views import invoice_json, transaction_json

__all__ = ["Invoices"]

LINE_ITEM_TYPES = ("subscription", "one_time", "trial")
# Import API, "Import invoices" line items; differential is the default. The wording of the
# refusal is the one the API gives for ``type`` (no recording of a bad proration_type).
PRORATION_TYPES = ("differential", "differential_mrr", "full")
TRANSACTION_TYPES = ("payment", "refund")
TRANSACTION_RESULTS = ("successful", "failed")
_ITEM_INTS = frozenset(
    {"discount_amount_in_cents", "tax_amount_in_cents", "transaction_fees_in_cents", "event_order"}
)
_ITEM_STRS = frozenset(
    {
        "proration_type",
        "description",
        "discount_code",
        "discount_description",
        "transaction_fees_currency",
        "account_code",
    }
)
UNKNOWN_CUSTOMER = {
    "error": "Invoice not found",
    "error_details": [{"param": "invoice", "code": "invalid", "message": "Invoice not found"}],
}


def _invoice_seq(invoice: Invoice) -> int:
    return invoice.seq


@dataclass
class _Batch:
    """What one import request has claimed so far, to refuse duplicates inside the batch."""

    customer: Customer
    invoices: set[str] = field(default_factory=set)
    line_items: set[str] = field(default_factory=set)
    transactions: set[str] = field(default_factory=set)
    new_subscriptions: dict[str, Subscription] = field(default_factory=dict)
    set_ids: dict[Subscription, str] = field(default_factory=dict)  # applied only on success


class _Errors(dict[str, str]):
    def add(self, key: str, message: str) -> None:
        self.setdefault(key, message)


def _int(
    raw: Mapping[str, Any], key: str, errors: _Errors, prefix: str, default: int | None
) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(prefix + key, "is not a number")
        return default
    return value


def _str(raw: Mapping[str, Any], key: str, errors: _Errors, prefix: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    errors.add(prefix + key, "is invalid")
    return None


def _time(
    raw: Mapping[str, Any], key: str, errors: _Errors, prefix: str, *, required: bool
) -> int | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            errors.add(prefix + key, "can't be blank")
        return None
    ts = parse_time(value)
    if ts is None:
        errors.add(prefix + key, "is invalid")
    return ts


class Invoices:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    # validation ----------------------------------------------------------------------------

    def _transaction(
        self, raw: object, invoice: Invoice, batch: _Batch, errors: _Errors, prefix: str
    ) -> Transaction | None:
        if not isinstance(raw, dict):
            errors.add(prefix.rstrip("."), "is invalid")
            return None
        kind, result = raw.get("type"), raw.get("result")
        if kind not in TRANSACTION_TYPES:
            errors.add(prefix + "type", "is not included in the list")
        if result not in TRANSACTION_RESULTS:
            errors.add(prefix + "result", "is not included in the list")
        date = _time(raw, "date", errors, prefix, required=True)
        external_id = _str(raw, "external_id", errors, prefix)
        ds = invoice.data_source.uuid
        if external_id is not None:
            if (
                ds,
                external_id,
            ) in self.reg.transaction_externals or external_id in batch.transactions:
                errors.add(prefix + "external_id", DUPLICATE_TRANSACTION)
            batch.transactions.add(external_id)
        amount = _int(raw, "amount_in_cents", errors, prefix, None)
        fees = _int(raw, "transaction_fees_in_cents", errors, prefix, None)
        if date is None or kind not in TRANSACTION_TYPES or result not in TRANSACTION_RESULTS:
            return None
        return Transaction(
            uuid=self.reg.ids.prefixed("tr"),
            external_id=external_id,
            invoice=invoice,
            type=str(kind),
            date=date,
            result=str(result),
            amount_in_cents=amount,
            transaction_fees_in_cents=fees,
            transaction_fees_currency=_str(raw, "transaction_fees_currency", errors, prefix),
        )

    def _subscription(
        self, batch: _Batch, item: LineItem, external_id: str, set_id: str | None
    ) -> Subscription:
        customer = batch.customer
        existing = customer.subscriptions.get(external_id) or batch.new_subscriptions.get(
            external_id
        )
        if existing is not None:
            if set_id:
                batch.set_ids[existing] = set_id
            return existing
        assert item.plan is not None
        subscription = Subscription(
            uuid=self.reg.ids.prefixed("sub"),
            metrics_uuid=self.reg.ids.uuid(),
            id=next(self.reg.ids.subscription_ids),
            external_id=external_id,
            set_external_id=set_id or external_id,
            customer=customer,
            data_source=customer.data_source,
            plan=item.plan,
            created_at=self.reg.now(),
        )
        batch.new_subscriptions[external_id] = subscription
        return subscription

    def _line_item(
        self, raw: object, invoice: Invoice, batch: _Batch, errors: _Errors
    ) -> LineItem | None:
        p = "line_items."
        if not isinstance(raw, dict):
            errors.add("line_items", "is invalid")
            return None
        kind = raw.get("type")
        if kind not in LINE_ITEM_TYPES:
            errors.add(p + "type", "is not included in the list")
            return None
        if "amount_in_cents" not in raw:
            errors.add(p + "amount_in_cents", "can't be blank")
        amount = _int(raw, "amount_in_cents", errors, p, 0)
        quantity = _int(raw, "quantity", errors, p, 1)
        if quantity is not None and quantity < 0:
            errors.add(p + "quantity", "must be greater than or equal to 0")
        external_id = _str(raw, "external_id", errors, p)
        if external_id is not None:
            ds = invoice.data_source.uuid
            if (ds, external_id) in self.reg.line_item_externals or external_id in batch.line_items:
                errors.add(p + "external_id", DUPLICATE_LINE_ITEM)
            batch.line_items.add(external_id)
        prorated = raw.get("prorated", False)
        if not isinstance(prorated, bool):
            errors.add(p + "prorated", "is invalid")
        if raw.get("proration_type", PRORATION_TYPES[0]) not in PRORATION_TYPES:
            errors.add(p + "proration_type", "is not included in the list")
        item = LineItem(
            uuid=self.reg.ids.prefixed("li"),
            external_id=external_id,
            type=str(kind),
            invoice=invoice,
            amount_in_cents=amount or 0,
            quantity=1 if quantity is None else quantity,
            prorated=prorated is True,
        )
        # Descriptive fields: only those present are read (imports are hot when seeding).
        for key in raw.keys() & _ITEM_INTS:
            value = _int(raw, key, errors, p, None)
            if value is not None:
                setattr(item, key, value)
        for key in raw.keys() & _ITEM_STRS:
            text = _str(raw, key, errors, p)
            if text is not None:
                setattr(item, key, text)
        if kind == "one_time":
            return item
        sub_external_id = _str(raw, "subscription_external_id", errors, p)
        if not sub_external_id:
            errors.add(p + "subscription_external_id", "can't be blank")
        plan_uuid = raw.get("plan_uuid")
        plan = self.reg.plans.get(plan_uuid) if isinstance(plan_uuid, str) else None
        if not plan_uuid:
            errors.add(p + "plan_uuid", "can't be blank")
        elif plan is None or plan.data_source is not invoice.data_source:
            errors.add(p + "plan_uuid", "is invalid")
        start = _time(raw, "service_period_start", errors, p, required=True)
        end = _time(raw, "service_period_end", errors, p, required=True)
        if start is not None and end is not None and end <= start:
            errors.add(p + "service_period_end", "must be after the service period start")
        item.cancelled_at = _time(raw, "cancelled_at", errors, p, required=False)
        if plan is None or not sub_external_id or start is None or end is None:
            return None
        item.plan, item.service_period_start, item.service_period_end = plan, start, end
        set_id = _str(raw, "subscription_set_external_id", errors, p)
        item.subscription = self._subscription(batch, item, sub_external_id, set_id)
        return item

    def _invoice(self, raw: object, batch: _Batch) -> tuple[Invoice | None, _Errors]:
        errors = _Errors()
        if not isinstance(raw, dict):
            errors.add("invoice", "is invalid")
            return None, errors
        customer = batch.customer
        external_id = _str(raw, "external_id", errors, "")
        if not external_id:
            errors.add("external_id", "can't be blank")
        elif (customer.data_source.uuid, external_id) in self.reg.invoice_by_external or (
            external_id in batch.invoices
        ):
            errors.add("external_id", DUPLICATE_INVOICE)
        currency = raw.get("currency")
        if not currency:
            errors.add("currency", "can't be blank")
        elif not isinstance(currency, str) or currency.upper() not in ISO_4217:
            # Not an ISO 4217 code: refused with the batch's 422 (the wording is chosen).
            errors.add("currency", "is invalid")
        elif not self.reg.rates.knows(currency.upper()):
            # A real code the sandbox's fixed rate table lacks: the sandbox's limit, not
            # ChartMogul's (which converts any currency it has a daily rate for).
            errors.add("currency", f"has no exchange rate in the sandbox ({currency.upper()})")
        invoice = Invoice(
            uuid=self.reg.ids.prefixed("inv"),
            external_id=external_id or "",
            customer=customer,
            data_source=customer.data_source,
            date=_time(raw, "date", errors, "", required=True) or 0,
            due_date=_time(raw, "due_date", errors, "", required=False),
            currency=str(currency).upper(),
            seq=0,
        )
        items = raw.get("line_items")
        if not isinstance(items, list) or not items:
            errors.add("line_items", "can't be blank")
            items = []
        for raw_item in items:
            item = self._line_item(raw_item, invoice, batch, errors)
            if item is not None:
                invoice.line_items.append(item)
        transactions = raw.get("transactions") or []
        if not isinstance(transactions, list):
            errors.add("transactions", "is invalid")
            transactions = []
        for raw_tr in transactions:
            tr = self._transaction(raw_tr, invoice, batch, errors, "transactions.")
            if tr is not None:
                invoice.transactions.append(tr)
        if external_id:
            batch.invoices.add(external_id)
        return invoice, errors

    # import --------------------------------------------------------------------------------

    def import_invoices(self, customer_uuid: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        customer = self.reg.customers.get(customer_uuid)
        if customer is None:
            raise ApiError(404, UNKNOWN_CUSTOMER)
        if "invoices" not in body:
            raise missing_parameter("invoices")
        raws = body["invoices"]
        if not isinstance(raws, list):
            raise bad_parameter("invoices")
        batch = _Batch(customer)
        checked = [self._invoice(raw, batch) for raw in raws]
        if any(errors for _, errors in checked):
            echoed = [
                {**(raw if isinstance(raw, dict) else {}), "errors": dict(errors)}
                for raw, (_, errors) in zip(raws, checked, strict=True)
            ]
            raise ApiError(422, {"invoices": echoed})
        for subscription in batch.new_subscriptions.values():
            customer.subscriptions[subscription.external_id] = subscription
            self.reg.subscriptions[subscription.uuid] = subscription
        for subscription, set_id in batch.set_ids.items():
            subscription.set_external_id = set_id
        created: list[Invoice] = []
        for invoice, _ in checked:
            assert invoice is not None
            invoice.seq = next(self.reg.seq)
            for item in invoice.line_items:
                if item.subscription is not None:
                    item.subscription.line_items.append(item)
            self.reg.add_invoice(invoice)
            created.append(invoice)
        for subscription in customer.subscriptions.values():
            latest = max(
                (i for i in subscription.line_items if i.plan is not None),
                key=lambda i: i.service_period_start or 0,
                default=None,
            )
            if latest is not None and latest.plan is not None:
                subscription.plan = latest.plan
        rebuild(self.reg, customer)
        return [invoice_json(invoice, with_customer=False) for invoice in created]

    def add_transaction(self, invoice_uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/import/invoices/{uuid}/transactions``: e.g. a failed payment's recovery."""
        invoice = self.get(invoice_uuid)
        batch = _Batch(invoice.customer)
        errors = _Errors()
        transaction = self._transaction(body, invoice, batch, errors, "")
        if errors or transaction is None:
            raise field_errors(dict(errors))
        invoice.transactions.append(transaction)
        if transaction.external_id is not None:
            self.reg.transaction_externals.add((invoice.data_source.uuid, transaction.external_id))
        rebuild(self.reg, invoice.customer)  # a payment event reprocesses the customer
        return transaction_json(transaction)

    # reading -------------------------------------------------------------------------------

    def get(self, uuid: str) -> Invoice:
        invoice = self.reg.invoices.get(uuid)
        if invoice is None:
            raise not_found("Invoice")
        return invoice

    def retrieve(self, uuid: str) -> dict[str, Any]:
        return invoice_json(self.get(uuid), with_customer=True)

    def delete(self, uuid: str) -> None:
        """``DELETE /v1/invoices/{uuid}``: 204, then 404 for it. Its line items and
        transactions go, its subscription too if this was its only invoice, and the customer's
        history is rebuilt from what remains [REAL: ChartMogul API reference, "Delete an
        Invoice", https://dev.chartmogul.com/reference/delete-an-invoice]."""
        invoice = self.get(uuid)
        self.reg.forget_invoice(invoice)
        rebuild(self.reg, invoice.customer)

    def _cursor(self, invoice: Invoice) -> str:
        return encode_cursor(f"{iso_millis(invoice.date)}&{invoice.seq}")

    def list_all(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /v1/invoices``: newest import first [REAL ordering], filterable."""
        reject_page(query)
        limit = per_page(query)
        last = decode_cursor(query["cursor"]) if "cursor" in query else None
        customer_uuid = query.get("customer_uuid")
        if customer_uuid is not None:
            source: list[Invoice] = (
                list(self.reg.customers[customer_uuid].invoices)
                if (customer_uuid in self.reg.customers)
                else []
            )
        else:
            source = self.reg.invoice_order
        stop = len(source) if last is None else bisect_left(source, last, key=_invoice_seq)
        ds, ext = query.get("data_source_uuid"), query.get("external_id")

        def matches() -> Iterator[Invoice]:
            for invoice in reversed(source[:stop]):
                if not self.reg.live_invoice(invoice):
                    continue
                if ds is not None and invoice.data_source.uuid != ds:
                    continue
                if ext is not None and invoice.external_id != ext:
                    continue
                yield invoice

        found = list(islice(matches(), limit + 1))
        page = found[:limit]
        body: dict[str, Any] = {"invoices": [invoice_json(i, with_customer=True) for i in page]}
        if last is None:
            body.update(total_pages=-(-sum(1 for _ in matches()) // limit), current_page=1)
        body.update(cursor=self._cursor(page[-1]) if page else None, has_more=len(found) > limit)
        return body

    def list_for_customer(self, customer_uuid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /v1/import/customers/{uuid}/invoices``: that customer's, oldest first."""
        customer = self.reg.customers.get(customer_uuid)
        if customer is None:
            raise ApiError(404, UNKNOWN_CUSTOMER)
        limit = per_page(query)
        last = decode_cursor(query["cursor"]) if "cursor" in query else None
        invoices = customer.invoices
        start = 0 if last is None else bisect_right(invoices, last, key=_invoice_seq)
        page = invoices[start : start + limit]
        body: dict[str, Any] = {
            "customer_uuid": customer.uuid,
            "invoices": [invoice_json(i, with_customer=False) for i in page],
        }
        if last is None:
            body.update(current_page=1, total_pages=-(-len(invoices) // limit))
        body.update(
            cursor=self._cursor(page[-1]) if page else None,
            has_more=start + limit < len(invoices),
        )
        return body
