"""ChartMogul's error answers, in the several shapes the real API uses.

ChartMogul is not consistent, and clients must cope, so neither is the emulator. Recorded
shapes (the official clients' recorded traffic, and the ChartMogul API reference's
errors section):

- ``{"code": 401, "message": "No valid API key provided", "param": null}`` (auth, search, bad
  or missing parameters: ``Parameter "name" is missing``)
- ``{"error": "Data source not found"}`` (import-side resources not found)
- ``{"errors": {"name": "Has already been taken."}}`` (validation of a created resource)
- plain text for 5xx: ``500 Internal Server Error``, ``504 Gateway Timeout Error``

Messages quoted from real traffic or the official clients are constants here; where no source
was found the chosen wording is marked as such.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DUPLICATE_CUSTOMER",
    "DUPLICATE_DATA_SOURCE",
    "DUPLICATE_INVOICE",
    "DUPLICATE_LINE_ITEM",
    "DUPLICATE_PLAN",
    "DUPLICATE_TRANSACTION",
    "ApiError",
    "bad_parameter",
    "coded",
    "field_errors",
    "missing_parameter",
    "not_found",
    "not_found_coded",
]

# From the official Go client's constants (chartmogul-go chartmogul.go) and real recordings.
DUPLICATE_CUSTOMER = "The external ID for this customer already exists in our system."
DUPLICATE_INVOICE = "The external ID for this invoice already exists in our system."
DUPLICATE_LINE_ITEM = "The external ID for this line item already exists in our system."
DUPLICATE_TRANSACTION = "has already been taken"
DUPLICATE_PLAN = "A plan with this identifier already exists in our system."
DUPLICATE_DATA_SOURCE = "Has already been taken."


class ApiError(Exception):
    """An answer other than success: a status and a JSON body in one of the real shapes."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def coded(status: int, message: str, param: str | None = None) -> ApiError:
    return ApiError(status, {"code": status, "message": message, "param": param})


def missing_parameter(name: str) -> ApiError:
    """400 for an absent required parameter [REAL: POST /data_sources with ``{}``]."""
    return coded(400, f'Parameter "{name}" is missing', name)


def bad_parameter(name: str) -> ApiError:
    """400 for a parameter that is present but unusable (wording chosen by analogy)."""
    return coded(400, f'Parameter "{name}" is invalid', name)


def not_found(what: str) -> ApiError:
    """404 in the import-side shape, e.g. ``{"error": "Data source not found"}`` [REAL]."""
    return ApiError(404, {"error": f"{what} not found"})


def not_found_coded(what: str, param: str | None = None) -> ApiError:
    """404 in the ``{code, message, param}`` shape used by the customer and metrics APIs.

    No recording of a customer lookup by an unknown uuid was found; this shape follows the
    recorded 404 of the customer search.
    """
    return coded(404, f"{what} not found", param)


def field_errors(errors: dict[str, str], status: int = 422) -> ApiError:
    """422 with ``{"errors": {field: message}}`` [REAL for data sources]."""
    return ApiError(status, {"errors": errors})
