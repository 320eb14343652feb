"""Credentials revoked at runtime (``/__sandbox/revoke``), as each service answers them.

Salesforce: every session ends (401 INVALID_SESSION_ID) and every login is refused with 400
and the OAuth error body (RFC 6749 §5.2; Salesforce Help, "OAuth 2.0 Authorization Errors":
``HTTP/1.1 400 Bad Request`` ``{"error":"invalid_grant","error_description":...}``; "user
hasn't approved this consumer" from "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration"). ChartMogul: the deleted key answers 401 ``{"code":401,"message":"No valid API
key provided","param":null}``, the recorded body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from cmsync.chartmogul import connect
from cmsync.config import load_settings
from cmsync.errors import AuthFailingError
from cmsync.salesforce.errors import SalesforceAuthError
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox
from state.authgate import AuthBackoff

TOKEN = "POST /services/oauth2/token"


@pytest.fixture
def http(full_sandbox: RunningSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = full_sandbox.info["ca_bundle"]
    session.trust_env = False
    try:
        yield session
    finally:
        session.close()
        for site in (full_sandbox.salesforce_site, full_sandbox.chartmogul_site):
            requests.delete(
                site.url + "/__sandbox/revoke", verify=session.verify, timeout=10
            ).raise_for_status()


def _login(sandbox: RunningSandbox, http: requests.Session) -> requests.Response:
    sf: dict[str, Any] = sandbox.info["salesforce"]
    claims = {
        "iss": sf["client_id"],
        "sub": sf["username"],
        "aud": sf["jwt_audience"],
        "exp": int(time.time()) + 170,
    }
    assertion = jwt.encode(claims, Path(sf["private_key_file"]).read_text(), algorithm="RS256")
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    return http.post(sf["login_url"] + "/services/oauth2/token", data=form, timeout=10)


def _limits(sandbox: RunningSandbox, http: requests.Session, token: str) -> requests.Response:
    sf = sandbox.info["salesforce"]
    url = f"{sf['instance_url']}/services/data/v{sf['api_version']}/limits"
    return http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_revoked_integration_ends_every_session_and_refuses_every_login(
    full_sandbox: RunningSandbox, http: requests.Session
) -> None:
    admin = full_sandbox.salesforce_site.url + "/__sandbox/revoke"
    token = _login(full_sandbox, http).json()["access_token"]
    assert _limits(full_sandbox, http, token).status_code == 200
    before = full_sandbox.salesforce.stats.by_endpoint[TOKEN]

    revoked = http.post(admin, json={}, timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    ended = _limits(full_sandbox, http, token)
    assert ended.status_code == 401 and ended.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    refused = _login(full_sandbox, http)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "user hasn't approved this consumer",
    }
    # The admin path is not counted; every token request is.
    assert full_sandbox.salesforce.stats.by_endpoint[TOKEN] == before + 1

    http.delete(admin, timeout=10).raise_for_status()
    again = _login(full_sandbox, http)
    assert again.status_code == 200
    assert _limits(full_sandbox, http, again.json()["access_token"]).status_code == 200


def test_a_revocation_answers_the_refusal_it_names(
    full_sandbox: RunningSandbox, http: requests.Session
) -> None:
    admin = full_sandbox.salesforce_site.url + "/__sandbox/revoke"
    rotated = {"error": "invalid_grant", "error_description": "invalid assertion"}
    http.post(admin, json=rotated, timeout=10).raise_for_status()
    assert http.get(admin, timeout=10).json()["refusal"] == rotated
    refused = _login(full_sandbox, http)
    assert (refused.status_code, refused.json()) == (400, rotated)
    # Only what Salesforce is documented to answer.
    made_up = http.post(admin, json={"error": "nope", "error_description": "x"}, timeout=10)
    assert made_up.status_code == 400 and "invalid_grant" in made_up.text


def test_a_deleted_chartmogul_key_answers_401(
    full_sandbox: RunningSandbox, http: requests.Session
) -> None:
    cm: dict[str, Any] = full_sandbox.info["chartmogul"]
    url = cm["base_url"] + "/v1/data_sources"
    auth = (cm["api_key"], "")
    assert http.get(url, auth=auth, timeout=10).status_code == 200
    http.post(cm["base_url"] + "/__sandbox/revoke", timeout=10).raise_for_status()
    refused = http.get(url, auth=auth, timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {"code": 401, "message": "No valid API key provided", "param": None}
    http.delete(cm["base_url"] + "/__sandbox/revoke", timeout=10).raise_for_status()
    assert http.get(url, auth=auth, timeout=10).status_code == 200


# --- cmsync's funnels against it: the credential gates (``cmsync.authgate``) ------------------

QUICK = AuthBackoff(initial=0.3, cap=0.6, jitter=0.0)  # attempts at 0, 0.3, 0.9, 1.5 s ...


async def _hammer(call: Callable[[], Awaitable[object]], seconds: float) -> list[str]:
    """Call as fast as a busy daemon would for ``seconds``; the held-back calls' messages."""
    held: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await call()
        except AuthFailingError as exc:
            held.append(str(exc))
        await asyncio.sleep(0.02)
    return held


async def test_the_salesforce_gateway_backs_off_a_refused_login_and_resumes(
    full_sandbox: RunningSandbox, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    admin = full_sandbox.salesforce_site.url + "/__sandbox/revoke"
    settings = load_settings(full_sandbox.config_file).salesforce
    gateway = SalesforceGateway(settings, auth_backoff=QUICK)
    stats = full_sandbox.salesforce.stats
    try:
        await gateway.refresh_limits()  # the first refresh: the gate is armed
        rotated = {"error": "invalid_grant", "error_description": "invalid assertion"}
        await asyncio.to_thread(http.post, admin, json=rotated, timeout=10)
        before = stats.by_endpoint[TOKEN]
        held = await _hammer(lambda: gateway.query("SELECT Id FROM Account LIMIT 1"), 1.2)
        tokens = stats.by_endpoint[TOKEN] - before
        assert 1 <= tokens <= 3  # at 0, 0.3 and 0.9 s, whatever the callers do
        assert len(held) > 10 * tokens
        assert all(
            m.startswith("Salesforce authentication failing: login by jwt flow refused: "
                         "invalid assertion; check salesforce.private_key_file (")
            for m in held
        ), held[:3]  # fmt: skip
        warned = [r.getMessage() for r in caplog.records if "refused cmsync's" in r.getMessage()]
        assert len(warned) == 1 and str(settings.private_key_file) in warned[0]

        await asyncio.to_thread(http.delete, admin, timeout=10)
        await asyncio.sleep(QUICK.cap)
        page = await gateway.query("SELECT Id FROM Account LIMIT 1")
        assert page["records"]
        assert [r for r in caplog.records if "accepts cmsync's credentials again" in r.message]
    finally:
        await gateway.close()


async def test_a_login_refused_before_any_succeeded_is_reported_as_it_is(
    full_sandbox: RunningSandbox, http: requests.Session
) -> None:
    # At start there is nothing to back off: cmsync run exits 2 with the refusal.
    admin = full_sandbox.salesforce_site.url + "/__sandbox/revoke"
    await asyncio.to_thread(http.post, admin, json={}, timeout=10)
    settings = load_settings(full_sandbox.config_file).salesforce
    gateway = SalesforceGateway(settings, auth_backoff=QUICK)
    try:
        for _ in range(2):
            with pytest.raises(SalesforceAuthError, match="user hasn't approved this consumer"):
                await gateway.refresh_limits()
    finally:
        await gateway.close()


async def test_the_chartmogul_transport_backs_off_a_refused_key_and_resumes(
    full_sandbox: RunningSandbox, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    base = full_sandbox.info["chartmogul"]["base_url"]
    settings = load_settings(full_sandbox.config_file).chartmogul
    stats = full_sandbox.chartmogul.stats
    async with connect(settings, auth_backoff=QUICK) as client:
        await client.transport.request("GET", "/data_sources")  # armed
        await asyncio.to_thread(http.post, base + "/__sandbox/revoke", timeout=10)
        before = sum(stats.by_endpoint.values())
        held = await _hammer(lambda: client.transport.request("GET", "/data_sources"), 1.2)
        sent = sum(stats.by_endpoint.values()) - before
        assert 1 <= sent <= 3 and len(held) > 10 * sent
        assert all(
            m.startswith("ChartMogul authentication failing: No valid API key provided "
                         "(HTTP 401); check chartmogul.api_key_file")
            for m in held
        ), held[:3]  # fmt: skip
        warned = [r.getMessage() for r in caplog.records if "refused cmsync's" in r.getMessage()]
        assert len(warned) == 1
        assert f"chartmogul.api_key_file ({settings.api_key_file})" in warned[0]

        await asyncio.to_thread(http.delete, base + "/__sandbox/revoke", timeout=10)
        await asyncio.sleep(QUICK.cap)
        assert await client.transport.request("GET", "/data_sources")
        assert [r for r in caplog.records if "accepts cmsync's credentials again" in r.message]
