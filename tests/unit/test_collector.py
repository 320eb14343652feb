"""The daemon's garbage collector settings: start-up objects frozen, young collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cmsync.collector import FIRST_GENERATION, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_tuning_freezes_what_is_alive_and_keeps_the_older_generations_thresholds() -> None:
    _, second, third = gc.get_threshold()
    alive = [object(), {"cycle": None}]  # a container alive at tuning time
    tune_collector()
    assert gc.get_threshold() == (FIRST_GENERATION, second, third)
    assert gc.get_freeze_count() > 0
    # Frozen objects are in no generation: no collection walks them again.
    assert all(o is not alive[1] for o in gc.get_objects())
    tune_collector()  # again: the same settings
    assert gc.get_threshold() == (FIRST_GENERATION, second, third)
