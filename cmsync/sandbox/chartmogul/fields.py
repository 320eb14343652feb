"""Reading fields out of request bodies and query strings, with ChartMogul's error answers.

Two kinds of failure, as in real traffic: a required parameter that is absent altogether is a
400 ``Parameter "x" is missing``; a parameter that is present but blank or of the wrong kind
is a 422 ``{"errors": {"x": message}}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cmsync.sandbox.chartmogul.errors import (
    ApiError,
    bad_parameter,
    field_errors,
    missing_parameter,
)
from cmsync.sandbox.chartmogul.timefmt import parse_time

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "decode_cursor",
    "encode_cursor",
    "optional_int",
    "optional_text",
    "optional_time",
    "per_page",
    "reject_page",
    "require_object",
    "required_text",
]

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 200


def require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, {"code": 400, "message": "Invalid JSON body", "param": None})
    return body


def required_text(body: Mapping[str, Any], key: str, blank_message: str = "can't be blank") -> str:
    if key not in body:
        raise missing_parameter(key)
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise field_errors({key: blank_message})
    return value


def optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise field_errors({key: "is invalid"})


def optional_int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_errors({key: "is not a number"})
    return value


def optional_time(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    ts = parse_time(value)
    if ts is None:
        raise field_errors({key: "is invalid"})
    return ts


def reject_page(query: Mapping[str, str]) -> None:
    """The deprecated offset parameter is refused [MOCK: official Python client tests]."""
    if "page" in query:
        raise ApiError(
            400, {"code": 400, "message": 'Parameter "page" is deprecated', "param": "page"}
        )


def per_page(query: Mapping[str, str], *names: str) -> int:
    """``per_page`` (or a legacy spelling such as ``per-page``): default 200, capped at 200."""
    for name in names or ("per_page",):
        raw = query.get(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise bad_parameter(name) from None
        if value < 1:
            raise bad_parameter(name)
        return min(value, MAX_PER_PAGE)
    return DEFAULT_PER_PAGE


def encode_cursor(text: str) -> str:
    """Opaque cursors look like the real ones: base64 of ``<timestamp>&<id>``."""
    return base64.b64encode(text.encode()).decode()


def decode_cursor(raw: str) -> int:
    """The integer after the last ``&`` of a cursor this emulator issued."""
    try:
        text = base64.b64decode(raw.encode(), validate=True).decode()
        return int(text.rsplit("&", 1)[-1].rsplit("=", 1)[-1])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_parameter("cursor") from None
