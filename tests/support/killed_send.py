"""A process that dies between a Closed-Won deal's customer and its invoice.

``python -m tests.support.killed_send CONFIG`` sends the outbox's ChartMogul rows as the
dispatcher does, through a client whose invoice import ends the process (``os._exit``, no
clean-up: as SIGKILL leaves it) before its request goes out. The customer is created, the
invoice is not, and the row stays in flight, for the next ``cmsync once`` or daemon start to
requeue. ``CONFIG N`` lets the first N - 1 imports go out and dies at the N-th: the executor
sends several deals side by side, so others' creates and imports are in flight then.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Invoice
from cmsync.chartmogul.writes import NewInvoice
from cmsync.config import load_settings
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.translate import Translator
from state import Store

__all__ = ["KILLED"]

KILLED = 137  # the exit status a shell reports for SIGKILL


class _DiesBeforeImport(ChartMogulClient):
    alive = 1  # imports let through before the one that dies

    async def import_invoices(
        self, customer_uuid: str, invoices: list[NewInvoice]
    ) -> list[Invoice]:
        self.alive -= 1
        if self.alive > 0:
            return await super().import_invoices(customer_uuid, invoices)
        sys.stdout.flush()
        os._exit(KILLED)


async def _main(config: Path, nth: int) -> None:
    settings = load_settings(config)
    store = Store.open(settings.store.path)
    async with connect(settings.chartmogul) as client:
        dying = _DiesBeforeImport(client.transport)
        dying.alive = nth
        translator = Translator(settings.fields, settings.sync)
        executor = ChartMogulExecutor(
            store, dying, settings, translator, clock=lambda: datetime.now(UTC)
        )
        await executor.drain()


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1))
    sys.exit(1)  # no invoice import was reached: the test's premise failed
