"""Clients for the modules that start a sandbox world of their own.

A module defines a ``world`` fixture (a running sandbox and the settings cmsync reads for
it); these give its tests a Salesforce gateway and a ChartMogul client on those settings,
each closed after its test. A module that needs other clients defines its own fixture of the
same name, which wins over these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import Settings
from cmsync.salesforce.gateway import SalesforceGateway


class _World(Protocol):
    @property
    def settings(self) -> Settings: ...


@pytest.fixture
async def gateway(world: _World) -> AsyncIterator[SalesforceGateway]:
    gw = SalesforceGateway(world.settings.salesforce)
    try:
        yield gw
    finally:
        await gw.close()


@pytest.fixture
async def cm(world: _World) -> AsyncIterator[ChartMogulClient]:
    async with connect(world.settings.chartmogul) as client:
        yield client
