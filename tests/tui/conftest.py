"""Fixtures for the dashboard tests: a filled store, the daemon's writer on it, and the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from state import Store
from tests.tui.storefill import NOW, fill_store
from tui import Dashboard, DataSource
from tui.commands import CommandWriter

SCHEDULES = {
    "chartmogul.activities": timedelta(minutes=5),
    "dispatch": timedelta(seconds=30),
    "salesforce.closed_won": timedelta(minutes=1),
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cmsync.db"


@pytest.fixture
def daemon(db_path: Path) -> Iterator[Store]:
    """The filled store, held open as the daemon's writer connection."""
    store = fill_store(db_path)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def make_app(db_path: Path) -> Iterator[Callable[..., Dashboard]]:
    """Dashboards over ``db_path`` with a fixed clock and no timer (tests refresh by hand)."""
    opened: list[tuple[DataSource, CommandWriter]] = []

    def make(**options: Any) -> Dashboard:
        source = DataSource(db_path, clock=lambda: NOW)
        writer = CommandWriter(db_path)
        opened.append((source, writer))
        settings: dict[str, Any] = {
            "target_label": "sandbox",
            "commands": writer,
            "clock": lambda: NOW,
            "refresh_every": None,
            "schedules": SCHEDULES,
        }
        settings.update(options)
        return Dashboard(source, **settings)

    yield make
    for source, writer in opened:
        writer.close()
        source.close()
