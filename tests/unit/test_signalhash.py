"""The hash applied signals are stored and found by (``state.signalhash``)."""

from __future__ import annotations

from state.signalhash import customer_range, signal_hash

KEY = "mrr|cus_d3b5f0c2-1b2a-4c1e-9a77-0e6f5a1c2b3d|sub-1|new_biz|2025-03-01T09:30:00+00:00|1000"


def test_the_hash_of_a_pair_never_changes() -> None:
    """Stored in every row of ``applied_signal``: a different value for the same pair would
    make every signal applied before it look new, and be applied again."""
    assert signal_hash("cus_1", "s1") == 6233341612926948757
    assert signal_hash("cus_d3b5f0c2-1b2a-4c1e-9a77-0e6f5a1c2b3d", KEY) == -1716138413979837044


def test_it_is_a_signed_64_bit_integer_as_sqlite_stores_one() -> None:
    values = [signal_hash(f"cus_{n}", f"k{n % 13}") for n in range(2_000)]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert min(values) < 0 < max(values)  # both halves of the range are used
    assert len(set(values)) == len(values)


def test_a_customers_pairs_fall_in_its_range() -> None:
    low, high = customer_range("cus_1")
    assert high - low == 2**32 - 1
    assert all(low <= signal_hash("cus_1", f"key-{n}") <= high for n in range(1_000))
    assert not low <= signal_hash("cus_2", "key-0") <= high
