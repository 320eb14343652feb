"""The ``sandbox`` extra in pyproject.toml and the packages ``cmsync sandbox`` checks for agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from cmsync.sandbox_extra import SANDBOX_EXTRA, SANDBOX_PACKAGES

PROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
    "project"
]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_extra_brings_exactly_the_packages_the_sandbox_checks_for() -> None:
    extras = PROJECT["optional-dependencies"]
    assert _names(extras["sandbox"]) == set(SANDBOX_PACKAGES)
    assert f"{PROJECT['name']}[sandbox]" == SANDBOX_EXTRA


def test_a_plain_install_does_not_bring_them_and_the_tests_do() -> None:
    assert not _names(PROJECT["dependencies"]) & set(SANDBOX_PACKAGES)
    assert SANDBOX_EXTRA in PROJECT["optional-dependencies"]["dev"]  # the suite runs the sandbox
