"""The benchmarks' cmsync process: the real sync steps, or the bare client, timed from inside.

    python -m bench.drive pass  --config FILE --out RESULT.json --steps load_context,...
    python -m bench.drive floor --config FILE --out RESULT.json --feeds activities,customers

``pass`` runs the named steps of ``SyncPass`` (the daemon's own steps, each recorded as a job
run) over the configured store and services, as ``cmsync once`` does; ``floor`` only pages
through ChartMogul listings with cmsync's client (same transport, same rate limit, records
parsed), which is the fetch floor the catch-up is compared with. Either writes one JSON
object to ``--out``: step or feed timings, the process's CPU time and peak RSS, and, for a pass,
the Salesforce collections calls made per record kind.

It runs in its own process so that the sandbox (in the benchmark's process) and cmsync do not
share an interpreter lock: on two cores each gets one, as in production where they are
different machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.proc import status_mb
from cmsync.allocator import tune_allocator
from cmsync.chartmogul import connect
from cmsync.collector import tune_collector
from cmsync.config import Settings, load_settings
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.collections import CHUNK_SIZE, CollectionsWriter, RecordResult
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import Store

__all__ = ["CountingWriter", "main"]


class CountingWriter(CollectionsWriter):
    """The dispatcher's writer, counting calls and records per (object, operation)."""

    def __init__(self, gateway: SalesforceGateway) -> None:
        super().__init__(gateway)
        self.by_kind: Counter[str] = Counter()
        self.records: Counter[str] = Counter()

    def _count(self, kind: str, records: Sequence[Mapping[str, Any]]) -> None:
        self.by_kind[kind] += math.ceil(len(records) / CHUNK_SIZE)
        self.records[kind] += len(records)

    async def update(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        self._count(f"{sobject} update", records)
        return await super().update(sobject, records)

    async def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        self._count(f"{sobject} upsert", records)
        return await super().upsert(sobject, external_id_field, records)


def _plain(value: Any) -> Any:
    """A step's outcome as JSON-able data (dataclasses, counters, tuples, datetimes)."""
    if is_dataclass(value) and not isinstance(value, type):
        # Field by field, not ``asdict``: that deep-copies, and a context holds a connection.
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if f.name not in ("drift", "changed")
        }
    if isinstance(value, Mapping):
        return {
            (" ".join(k) if isinstance(k, tuple) else str(k)): _plain(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _process() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": status_mb().get("VmHWM", 0.0),  # not ru_maxrss: see ``bench.proc``
    }


def _kernel(since: resource.struct_rusage) -> dict[str, float]:
    """The kernel's share of a step since ``since``: its system CPU time (part of
    ``cpu_seconds``) and the megabytes it had written to files (the store's WAL and its
    checkpoints, 512-byte blocks as ``getrusage`` counts them). A step whose CPU grows with
    its writes is held up by the disk, not by the interpreter."""
    now = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "system_seconds": now.ru_stime - since.ru_stime,
        "written_mb": (now.ru_oublock - since.ru_oublock) * 512 / 1e6,
    }


async def run_pass(settings: Settings, steps: Sequence[str]) -> dict[str, Any]:
    """The steps of one sync pass, in order, each timed; as ``cmsync once`` runs them."""
    store = Store.open(settings.store.path)
    started = time.perf_counter()
    try:
        await in_store(store, lambda tx: tx.outbox.requeue_in_flight())
        async with connect(settings.chartmogul) as chartmogul:
            gateway = SalesforceGateway(
                settings.salesforce, budget=ApiBudget(settings.sync.api_budget_share)
            )
            sync = SyncPass(settings, store, chartmogul, gateway, lambda: datetime.now(UTC))
            try:
                writer = CountingWriter(gateway)
                sync.dispatcher.writer = writer
                results, cpu, kernel, rss = [], [], [], []
                before, usage = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
                async for result in sync.run_steps(steps):
                    results.append(result)
                    cpu.append(time.process_time() - before)
                    kernel.append(_kernel(usage))
                    rss.append(_process()["max_rss_mb"])
                    before, usage = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
                requests = chartmogul.transport.requests_sent
            finally:
                await sync.close()
                await gateway.close()
    finally:
        store.close()
    return {
        "seconds": time.perf_counter() - started,
        "steps": [
            {"name": r.name, "ok": r.ok, "seconds": r.seconds, "cpu_seconds": c, **k,
             "detail": r.detail, "outcome": _plain(r.outcome), "max_rss_mb_after": m}
            for r, c, k, m in zip(results, cpu, kernel, rss, strict=True)
        ],
        "salesforce_calls": dict(writer.by_kind),
        "salesforce_records": dict(writer.records),
        "chartmogul_requests": requests,
        **_process(),
    }  # fmt: skip


async def run_floor(settings: Settings, feeds: Sequence[str]) -> dict[str, Any]:
    """Page through each listing with the client alone; pages, records and seconds each."""
    out: dict[str, Any] = {}
    async with connect(settings.chartmogul) as client:
        for feed in feeds:
            pages = records = 0
            started = time.perf_counter()
            if feed == "activities":
                listing: Any = client.activity_pages(end_date=datetime.now(UTC).isoformat())
            elif feed == "customers":
                listing = client.customer_pages()
            elif feed == "invoices":
                listing = client.invoice_pages()
            else:
                raise SystemExit(f"unknown feed {feed!r}")
            async for page in listing:
                pages += 1
                records += len(page.entries)
            out[feed] = {"seconds": time.perf_counter() - started, "pages": pages,
                         "records": records}  # fmt: skip
    return {"feeds": out, **_process()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drive")
    parser.add_argument("what", choices=("pass", "floor"))
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--steps", default="")
    parser.add_argument("--feeds", default="activities")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON result goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = load_settings(args.config)
    tune_allocator()  # as ``cmsync once`` and ``cmsync run`` do
    tune_collector()
    if args.what == "pass":
        work = run_pass(settings, [s for s in args.steps.split(",") if s])
    else:
        work = run_floor(settings, [f for f in args.feeds.split(",") if f])
    result = asyncio.run(work)
    args.out.write_text(json.dumps(result) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
