"""Writing many records in few calls: sObject Collections, 200 records a call.

Each chunk is one call (``allOrNone=false``) whose answer holds one result per input record, in
input order; ``RecordResult.index`` maps each back to the caller's list. A record that failed
is classified: ``transient`` (lock contention, a server hiccup: retry it later) or permanent
(validation, missing field, deleted entity: dead-letter it with the reason). A whole-request
failure that is permanent (e.g. an unknown External ID field) fails every record of its chunk
the same way; retriable, budget and auth failures are raised for the caller to act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmsync.salesforce.errors import TRANSIENT_CODES, SalesforcePermanentError
from cmsync.salesforce.gateway import SalesforceGateway

__all__ = ["CHUNK_SIZE", "CollectionsWriter", "RecordFailure", "RecordResult"]

CHUNK_SIZE = 200  # Salesforce's cap per sObject Collections call


@dataclass(frozen=True)
class RecordFailure:
    code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordResult:
    """The outcome for the caller's ``index``-th record."""

    index: int
    success: bool
    id: str | None = None
    created: bool | None = None
    errors: tuple[RecordFailure, ...] = ()

    @property
    def transient(self) -> bool:
        """A failure a later retry may get past (only meaningful when not ``success``)."""
        return bool(self.errors) and all(e.code in TRANSIENT_CODES for e in self.errors)

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.code}: {e.message}" for e in self.errors)


def _result(index: int, raw: Any) -> RecordResult:
    if not isinstance(raw, dict):
        return RecordResult(index, False, errors=(RecordFailure("UNKNOWN", repr(raw)),))
    errors = tuple(
        RecordFailure(
            str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
            str(e.get("message", "")),
            tuple(e.get("fields") or ()),
        )
        for e in raw.get("errors") or ()
        if isinstance(e, dict)
    )
    return RecordResult(
        index=index,
        success=bool(raw.get("success")),
        id=raw.get("id"),
        created=raw.get("created"),
        errors=errors,
    )


class CollectionsWriter:
    """create / update / upsert of any number of records, CHUNK_SIZE per call."""

    def __init__(self, gateway: SalesforceGateway) -> None:
        self.gateway = gateway
        self.calls = 0

    async def update(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Update records by Id (each record needs ``Id``)."""
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        return await self._send("composite/sobjects", "PATCH", body, idempotent=True)

    async def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Insert or update on an External ID field: a retry can never make a duplicate."""
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        return await self._send(path, "PATCH", body, idempotent=True)

    async def create(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """Plain inserts; not repeated when the answer is lost (prefer ``upsert``)."""
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        return await self._send("composite/sobjects", "POST", body, idempotent=False)

    async def _send(
        self, path: str, method: str, records: list[dict[str, Any]], *, idempotent: bool
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for start in range(0, len(records), CHUNK_SIZE):
            chunk = records[start : start + CHUNK_SIZE]
            self.calls += 1
            try:
                answer = await self.gateway.restful(
                    path,
                    method=method,
                    json={"allOrNone": False, "records": chunk},
                    idempotent=idempotent,
                )
            except SalesforcePermanentError as exc:
                failure = RecordFailure(exc.code or "REQUEST_FAILED", exc.api_message)
                results.extend(
                    RecordResult(start + i, False, errors=(failure,)) for i in range(len(chunk))
                )
                continue
            if not isinstance(answer, list) or len(answer) != len(chunk):
                raise SalesforcePermanentError(
                    f"collection answer has {len(answer) if isinstance(answer, list) else 0} "
                    f"results for {len(chunk)} records"
                )
            results.extend(_result(start + i, raw) for i, raw in enumerate(answer))
        return results
