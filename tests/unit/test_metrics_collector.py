"""The metrics' writes counter: the audit entries added since the daemon started, per system,
object and operation, each counted once however often the figures are collected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cmsync.monitoring import StoreCollector, metrics_registry
from state import Store, System
from state.records import AuditItem

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _write(store: Store, *actions: tuple[str, str]) -> None:
    with store.transaction() as tx:
        tx.audit.append(
            [AuditItem(System.SALESFORCE, obj, "001", action, {}, "sig") for obj, action in actions]
        )


def _writes(collector: StoreCollector) -> dict[tuple[str, str], float]:
    registry, _ = metrics_registry(collector)
    text = generate_latest(registry).decode()
    return {
        (s.labels["object"], s.labels["operation"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "cmsync_writes_total"
    }


def test_writes_are_counted_from_the_start_once_each(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path, clock=lambda: NOW) as store:
        _write(store, ("Account", "update"), ("Account", "update"))  # before this process
        with store.transaction() as tx:
            started = tx.queries.newest_id("audit")
        collector = StoreCollector(path, clock=lambda: NOW)
        collector.start_writes_after(started)
        assert _writes(collector) == {}
        _write(store, ("Account", "update"), ("Task", "upsert"), ("Account", "update"))
        assert _writes(collector) == {("Account", "update"): 2, ("Task", "upsert"): 1}
        assert _writes(collector) == {("Account", "update"): 2, ("Task", "upsert"): 1}
        _write(store, ("Task", "upsert"))
        assert _writes(collector) == {("Account", "update"): 2, ("Task", "upsert"): 2}
