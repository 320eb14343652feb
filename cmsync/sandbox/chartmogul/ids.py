"""Identifiers: prefixed uuids, integer ids, and the activity position codec.

Uuids come from a seeded generator so that a sandbox run is reproducible from its seed; they
have the real prefixes (``ds_``, ``pl_``, ``cus_``, ``inv_``, ``li_``, ``tr_``, ``sub_``) and the
shape of a version-4 uuid.

Activity uuids are not stored at all. An activity's place in the feed is its *position*: its
date (32 bits of epoch seconds) and a feed-wide sequence number (32 bits), packed in one int
that is also its sort key. ``PositionCodec`` turns a position into a uuid-shaped string and
back: a keyed 64-bit Feistel permutation scrambles the position (neighbouring activities get
unrelated uuids) and a 58-bit keyed MAC fills the rest of the uuid's 122 random bits, so a
string that was never issued is recognised as such. Because the position is inside the uuid,
``start-after=<uuid>`` keeps working after that activity was retired by a rebuild, without a
map of retired uuids that would grow with every rebuild.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from itertools import count

__all__ = ["IdFactory", "PositionCodec"]

_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_MAC_BITS = 58
_SET_V4 = (0x4 << 76) | (0b10 << 62)  # version 4, RFC 4122 variant
_CLEAR_V4 = ~((0xF << 76) | (0b11 << 62)) & ((1 << 128) - 1)


def _uuid4_from_bits(bits122: int) -> str:
    """A version-4, RFC 4122-variant uuid string carrying 122 given bits."""
    node = bits122 & 0xFFFF_FFFF_FFFF
    clock_seq = (bits122 >> 48) & 0x3FFF
    time_hi = (bits122 >> 62) & 0xFFF
    time_low_mid = bits122 >> 74
    value = (
        (time_low_mid << 80)
        | (0x4 << 76)
        | (time_hi << 64)
        | (0b10 << 62)
        | (clock_seq << 48)
        | node
    )
    h = f"{value:032x}"  # by hand: uuid.UUID is several times slower, and seeding makes many
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _bits_from_uuid4(text: str) -> int | None:
    try:
        value = uuid.UUID(text).int
    except (ValueError, AttributeError, TypeError):
        return None
    if (value >> 76) & 0xF != 0x4 or (value >> 62) & 0b11 != 0b10:
        return None
    node = value & 0xFFFF_FFFF_FFFF
    clock_seq = (value >> 48) & 0x3FFF
    time_hi = (value >> 64) & 0xFFF
    time_low_mid = value >> 80
    return (time_low_mid << 74) | (time_hi << 62) | (clock_seq << 48) | node


class IdFactory:
    """Seeded uuids and monotonic integer ids for every kind of record."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"chartmogul-ids|{seed}")
        self._ints = count(114_167_449)  # real ids are 9-digit integers
        self.subscription_ids = count(2_293_710_870)

    def uuid(self) -> str:
        value = (self._rng.getrandbits(128) & _CLEAR_V4) | _SET_V4
        h = "%032x" % value  # noqa: UP031 (the fastest way, and seeding makes 100,000s)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def prefixed(self, prefix: str) -> str:
        return f"{prefix}_{self.uuid()}"

    def next_int(self) -> int:
        return next(self._ints)

    def secret(self) -> bytes:
        return self._rng.getrandbits(256).to_bytes(32, "big")


class PositionCodec:
    """Reversible, keyed encoding of 64-bit feed positions as uuid-shaped strings."""

    def __init__(self, key: bytes) -> None:
        self._round_keys = [
            hashlib.blake2b(key + bytes([r]), digest_size=16).digest() for r in range(4)
        ]
        self._mac_key = hashlib.blake2b(key + b"mac", digest_size=16).digest()

    def _round(self, r: int, half: int) -> int:
        digest = hashlib.blake2b(half.to_bytes(4, "big"), digest_size=4, key=self._round_keys[r])
        return int.from_bytes(digest.digest(), "big")

    def _mac(self, block: int) -> int:
        digest = hashlib.blake2b(block.to_bytes(8, "big"), digest_size=8, key=self._mac_key)
        return int.from_bytes(digest.digest(), "big") >> (64 - _MAC_BITS)

    def encode(self, position: int) -> str:
        left, right = (position >> 32) & _MASK32, position & _MASK32
        for r in range(4):
            left, right = right, left ^ self._round(r, right)
        block = (left << 32) | right
        return _uuid4_from_bits((block << _MAC_BITS) | self._mac(block))

    def decode(self, text: str) -> int | None:
        """The position a string encodes, or None if this codec never issued it."""
        bits = _bits_from_uuid4(text)
        if bits is None:
            return None
        block, mac = bits >> _MAC_BITS, bits & ((1 << _MAC_BITS) - 1)
        if block > _MASK64 or mac != self._mac(block):
            return None
        left, right = block >> 32, block & _MASK32
        for r in reversed(range(4)):
            left, right = right ^ self._round(r, left), left
        return (left << 32) | right
