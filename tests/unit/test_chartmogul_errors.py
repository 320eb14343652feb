"""ChartMogul's several error shapes each yield the API's own message; waits honour Retry-After."""

from __future__ import annotations

import json

import pytest

from cmsync.chartmogul.errors import api_message
from cmsync.retry import RetryPolicy, backoff_seconds


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"code": 401, "message": "No valid API key provided", "param": None},
         "No valid API key provided"),
        (404, {"code": 404, "message": "Can't find any customers with email: \"x@y.z\"",
               "param": "email"}, "Can't find any customers with email: \"x@y.z\" (param email)"),
        (404, {"error": "Data source not found"}, "Data source not found"),
        (422, {"errors": {"name": "Has already been taken."}}, "name: Has already been taken."),
        (422, {"name": ["Name can't be blank"],
               "error_details": [{"param": "name", "code": "blank",
                                  "message": "Name can't be blank"}]}, "Name can't be blank"),
    ],
)  # fmt: skip
def test_json_shapes(status: int, body: object, expected: str) -> None:
    message, decoded = api_message(status, json.dumps(body))
    assert message == expected
    assert decoded == body


def test_plain_text_5xx() -> None:
    assert api_message(500, "500 Internal Server Error\n")[0] == "500 Internal Server Error"
    assert api_message(504, "")[0] == "HTTP 504"


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=30)
    assert backoff_seconds(policy, 3, 7.0) == 7.0
    waits = [backoff_seconds(policy, attempt, None) for attempt in range(1, 12) for _ in range(20)]
    assert all(0 <= w <= 30 for w in waits)
    assert max(backoff_seconds(policy, 1, None) for _ in range(50)) <= 0.5
    assert len({round(w, 6) for w in waits}) > 100  # jittered, not a fixed ladder
