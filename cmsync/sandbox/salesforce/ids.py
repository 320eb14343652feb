"""Salesforce record Ids: 15-character case-sensitive bodies and their 18-character forms.

An Id is a 3-character key prefix naming the object (``001`` Account), then 12 characters
(here a 2-character instance code, a reserved ``0`` and a 9-digit base-62 counter). The
18-character form appends a checksum that makes the Id case-safe: for each 5-character chunk
of the body, a 5-bit number whose bit *i* is set when character *i* is an uppercase letter,
written as one character of ``A..Z0..5``. Because the suffix records where the capitals were,
an 18-character Id can be read back in any case; that is what ``normalize`` does.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading

__all__ = ["IdFactory", "InvalidIdError", "checksum", "normalize", "to18"]

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?")


class InvalidIdError(ValueError):
    """Not a well-formed 15- or 18-character Salesforce Id."""


def checksum(body: str) -> str:
    """The 3-character suffix for a 15-character Id body."""
    if len(body) != 15:
        raise InvalidIdError(body)
    out = []
    for chunk in (body[0:5], body[5:10], body[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(body: str) -> str:
    """The 18-character form of a 15-character Id."""
    return body + checksum(body)


@functools.lru_cache(maxsize=1 << 16)  # the same owner and parent Ids recur in every write
def normalize(value: str) -> str:
    """The canonical 18-character Id for a 15- or 18-character input; InvalidIdError if neither.

    A 15-character Id is case-sensitive and taken as is. An 18-character Id is case-insensitive:
    its suffix says which letters of the body are capitals, and a suffix that disagrees with the
    body's letters (a typo, a truncated copy) makes it invalid.
    """
    if not _SHAPE.fullmatch(value):
        raise InvalidIdError(value)
    if len(value) == 15:
        return to18(value)
    body, suffix = value[:15], value[15:].upper()
    restored = []
    for n, chunk in enumerate((body[0:5], body[5:10], body[10:15])):
        bits = _SUFFIX_ALPHABET.index(suffix[n])
        for i, ch in enumerate(chunk):
            restored.append(ch.upper() if bits >> i & 1 else ch.lower())
    canonical = "".join(restored)
    if checksum(canonical) != suffix:  # a capital flagged on a digit: not a real Id
        raise InvalidIdError(value)
    return canonical + suffix


def _base62(n: int, width: int) -> str:
    digits = []
    for _ in range(width):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    if n:
        raise OverflowError("Id counter exhausted")
    return "".join(reversed(digits))


class IdFactory:
    """Deterministic Ids: one counter per key prefix, so a seeded run gives the same Ids."""

    def __init__(self, instance: str = "Dn") -> None:
        if len(instance) != 2 or not instance.isalnum():
            raise ValueError("the instance code is two alphanumeric characters")
        self._instance = instance
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def new(self, key_prefix: str) -> str:
        """A fresh 18-character Id for an object with ``key_prefix``."""
        if len(key_prefix) != 3:
            raise ValueError(f"key prefix {key_prefix!r} is not 3 characters")
        with self._lock:
            counter = self._counters.setdefault(key_prefix, itertools.count(1))
            n = next(counter)
        return to18(f"{key_prefix}{self._instance}0{_base62(n, 9)}")
