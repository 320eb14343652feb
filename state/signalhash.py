"""The 64-bit hash an applied signal is found by (``applied_signal.signal_hash``).

Why a hash: the applied signals were a WITHOUT ROWID table keyed by the text pair (customer,
key), random text, so every page of a catch-up inserted its rows all over that b-tree, and
every commit rewrote nearly every leaf page of it (~40 MB at 100,000 activities, a quarter of
the activities step's CPU in kernel writes). The rows now go in insertion order (an integer
rowid: appends to the last page), and the only b-tree written at random is an index of 8-byte
integers, several times smaller than the text pairs. A hash is not a key: two pairs may share
one, so a lookup compares the pair itself (``state.accounts.AppliedSignals``).

The high 32 bits hash the customer and the low 32 bits the (customer, key) pair, so one
customer's rows are one range of the index (``customer_range``): carrying a merged customer's
signals to its survivor reads that range instead of scanning the table, with no second index.

The value is stored: it must never change for a given pair. A different hash would need a
revision that recomputes the column (as 0007 computed it for the rows before it).
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["customer_range", "signal_hash"]

_HALF = 4  # bytes: the customer's part, then the pair's


def _customer_part(customer_uuid: str) -> bytes:
    return blake2b(customer_uuid.encode(), digest_size=_HALF).digest()


def signal_hash(customer_uuid: str, key: str) -> int:
    """A deterministic signed 64-bit integer (SQLite's INTEGER) for the pair."""
    pair = blake2b(f"{customer_uuid}\0{key}".encode(), digest_size=_HALF).digest()
    return int.from_bytes(_customer_part(customer_uuid) + pair, "big", signed=True)


def customer_range(customer_uuid: str) -> tuple[int, int]:
    """The lowest and highest ``signal_hash`` any of the customer's pairs can have (both
    included); other customers whose 32-bit part is the same fall in it too."""
    part = _customer_part(customer_uuid)
    low = int.from_bytes(part + b"\0" * _HALF, "big", signed=True)
    high = int.from_bytes(part + b"\xff" * _HALF, "big", signed=True)
    return low, high
