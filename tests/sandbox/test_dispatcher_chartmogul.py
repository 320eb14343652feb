"""The dispatcher's ChartMogul executor against the ChartMogul emulator, over real sockets.

A Closed-Won deal's effect sent again (after a send cut short between the customer and the
invoice, or as a second row for the same deal) must not double anything: the real API refuses
a second customer or invoice with an external id it holds, ``422`` with ``{"errors":
{"external_id": "The external ID for this customer already exists in our system."}}`` (the
message the official Go client, chartmogul-go, names ``ErrKeyExternalIDExists``) and, for an
invoice import, the invoice's entry in the ``invoices`` list with ``"The external ID for this
invoice already exists in our system."`` (the recorded bodies are pinned in
``test_chartmogul_emulator``). The executor's client turns a refused create into the record the
first send made, and a deal whose invoice ChartMogul holds is not sent again.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulClientError
from cmsync.chartmogul.transport import Transport
from cmsync.config import load_settings
from cmsync.pipeline.closed_won.deal import Deal, new_customer
from cmsync.pipeline.closed_won.effect import DealImport, import_row
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.translate import Translator
from cmsync.sandbox.runner import RunningSandbox
from state import AccountLink, OutboxStatus, Store, System

DUPLICATE_CUSTOMER = "The external ID for this customer already exists in our system."
DUPLICATE_INVOICE = "The external ID for this invoice already exists in our system."


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cmsync.db") as opened:
        yield opened


@pytest.fixture
async def client(full_sandbox: RunningSandbox) -> AsyncIterator[ChartMogulClient]:
    settings = load_settings(full_sandbox.config_file).chartmogul
    assert settings.api_key is not None and settings.ca_bundle is not None
    context = ssl.create_default_context(cafile=str(settings.ca_bundle))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield ChartMogulClient(Transport(session, str(settings.base_url), settings.api_key))


def _deal(opportunity: str, account: str) -> Deal:
    return Deal(
        opportunity_id=opportunity, name="Twice Sent deal", account_id=account,
        amount=Decimal("1200"), close_date=date.today(), type="New Customer", plan_value=None,
        account_name="Twice Sent Ltd", country="DE", account_created=None, website=None,
        uuid_field=None,
    )  # fmt: skip


async def test_a_deal_sent_twice_makes_one_customer_and_one_invoice(
    full_sandbox: RunningSandbox, client: ChartMogulClient, store: Store
) -> None:
    settings = load_settings(full_sandbox.config_file)
    ds = settings.chartmogul.data_source_uuid
    assert ds is not None
    account, opportunity = "001Dn00000TWICE01A", "006Dn00000TWICE01A"
    decided = DealImport(
        _deal(opportunity, account), settings.closed_won.default_plan, "the default plan",
        None, ds, "billing@twice.example", None,
    )  # fmt: skip
    # A send cut short after the customer (as a killed process leaves it): the customer exists.
    made = await client.create_customer(new_customer(decided.deal, decided.email, ds))
    # Two rows for the one deal (the Opportunity edited while its first row waited).
    with store.transaction() as tx:
        tx.outbox.enqueue([import_row(decided, "v1"), import_row(decided, "v2")])
    executor = ChartMogulExecutor(
        store, client, settings, Translator(settings.fields, settings.sync),
        clock=lambda: datetime.now(UTC),
    )  # fmt: skip
    statuses = full_sandbox.chartmogul.stats.by_status
    refused_before = statuses[422]

    sent = await executor.drain()

    assert (sent.done, sent.dead, sent.imported, sent.already_imported) == (2, 0, 1, 1)
    # The first row's customer create refused as a duplicate (then found); the second row
    # found the invoice and created nothing.
    assert statuses[422] - refused_before == 1
    customers = [c async for p in client.customer_pages(external_id=account) for c in p.entries]
    invoices = [i async for p in client.invoice_pages(external_id=opportunity) for i in p.entries]
    assert [c.uuid for c in customers] == [made.uuid] and len(invoices) == 1
    with store.transaction() as tx:
        assert tx.outbox.pending(target_system=System.CHARTMOGUL) == []
        link = tx.links.by_account(account)
        assert isinstance(link, AccountLink) and link.customer_uuid == customers[0].uuid
        assert tx.deals.get(opportunity).invoice_uuid == invoices[0].uuid
        updates = tx.outbox.pending(target_system=System.SALESFORCE)
    # One Account update with the customer's UUID (both rows key it the same: one row).
    assert [(u.target_key, u.status) for u in updates] == [(account, OutboxStatus.PENDING)]

    # What the emulator answers a repeat, as the real API does.
    body = {"data_source_uuid": ds, "external_id": account, "name": "Twice Sent Ltd"}
    with pytest.raises(ChartMogulClientError) as refused:
        await client.transport.request("POST", "/customers", json=body)
    assert refused.value.status == 422
    assert refused.value.body == {"errors": {"external_id": DUPLICATE_CUSTOMER}}
