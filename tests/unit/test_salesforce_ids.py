"""Salesforce Ids: the case-safe checksum, reading 15- and 18-character forms, minting new ones."""

from __future__ import annotations

import pytest

from cmsync.sandbox.salesforce.ids import IdFactory, InvalidIdError, checksum, normalize, to18

# Real Ids from Salesforce's documentation and from real API answers.
KNOWN = [
    ("001D000000IqhSL", "IAZ"),
    ("0015000000VALDt", "AAP"),
    ("00190000001pPvH", "AAU"),
    ("001RM000003oLrH", "YAU"),
    ("0012S00002GWsZ0", "QAL"),
]


@pytest.mark.parametrize(("body", "suffix"), KNOWN)
def test_checksum_matches_real_ids(body: str, suffix: str) -> None:
    assert checksum(body) == suffix
    assert to18(body) == body + suffix


@pytest.mark.parametrize(("body", "suffix"), KNOWN)
def test_a_15_character_id_reads_as_its_18_character_form(body: str, suffix: str) -> None:
    assert normalize(body) == body + suffix


@pytest.mark.parametrize(("body", "suffix"), KNOWN)
def test_an_18_character_id_is_case_insensitive(body: str, suffix: str) -> None:
    full = body + suffix
    assert normalize(full.lower()) == full
    assert normalize(full.upper()) == full
    assert normalize(full) == full


def test_a_15_character_id_is_case_sensitive() -> None:
    assert normalize("001d000000iqhsl") != normalize("001D000000IqhSL")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "001",
        "001D000000IqhS",  # 14
        "001D000000IqhSLIA",  # 17
        "001D000000IqhSLIAZZ",  # 19
        "001D000000IqhS-",  # not alphanumeric
        "001D000000IqhSLIA9",  # 9 is not a checksum character
        "0015000000VALDtBAP",  # the checksum flags a capital where there is a digit
    ],
)
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdError):
        normalize(bad)


def test_factory_mints_valid_sequential_ids_per_prefix() -> None:
    factory = IdFactory()
    first, second = factory.new("001"), factory.new("001")
    contact = factory.new("003")
    assert first != second
    assert first.startswith("001") and contact.startswith("003")
    for minted in (first, second, contact):
        assert len(minted) == 18
        assert normalize(minted) == minted
        assert normalize(minted[:15]) == minted
    assert IdFactory().new("001") == first  # deterministic: a seeded run gives the same Ids


def test_factory_refuses_bad_prefixes() -> None:
    with pytest.raises(ValueError, match="key prefix"):
        IdFactory().new("01")
