"""Which web addresses cross between the systems: http and https ones, nothing else (pure).

A website typed into Salesforce is shown as a link in ChartMogul, and ChartMogul's customer
link is shown as one on the Account: an address with another scheme (``javascript:``,
``data:``, ``file:``...) would run or open something other than a web page for whoever
clicks it. Such a value is dropped, with the reason, rather than copied.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["SCHEMES", "web_url"]

SCHEMES = frozenset({"http", "https"})


def web_url(value: str | None) -> tuple[str | None, str | None]:
    """(the address to copy, None) or (None, why it is dropped); (None, None) for no value.

    An address without a scheme (``example.com``, as people type websites) is read as an
    ``https://`` one and copied as typed; a host is required either way.
    """
    if value is None or not value.strip():
        return None, None
    text = value.strip()
    if any(ord(c) < 32 or c.isspace() for c in text):
        return None, f"the address {text[:60]!r} holds spaces or control characters"
    candidate = text if "://" in text or ":" in text.split("/", 1)[0] else f"https://{text}"
    try:
        parts = urlsplit(candidate)
    except ValueError as exc:
        return None, f"the address {text[:60]!r} is not a URL ({exc})"
    if parts.scheme.lower() not in SCHEMES:
        scheme = parts.scheme or "no"
        return None, f"the address {text[:60]!r} is not http or https ({scheme} scheme)"
    if not parts.hostname:
        return None, f"the address {text[:60]!r} names no host"
    return text, None
