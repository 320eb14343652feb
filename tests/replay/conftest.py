"""Cassettes: client exchanges recorded once, replayed in CI without any network.

By default (``--record-mode=none``, pytest-recording's default) each test replays its cassette
from ``cassettes/<module>/`` and any request not in it fails. To re-record:

    .venv/bin/pytest tests/replay --record-mode=rewrite

records against a sandbox started for the purpose; with ``CMSYNC_RECORD_CONFIG=cmsync.toml``
it records against whatever that configuration points at (real ChartMogul and Salesforce
accounts, credentials from the environment or secret files as usual). Hosts are rewritten to
the public API hosts, and Authorization headers, tokens, JWT assertions, client secrets and
passwords are removed before anything is written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from cmsync.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CHARTMOGUL_HOST = "https://api.chartmogul.com"
SALESFORCE_LOGIN = "https://login.salesforce.com"
SALESFORCE_INSTANCE = "https://cmsync-demo.my.salesforce.com"
_SECRET_FIELDS = ("access_token", "signature", "id_token", "refresh_token")
_REDACTED = "REDACTED"


def recording(config: pytest.Config) -> bool:
    return str(config.getoption("--record-mode")) != "none"


class _Hosts:
    """Where each system really was while recording, and its public stand-in.

    One sandbox origin can stand for two public hosts (Salesforce's login server and the
    org's instance), so a rule may apply to a path prefix only; the first match wins.
    """

    def __init__(self) -> None:
        self.rules: list[tuple[str, str, str]] = []  # (real origin, path prefix, public)

    def add(self, real: str, public: str, path_prefix: str = "") -> None:
        rule = (real.rstrip("/"), path_prefix, public)
        if rule not in self.rules:
            # Path-specific rules go first so they win over a whole-origin rule.
            self.rules.insert(0 if path_prefix else len(self.rules), rule)

    def rewrite(self, uri: str) -> str:
        parts = urlsplit(uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        for real, prefix, public in self.rules:
            if real == origin and parts.path.startswith(prefix):
                target = urlsplit(public)
                return urlunsplit(
                    (target.scheme, target.netloc, parts.path, parts.query, parts.fragment)
                )
        return uri

    def in_text(self, text: str) -> str:
        for real, prefix, public in self.rules:
            if not prefix:
                text = text.replace(real, public)
        return text


HOSTS = _Hosts()


def _scrub_request(request: Any) -> Any:
    request.uri = HOSTS.rewrite(request.uri)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
    elif isinstance(body, str):
        text = body
    else:
        return response
    text = HOSTS.in_text(text)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and any(k in decoded for k in _SECRET_FIELDS):
        decoded.update({k: _REDACTED for k in _SECRET_FIELDS if k in decoded})
        text = json.dumps(decoded)
    text = re.sub(r"Bearer [A-Za-z0-9!._-]+", "Bearer " + _REDACTED, text)
    response["body"]["string"] = text.encode() if isinstance(body, bytes) else text
    for name in list(response.get("headers", {})):
        if name.lower() in ("set-cookie",):
            del response["headers"][name]
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": ["authorization", "cookie"],
        "filter_post_data_parameters": [
            ("assertion", _REDACTED),
            ("client_secret", _REDACTED),
            ("password", _REDACTED),
        ],
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "before_record_request": _scrub_request,
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    module = request.node.name.rsplit("/", 1)[-1].removesuffix(".py")
    return str(ROOT / "cassettes" / module)


@pytest.fixture(scope="module")
def record_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings | None]:
    """The settings to record against, or None when replaying."""
    if not recording(request.config):
        yield None
        return
    explicit = os.environ.get("CMSYNC_RECORD_CONFIG")
    if explicit:
        yield load_settings(Path(explicit))
        return
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox
    from cmsync.sandbox.serve import LoopThread

    with LoopThread() as loop:
        directory = tmp_path_factory.mktemp("record-sandbox")
        running = loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=20)))
        try:
            yield load_settings(running.config_file)
        finally:
            loop.call(running.stop())
