"""cmsync's ChartMogul client against the emulator, over real sockets and TLS.

The emulator runs on its own loop in a thread (``LoopThread``); the client runs on the test's
loop, so every exchange crosses a real socket as it would in production.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pydantic import SecretStr

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import (
    ChartMogulAuthError,
    ChartMogulClientError,
    ChartMogulRetriableError,
)
from cmsync.chartmogul.transport import Transport, TransportPolicy
from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewLineItem, NewTransaction
from cmsync.config import ChartMogulSettings
from cmsync.retry import RetryPolicy
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector, FaultProfile
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.seed import SeedResult, seed
from cmsync.sandbox.serve import LoopThread, start_site
from cmsync.sandbox.tls import SandboxTLS

API_KEY = "cm-client-test-key-0123456789"


class _IdsOnly:
    """The seeder also fills Salesforce; these tests only need Account-like ids back."""

    def __init__(self) -> None:
        self.count = 0

    def insert(self, sobject: str, fields: dict[str, Any]) -> str:
        self.count += 1
        return f"001{self.count:015d}"

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        return None


@dataclass
class Sandbox:
    url: str
    tls: SandboxTLS
    ctx: SandboxContext
    emulator: ChartMogulEmulator
    seeded: SeedResult


@pytest.fixture(scope="module")
def cm(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tls = SandboxTLS.create(tmp_path_factory.mktemp("cm-client-tls"))
    ctx = SandboxContext(faults=FaultInjector("none", seed=11))
    emulator = ChartMogulEmulator(ctx, API_KEY)
    seeded = seed(generate(5, 40, ctx.clock.now()), emulator.store, _IdsOnly())
    site = sandbox_loop.call(start_site(emulator.create_app(), tls.server_context))
    try:
        yield Sandbox(site.url, tls, ctx, emulator, seeded)
    finally:
        sandbox_loop.call(site.stop())


@pytest.fixture(autouse=True)
def _quiet_faults(cm: Sandbox) -> Iterator[None]:
    yield
    cm.ctx.faults.set_profile("none")


FAST_RETRIES = TransportPolicy(
    retry=RetryPolicy(max_attempts=6, initial_backoff=0.05, max_backoff=0.2)
)


# One client (one rate limiter) for the module, as the daemon has one: per-test clients would
# each pace themselves and together overrun the emulator's one-second window.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(cm: Sandbox) -> AsyncIterator[ChartMogulClient]:
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=str(cm.tls.ca_bundle)))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield ChartMogulClient(Transport(session, cm.url, SecretStr(API_KEY), FAST_RETRIES))


def _count(cm: Sandbox, status: int) -> int:
    return int(cm.emulator.stats.by_status.get(status, 0))


async def test_pages_the_whole_activity_feed_once(cm: Sandbox, client: ChartMogulClient) -> None:
    total = cm.emulator.store.run(lambda: len(cm.emulator.store.registry.feed))
    seen: list[str] = []
    pages = 0
    async for page in client.activity_pages(per_page=25):
        pages += 1
        assert len(page.entries) <= 25 and not page.rejected
        seen.extend(a.uuid for a in page.entries)
    assert total > 25 and len(seen) == total == len(set(seen))
    assert pages == -(-total // 25)


async def test_customers_page_and_search(cm: Sandbox, client: ChartMogulClient) -> None:
    customers = [c async for page in client.customer_pages() for c in page.entries]
    assert len(customers) == len(cm.seeded.customer_uuids)
    with_email = next(c for c in customers if c.email)
    assert with_email.email is not None
    found = await client.search_customers(with_email.email)
    assert with_email.uuid in {c.uuid for c in found}
    assert await client.search_customers("nobody-at-all@nowhere.example") == []
    one = await client.get_customer(with_email.uuid)
    assert one.uuid == with_email.uuid and one.mrr == with_email.mrr


async def test_subscriptions_and_update(cm: Sandbox, client: ChartMogulClient) -> None:
    customers = [c async for page in client.customer_pages(status="Active") for c in page.entries]
    paying = customers[0]
    subscriptions = [s async for s in client.iter_subscriptions(paying.uuid)]
    assert subscriptions and sum(s.mrr for s in subscriptions) == paying.mrr
    updated = await client.update_customer(paying.uuid, {"name": "Renamed Ltd"})
    assert (
        updated.name == "Renamed Ltd"
        and (await client.get_customer(paying.uuid)).name == updated.name
    )


async def test_connect_builds_the_client_from_settings(cm: Sandbox) -> None:
    settings = ChartMogulSettings(
        base_url=cm.url,  # type: ignore[arg-type]
        api_key=SecretStr(API_KEY),
        ca_bundle=cm.tls.ca_bundle,
        timeout_seconds=5,
    )
    async with connect(settings) as client:
        assert await client.ping()
        assert client.transport.policy.timeout_seconds == 5


async def test_create_is_safe_to_repeat(cm: Sandbox, client: ChartMogulClient) -> None:
    new = NewCustomer(
        data_source_uuid=cm.seeded.data_source_uuid,
        external_id="001000000000000XYZ",
        name='O\'Brien "Quoted" Ltd',
        email="ops@obrien.example",
        country="IE",
    )
    first = await client.create_customer(new)
    again = await client.create_customer(new)  # refused as a duplicate, found by external id
    assert again.uuid == first.uuid
    found = [c async for p in client.customer_pages(external_id=new.external_id) for c in p.entries]
    assert [c.uuid for c in found] == [first.uuid]


async def test_creates_whose_answers_were_lost_are_not_repeated(
    cm: Sandbox, client: ChartMogulClient
) -> None:
    # Half the requests are carried out and then their answers lost.
    cm.ctx.faults.set_profile(FaultProfile("lost-half", lost_answer=0.5))
    keys = [f"001000000000LST{i:03d}" for i in range(12)]
    created = {}
    for key in keys:
        new = NewCustomer(data_source_uuid=cm.seeded.data_source_uuid, external_id=key, name=key)
        created[key] = (await client.create_customer(new)).uuid
    cm.ctx.faults.set_profile("none")
    assert cm.ctx.faults.injected["lost_answer"] >= 3
    for key in keys:
        found = [c async for p in client.customer_pages(external_id=key) for c in p.entries]
        assert [c.uuid for c in found] == [created[key]]


async def test_invoice_import_is_safe_to_repeat(cm: Sandbox, client: ChartMogulClient) -> None:
    ds = cm.seeded.data_source_uuid
    customer = await client.create_customer(
        NewCustomer(data_source_uuid=ds, external_id="001000000000000INV", name="Invoice Co")
    )
    plans = [p async for page in client.plan_pages(data_source_uuid=ds) for p in page.entries]
    plan = next(p for p in plans if p.interval_unit == "month" and p.interval_count == 1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    invoice = NewInvoice(
        external_id="opp-006000000000001AAA",
        date=start,
        currency="USD",
        customer_external_id="001000000000000INV",
        data_source_uuid=ds,
        line_items=(
            NewLineItem(
                subscription_external_id="opp-006000000000001AAA",
                plan_uuid=plan.uuid,
                service_period_start=start,
                service_period_end=start + timedelta(days=30),
                amount_in_cents=120_000,
                quantity=4,
                external_id="opp-006000000000001AAA-li1",
            ),
        ),
        transactions=(NewTransaction(date=start, result="successful", external_id="opp-0060-tx1"),),
    )
    (imported,) = await client.import_invoices(customer.uuid, [invoice])
    (again,) = await client.import_invoices(customer.uuid, [invoice])
    assert again.uuid == imported.uuid
    invoices = [
        i async for p in client.invoice_pages(customer_uuid=customer.uuid) for i in p.entries
    ]
    assert [i.uuid for i in invoices] == [imported.uuid]
    refreshed = await client.get_customer(customer.uuid)
    assert refreshed.mrr > 0  # the engine turned the invoice into MRR


async def test_metrics(client: ChartMogulClient) -> None:
    today = date.today()
    report = await client.metrics(today - timedelta(days=90), today, "month")
    assert report.entries and report.entries[-1].mrr is not None
    assert all(e.arr == (e.mrr or 0) * 12 for e in report.entries if e.arr is not None)


async def test_a_5xx_storm_is_retried_then_surfaces_clearly(
    cm: Sandbox, client: ChartMogulClient
) -> None:
    cm.ctx.faults.set_profile(FaultProfile("some-errors", server_error=0.5))
    assert await client.ping()  # retried through the errors
    cm.ctx.faults.set_profile(FaultProfile("storm", server_error=1.0))
    before = cm.emulator.stats.snapshot()["total"]
    with pytest.raises(ChartMogulRetriableError) as caught:
        await client.ping()
    assert caught.value.status in (500, 503)
    assert "GET /ping" in str(caught.value)
    assert cm.emulator.stats.snapshot()["total"] - before == 6  # max_attempts, then it gives up


async def test_client_errors_are_not_retried_and_carry_the_api_message(
    cm: Sandbox, client: ChartMogulClient
) -> None:
    before = cm.emulator.stats.snapshot()["total"]
    with pytest.raises(ChartMogulClientError) as caught:
        await client.create_customer(
            NewCustomer(data_source_uuid="ds_00000000-0000-0000-0000-000000000000", external_id="x")
        )
    assert cm.emulator.stats.snapshot()["total"] - before == 1
    assert caught.value.status in (400, 404, 422)
    assert caught.value.api_message


async def test_the_api_key_never_shows(cm: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=str(cm.tls.ca_bundle)))
    async with aiohttp.ClientSession(connector=connector) as session:
        wrong = ChartMogulClient(Transport(session, cm.url, SecretStr("wrong-" + API_KEY)))
        with pytest.raises(ChartMogulAuthError) as caught:
            await wrong.ping()
    assert caught.value.api_message == "No valid API key provided"
    shown = repr(wrong) + repr(wrong.transport) + str(caught.value) + caplog.text
    assert API_KEY not in shown


async def test_rate_limit_and_concurrency_stay_inside_chartmogul_limits(
    cm: Sandbox, client: ChartMogulClient
) -> None:
    await asyncio.sleep(1.1)  # let the emulator's one-second window forget earlier tests
    throttled = _count(cm, 429) + _count(cm, 503)
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(client.ping() for _ in range(90)))
    elapsed = asyncio.get_running_loop().time() - started
    assert all(results)
    assert _count(cm, 429) + _count(cm, 503) == throttled  # never refused
    assert elapsed >= 2.0  # 90 requests at 30 per second take at least two seconds
