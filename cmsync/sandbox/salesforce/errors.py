"""Salesforce's error shapes, and the exceptions the emulator raises to produce them.

A whole request that fails answers a JSON list: ``[{"message", "errorCode"[, "fields"]}]``.
One record of an sObject Collection that fails carries ``{"statusCode", "message", "fields"}``
in its result instead. ``RecordError`` is a record-level failure (validation, a missing
record): a single-record endpoint turns it into a 400 or 404 list, a collection into that
record's result. ``ApiError`` is a request-level failure with its HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = [
    "ApiError",
    "ErrorItem",
    "RecordError",
    "json_response",
    "not_found",
]

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class ErrorItem:
    """One error: a code, a message, and (for field errors) the fields it concerns."""

    code: str
    message: str
    fields: tuple[str, ...] | None = None  # None: the wire body has no "fields" key

    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = list(self.fields)
        return body

    def record_body(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields or ())}


class RecordError(Exception):
    """A record that cannot be written or found; ``status`` is for single-record endpoints."""

    def __init__(
        self, code: str, message: str, fields: Sequence[str] | None = None, status: int = 400
    ):
        super().__init__(f"{code}: {message}")
        self.item = ErrorItem(code, message, None if fields is None else tuple(fields))
        self.status = status


class ApiError(Exception):
    """A request that fails as a whole, answered with ``status`` and a list of errors."""

    def __init__(
        self,
        status: int,
        *items: ErrorItem,
        headers: dict[str, str] | None = None,
        body: object | None = None,  # instead of the error list (the 300 list of URLs)
    ):
        super().__init__("; ".join(f"{i.code}: {i.message}" for i in items) or str(body))
        self.status = status
        self.items = items
        self.headers = headers or {}
        self.body = body

    @classmethod
    def of(cls, status: int, code: str, message: str) -> ApiError:
        return cls(status, ErrorItem(code, message))

    @classmethod
    def from_record(cls, error: RecordError) -> ApiError:
        return cls(error.status, error.item)

    def response(self) -> web.Response:
        body = self.body if self.body is not None else [i.request_body() for i in self.items]
        return json_response(body, self.status, self.headers)


def not_found() -> ApiError:
    return ApiError.of(404, "NOT_FOUND", "The requested resource does not exist")


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer with the content type Salesforce sends (``application/json;charset=UTF-8``)."""
    return web.Response(
        text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=JSON_TYPE,
        charset="UTF-8",
        headers=headers,
    )
