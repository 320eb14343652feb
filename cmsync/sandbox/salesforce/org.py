"""The emulated org as the request handlers see it, and the helpers they share.

Handlers read request bodies with ``read_json`` (JSON_PARSER_ERROR for what Salesforce's JSON
reader would refuse, positioned as it positions them) and turn stored records into REST
bodies with ``record_body``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cmsync.salesforce.schema import Catalogue, SObjectSpec
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.salesforce.config import SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.cursors import CursorTable
from cmsync.sandbox.salesforce.errors import ApiError, not_found
from cmsync.sandbox.salesforce.limits import DailyAllowance
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.soql.evaluate import attributes
from cmsync.sandbox.salesforce.store import RecordStore
from cmsync.sandbox.salesforce.values import JsonTypeError, to_json

__all__ = [
    "Org",
    "field_list",
    "json_type_error",
    "object_body",
    "parser_error",
    "read_json",
    "record_body",
]


@dataclass
class Org:
    """What handlers need: configuration, data, cursors, the allowance, the shared context."""

    config: SalesforceEmulatorConfig
    ctx: SandboxContext
    store: RecordStore
    cursors: CursorTable
    allowance: DailyAllowance
    org_id: str

    @property
    def version(self) -> str:
        return self.config.api_version

    @property
    def catalogue(self) -> Catalogue:
        return self.store.catalogue

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def sobject(self, name: str) -> SObjectSpec:
        """The object named in a URL; 404 NOT_FOUND if there is none."""
        spec = self.catalogue.get(name)
        if spec is None:
            raise not_found()
        return spec


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"at [line:{line}, column:{column}]"


def parser_error(message: str) -> ApiError:
    return ApiError.of(400, "JSON_PARSER_ERROR", message)


async def read_json(request: web.Request) -> tuple[Any, str]:
    """The request body decoded, and its text (for error positions)."""
    text = await request.text()
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        found = text[exc.pos : exc.pos + 1] or "<EOF>"
        code = f" (code {ord(found)})" if len(found) == 1 else ""
        raise parser_error(
            f"Unexpected character ('{found}'{code}): expected a valid value "
            f"{_position(text, exc.pos)}"
        ) from None


def json_type_error(error: JsonTypeError, text: str) -> ApiError:
    """JSON_PARSER_ERROR for a value of the wrong type, positioned at that field's value."""
    match = re.search(rf'"{re.escape(error.field)}"\s*:\s*', text, re.IGNORECASE)
    where = _position(text, match.end()) if match else _position(text, 0)
    return parser_error(f"{error} {where}")


def object_body(value: Any, sobject: str, text: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else the error Salesforce gives for another shape."""
    if isinstance(value, dict):
        return value
    token = "START_ARRAY value [" if isinstance(value, list) else f"VALUE_STRING value {value}"
    raise parser_error(
        f"Cannot deserialize instance of {sobject} from {token} or request may be missing a "
        f"required field {_position(text, 0)}"
    )


def record_body(
    record: Record, spec: SObjectSpec, version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """A record as ``GET /sobjects/{Type}/{Id}`` returns it: every field, or ``fields``."""
    body: dict[str, Any] = {"attributes": attributes(spec.name, record.id, version)}
    names = fields if fields is not None else [f.name for f in spec.fields]
    for name in names:
        body[name] = to_json(record.values.get(name))
    return body


def field_list(spec: SObjectSpec, raw: str | None) -> list[str] | None:
    """The canonical names of a ``fields=`` parameter; 400 INVALID_FIELD for an unknown one."""
    if raw is None:
        return None
    names = []
    for part in (p.strip() for p in raw.split(",")):
        field = spec.field(part)
        if field is None:
            raise ApiError.of(
                400,
                "INVALID_FIELD",
                f"No such column '{part}' on entity '{spec.name}'. If you are attempting to use "
                "a custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        names.append(field.name)
    return names
