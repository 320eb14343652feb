"""Both emulators date their answers by the emulated clock, and cmsync's clients measure it.

A real server's ``Date`` header is its own clock's time (RFC 9110 §6.6.1 Date: an origin
server with a clock "MUST generate a Date header field in all 2xx (Successful), 3xx
(Redirection), and 4xx (Client Error) responses"); Salesforce and ChartMogul both send one.
So ``POST /__sandbox/clock`` is how a test puts a server's clock ahead of the client's.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cmsync.chartmogul import connect
from cmsync.config import Settings, load_settings
from cmsync.retry import RetryPolicy
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state.serverclock import ServerClock, parse_http_date

AHEAD = 600  # seconds the servers' clock is put ahead of this machine's
SLACK = timedelta(seconds=2)  # Date has whole seconds; the answer takes a moment


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("server-date"), accounts=3)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def settings(sandbox: RunningSandbox) -> Settings:
    return load_settings(sandbox.config_file)


@pytest.fixture(scope="module")
def http(sandbox: RunningSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(sandbox.tls.ca_bundle)
    session.trust_env = False
    with session:
        yield session


def _dated(answer: requests.Response) -> datetime:
    date = answer.headers.get("Date")
    assert date is not None and date.endswith(" GMT"), date  # IMF-fixdate (RFC 9110 §5.6.7)
    moment = parse_http_date(date)
    assert moment is not None
    return moment


def _answers(sandbox: RunningSandbox, http: requests.Session) -> dict[str, requests.Response]:
    """A success and a refusal from each emulator."""
    cm, sf = sandbox.chartmogul_site.url, sandbox.salesforce_site.url
    key = sandbox.info["chartmogul"]["api_key"]
    return {
        "ChartMogul 200": http.get(f"{cm}/v1/ping", auth=(key, ""), timeout=10),
        "ChartMogul 401": http.get(f"{cm}/v1/ping", auth=("wrong", ""), timeout=10),
        "Salesforce 200": http.get(f"{sf}/services/data/", timeout=10),
        "Salesforce 401": http.get(
            f"{sf}/services/data/v62.0/query/",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": "Bearer 00Dbogus!token"},
            timeout=10,
        ),
    }


def test_every_answer_is_dated_by_the_emulated_clock(
    sandbox: RunningSandbox, http: requests.Session
) -> None:
    for name, answer in _answers(sandbox, http).items():
        assert answer.status_code == int(name[-3:]), (name, answer.text)
        assert abs(_dated(answer) - datetime.now(UTC)) <= SLACK, name
    refused = _answers(sandbox, http)["Salesforce 401"]
    assert refused.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]

    admin = sandbox.salesforce_site.url + "/__sandbox/clock"
    http.post(admin, json={"advance_seconds": AHEAD}, timeout=10).raise_for_status()
    ahead = datetime.now(UTC) + timedelta(seconds=AHEAD)
    for name, answer in _answers(sandbox, http).items():
        assert answer.status_code == int(name[-3:]), (name, answer.text)
        assert abs(_dated(answer) - ahead) <= SLACK, name


async def test_each_client_measures_its_servers_clock(
    sandbox: RunningSandbox, settings: Settings
) -> None:
    offset = timedelta(seconds=sandbox.ctx.clock.offset_seconds)
    assert offset >= timedelta(seconds=AHEAD)  # the test above moved it

    salesforce = ServerClock()
    gateway = SalesforceGateway(
        settings.salesforce, policy=RetryPolicy(max_attempts=1), server_clock=salesforce
    )
    try:
        await gateway.query("SELECT COUNT() FROM Account")
    finally:
        await gateway.close()
    chartmogul = ServerClock()
    async with connect(settings.chartmogul, server_clock=chartmogul) as client:
        assert await client.ping()

    for clock in (salesforce, chartmogul):
        assert clock.measured
        assert abs(clock.offset - offset) <= timedelta(seconds=1), clock
        assert abs(clock.now() - sandbox.ctx.clock.now()) <= SLACK, clock
