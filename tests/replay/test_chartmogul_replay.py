"""The ChartMogul client replaying recorded exchanges (see conftest.py for re-recording).

Every request is derived from constants or from earlier answers, so a replay sends exactly the
recorded requests; the few values that only the recording target knows (its data source) sit
in ``context.json`` beside the cassettes.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.transport import Transport
from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewLineItem, NewTransaction
from cmsync.config import Settings
from tests.replay.conftest import CHARTMOGUL_HOST, HOSTS, ROOT

CONTEXT = ROOT / "cassettes" / "test_chartmogul_replay" / "context.json"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def context(record_settings: Settings | None) -> dict[str, str]:
    if record_settings is None:
        loaded: dict[str, str] = json.loads(CONTEXT.read_text())
        return loaded
    assert record_settings.chartmogul.data_source_uuid, "recording needs a data_source_uuid"
    written = {"data_source_uuid": record_settings.chartmogul.data_source_uuid}
    CONTEXT.parent.mkdir(parents=True, exist_ok=True)
    CONTEXT.write_text(json.dumps(written, indent=1) + "\n")
    return written


@pytest.fixture
async def client(record_settings: Settings | None) -> AsyncIterator[ChartMogulClient]:
    if record_settings is None:
        base, key, ssl_context = (
            CHARTMOGUL_HOST,
            SecretStr("replayed"),
            ssl.create_default_context(),
        )
    else:
        cm = record_settings.chartmogul
        base = str(cm.base_url).rstrip("/")
        assert cm.api_key is not None
        key = cm.api_key
        ssl_context = ssl.create_default_context(cafile=str(cm.ca_bundle) if cm.ca_bundle else None)
        HOSTS.add(base, CHARTMOGUL_HOST)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as session:
        yield ChartMogulClient(Transport(session, base, key))


@pytest.mark.vcr
async def test_reads(client: ChartMogulClient) -> None:
    assert await client.ping()
    pages = [page async for page in client.activity_pages(per_page=5)]
    assert len(pages) > 1 and all(len(p.entries) <= 5 for p in pages[:2])
    assert not pages[-1].has_more
    customers = [c async for page in client.customer_pages() for c in page.entries]
    email = next(c.email for c in customers if c.email)
    assert email in {c.email for c in await client.search_customers(email)}
    assert await client.search_customers("nobody@cmsync-replay.invalid") == []
    report = await client.metrics(date(2025, 1, 1), date(2025, 12, 31), "quarter")
    assert len(report.entries) == 4


@pytest.mark.vcr
async def test_writes(client: ChartMogulClient, context: dict[str, str]) -> None:
    ds = context["data_source_uuid"]
    customer = await client.create_customer(
        NewCustomer(data_source_uuid=ds, external_id="cmsync-replay-0001", name="Replay Ltd")
    )
    again = await client.create_customer(
        NewCustomer(data_source_uuid=ds, external_id="cmsync-replay-0001", name="Replay Ltd")
    )
    assert again.uuid == customer.uuid
    plans = [p async for page in client.plan_pages(data_source_uuid=ds) for p in page.entries]
    plan = next(p for p in plans if p.interval_unit == "month" and p.interval_count == 1)
    invoice = NewInvoice(
        external_id="cmsync-replay-inv-0001",
        date=START,
        currency="USD",
        customer_external_id="cmsync-replay-0001",
        data_source_uuid=ds,
        line_items=(
            NewLineItem(
                subscription_external_id="cmsync-replay-sub-0001",
                plan_uuid=plan.uuid,
                service_period_start=START,
                service_period_end=datetime(2026, 2, 1, tzinfo=UTC),
                amount_in_cents=9_900,
                external_id="cmsync-replay-li-0001",
            ),
        ),
        transactions=(
            NewTransaction(date=START, result="successful", external_id="cmsync-replay-tx-0001"),
        ),
    )
    (imported,) = await client.import_invoices(customer.uuid, [invoice])
    (repeated,) = await client.import_invoices(customer.uuid, [invoice])
    assert repeated.uuid == imported.uuid


def test_cassettes_hold_no_secrets() -> None:
    for cassette in Path(ROOT / "cassettes").rglob("*.yaml"):
        text = cassette.read_text()
        assert "Basic " not in text, cassette
        assert "Bearer " not in text or "Bearer REDACTED" in text, cassette
