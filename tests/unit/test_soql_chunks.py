"""IN lists split to fit Salesforce's 16,384-byte request line, measured as the client encodes.

The length that matters is that of the request simple-salesforce sends (``GET
/services/data/vNN.N/query/?q=...``, the query through requests' ``params``), so the property
tests prepare that very request and measure it; the sandbox's SOQL parser reads each chunk
back to show that every key is asked for exactly once and none is altered.
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsync.salesforce.soql import (
    QUERY_BUDGET,
    REQUEST_LIMIT,
    distinct_fields,
    encoded_length,
    in_chunks,
)
from cmsync.sandbox.salesforce.soql import parse
from cmsync.sandbox.salesforce.soql.nodes import And, InList, StringLit

TEMPLATE = "SELECT Id, CM_Sync_Key__c FROM Task WHERE CM_Sync_Key__c IN {keys} AND Status != {s}"
BASE = "https://example.my.salesforce.com/services/data/v62.0/queryAll/"

# Keys as hostile to the encoding as they come: quotes and backslashes (escaped, then
# percent-encoded), spaces, characters of 1 to 4 UTF-8 bytes, up to Salesforce's 255.
KEY_CHARS = st.sampled_from("a'\\\" %_,()é日😀\n")
KEYS = st.lists(
    st.text(KEY_CHARS, min_size=1, max_size=255) | st.text(min_size=0, max_size=80),
    min_size=1,
    max_size=120,
    unique=True,
)


def request_target(query: str) -> str:
    """The request target simple-salesforce's ``query()`` puts on the request line."""
    prepared = requests.Request("GET", BASE, params={"q": query}).prepare()
    assert prepared.path_url is not None
    return prepared.path_url


def keys_asked(query: str) -> list[str]:
    where = parse(query).where
    assert isinstance(where, And)
    in_list = where.operands[0]
    assert isinstance(in_list, InList)
    values = [v.value for v in in_list.values if isinstance(v, StringLit)]
    assert len(values) == len(in_list.values)
    return values


@settings(max_examples=60, deadline=None)
@given(KEYS, st.integers(min_value=3_500, max_value=QUERY_BUDGET))
def test_each_chunk_fits_and_the_chunks_ask_for_every_key_once(
    keys: list[str], budget: int
) -> None:
    queries = in_chunks(TEMPLATE, keys, budget=budget, s="Completed")
    assert queries
    asked: list[str] = []
    for query in queries:
        target = request_target(query)
        assert encoded_length(query) <= budget
        assert len(target) - len("/services/data/v62.0/queryAll/?q=") == encoded_length(query)
        asked.extend(keys_asked(query))
    assert asked == keys  # in order, each once, exactly as given


@settings(max_examples=30, deadline=None)
@given(KEYS)
def test_with_the_default_budget_the_request_line_and_headers_fit(keys: list[str]) -> None:
    for query in in_chunks(TEMPLATE, keys, s="Completed"):
        line = f"GET {request_target(query)} HTTP/1.1\r\n"
        assert len(line.encode()) + 2_000 <= REQUEST_LIMIT  # headers: about 600 bytes


def test_long_non_ascii_keys_that_would_not_fit_in_one_query_are_split() -> None:
    keys = [f"日本語のキー-{i:03d}-" + "é" * 60 for i in range(200)]
    whole = TEMPLATE.replace("{keys}", "(" + ", ".join(f"'{k}'" for k in keys) + ")")
    assert encoded_length(whole.replace("{s}", "'Completed'")) > REQUEST_LIMIT
    queries = in_chunks(TEMPLATE, keys, s="Completed")
    assert len(queries) > 1
    assert [k for q in queries for k in keys_asked(q)] == keys
    # full chunks: each would pass the budget with one more key
    assert all(encoded_length(q) > QUERY_BUDGET - 1_200 for q in queries[:-1])


def test_repeated_keys_are_asked_once_and_no_keys_make_no_query() -> None:
    queries = in_chunks(TEMPLATE, ["a", "b", "a"], s="x")
    assert len(queries) == 1 and keys_asked(queries[0]) == ["a", "b"]
    assert in_chunks(TEMPLATE, [], s="x") == []


def test_a_key_that_cannot_fit_is_an_error_not_an_oversized_query() -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        in_chunks(TEMPLATE, ["x" * 5_000], budget=3_000, s="x")


def test_distinct_fields_keeps_the_first_spelling_of_each_field() -> None:
    assert distinct_fields(["Id", "Name", "ID", "CM_MRR__c", "name", "cm_mrr__c"]) == [
        "Id",
        "Name",
        "CM_MRR__c",
    ]
    with pytest.raises(ValueError, match="not a Salesforce"):
        distinct_fields(["Id", "Name) FROM User --"])
