"""Salesforce's limit on the request line and headers: 16,384 bytes, then 414 or 431.

Salesforce help article 000386264 ("Maximum number of rows returned by SOQL queries over the
REST API") and the REST API Developer Guide ("Status Codes and Error Responses"): in each REST
call the combined URI and headers may be 16,384 bytes at most; above that the answer is 414
URI Too Long when the URI alone exceeds the limit, 431 Request Header Fields Too Large
otherwise. The statuses, the limit and the messages come from those pages; the ``errorCode``
values (``URI_TOO_LONG``, ``REQUEST_HEADER_FIELDS_TOO_LARGE``) are the sandbox's, in
Salesforce's error-list shape, as no published answer body shows them.

aiohttp refuses lines above 8,190 bytes in its parser, with a plain-text 400, before any
middleware runs; the emulator's app therefore raises the parser's limits (``PARSER_LIMITS``,
read by ``start_site``) well above Salesforce's and enforces Salesforce's here, counting the
request line and each header line as sent (``name: value`` and CRLF).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from cmsync.sandbox.salesforce.errors import ApiError

__all__ = ["PARSER_LIMITS", "REQUEST_LIMIT", "request_size_guard", "request_sizes"]

REQUEST_LIMIT = 16_384
# What aiohttp's parser accepts before answering on its own (a line, one header field): far
# above REQUEST_LIMIT, so that Salesforce's answer is the one a client meets.
PARSER_LIMITS = {"max_line_size": 1 << 20, "max_field_size": 1 << 20}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_sizes(request: web.Request) -> tuple[int, int]:
    """(bytes of the URI, bytes of the request line and header lines) as the client sent them."""
    uri = len(request.raw_path.encode("utf-8", "surrogateescape"))
    version = request.version
    line = len(request.method) + 1 + uri + len(f" HTTP/{version.major}.{version.minor}\r\n")
    headers = sum(len(name) + 2 + len(value) + 2 for name, value in request.raw_headers)
    return uri, line + headers


@web.middleware
async def request_size_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    uri, total = request_sizes(request)
    if uri > REQUEST_LIMIT:
        return ApiError.of(
            414, "URI_TOO_LONG", f"The length of the URI exceeds the {REQUEST_LIMIT} byte limit"
        ).response()
    if total > REQUEST_LIMIT:
        return ApiError.of(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            f"The combined length of the URI and headers exceeds the {REQUEST_LIMIT} byte limit",
        ).response()
    return await handler(request)
