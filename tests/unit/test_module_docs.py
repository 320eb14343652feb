"""The module docstrings that explain the core name what the code has: a step added to a pass,
a part added to the store's account tables or an entry added to the lifecycle without a word
in its module's theory of operation is noticed here."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import state.accounts
import state.lifecycle
from cmsync.pipeline import sync_pass


def test_the_pass_docstring_names_every_step() -> None:
    doc = sync_pass.__doc__ or ""
    steps = {*sync_pass.STEPS, "preview"}
    assert {step for step in steps if f"``{step}``" not in doc} == set()
    assert all(callable(getattr(sync_pass.SyncPass, step)) for step in steps)


@pytest.mark.parametrize(
    ("module", "kind"),
    [(state.accounts, inspect.isclass), (state.lifecycle, inspect.isfunction)],
)
def test_the_core_docstrings_name_what_they_offer(module: ModuleType, kind: object) -> None:
    assert callable(kind)
    doc = module.__doc__ or ""
    offered = {name for name in module.__all__ if kind(getattr(module, name))}
    assert offered and {name for name in offered if f"``{name}``" not in doc} == set()
