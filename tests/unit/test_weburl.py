"""Only http and https addresses cross between the systems (``state.weburl``)."""

from __future__ import annotations

import pytest

from state.weburl import web_url


@pytest.mark.parametrize(
    "value",
    ["https://acme.example", "http://acme.example/about?x=1", "acme.example", "www.acme.example/a",
     "HTTPS://ACME.EXAMPLE"],
)  # fmt: skip
def test_web_addresses_cross_as_typed(value: str) -> None:
    assert web_url(value) == (value, None)
    assert web_url(f"  {value} ") == (value, None)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("javascript:alert(1)", "not http or https (javascript scheme)"),
        ("JaVaScRiPt:alert(document.cookie)", "not http or https (JaVaScRiPt scheme)"),
        ("data:text/html,<script>alert(1)</script>", "(data scheme)"),
        ("file:///etc/passwd", "(file scheme)"),
        ("ftp://files.example", "(ftp scheme)"),
        ("java\tscript:alert(1)", "spaces or control characters"),
        ("https://", "names no host"),
    ],
)
def test_other_addresses_are_dropped_with_the_reason(value: str, why: str) -> None:
    url, reason = web_url(value)
    assert url is None and reason is not None and why.lower() in reason.lower()


def test_no_address_is_no_reason() -> None:
    assert web_url(None) == web_url("") == web_url("   ") == (None, None)
