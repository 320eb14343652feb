"""The transport honours a Retry-After, should a server ever send one (ChartMogul does not).

The emulator is faithful and sends none, so this test talks to a tiny loopback peer that
answers 429 with ``Retry-After: 3`` once; the transport's sleep is recorded, not slept.
"""

from __future__ import annotations

from aiohttp import ClientSession, web
from pydantic import SecretStr

from cmsync.chartmogul.transport import Transport
from cmsync.sandbox.serve import start_site


async def test_a_retry_after_is_waited_exactly() -> None:
    answers = iter([(429, {"Retry-After": "3"}), (200, {})])

    async def ping(_: web.Request) -> web.Response:
        status, headers = next(answers)
        body = {"data": "pong!"} if status == 200 else {"code": 429, "message": "slow down"}
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_get("/v1/ping", ping)
    site = await start_site(app, None)
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    try:
        async with ClientSession() as session:
            transport = Transport(session, site.url, SecretStr("k"), sleep=record)
            assert await transport.request("GET", "/ping") == {"data": "pong!"}
    finally:
        await site.stop()
    assert slept == [3.0]
