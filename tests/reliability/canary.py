"""A sandbox whose credentials are canaries: strings a leak would be recognised by.

``Canaries`` holds a ChartMogul API key, a Salesforce consumer secret, password, security token
and JWT signing key, each made of a recognisable random string (the key: its own PEM body).
``start_canary_sandbox`` serves both emulators with those credentials, as ``start_sandbox``
does with its own (the emulators take the key and secrets), seeds the usual scenario, and
records every access token the org issues: those are secrets too.

``CanarySandbox.config`` writes a cmsync config without any secret (as the README asks), for
the JWT bearer, client-credentials or username-password flow; ``secrets_env`` gives the
secrets of a flow as ``CMSYNC_*`` variables, ``secret_files`` as ``*_FILE`` variables.
"""

from __future__ import annotations

import gc
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.auth import Session
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.seed import seed
from cmsync.sandbox.serve import LoopThread, Site, start_site
from cmsync.sandbox.tls import SandboxTLS

__all__ = ["Canaries", "CanarySandbox", "canary_sandbox"]

USERNAME = "integration@cmsync-canary.example"
CLIENT_ID = "3MVG9canaryconsumerkey"  # not a secret: it is in the config file


def _canary(label: str) -> str:
    return f"CANARY{label}{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Canaries:
    api_key: str = field(default_factory=lambda: _canary("cmkey"))
    client_secret: str = field(default_factory=lambda: _canary("sfsecret"))
    password: str = field(default_factory=lambda: _canary("sfpassword"))
    security_token: str = field(default_factory=lambda: _canary("sftoken"))  # alphanumeric
    wrong: str = field(default_factory=lambda: _canary("wrong"))  # a secret that is refused
    private_key_pem: str = field(
        default_factory=lambda: (
            rsa.generate_private_key(65537, 2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
    )

    @property
    def public_key_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def needles(self) -> list[str]:
        """What must never be found: every secret, and every line of the key's PEM body."""
        body = [
            line
            for line in self.private_key_pem.splitlines()
            if line and not line.startswith("-----")
        ]
        return [
            self.api_key, self.client_secret, self.password, self.security_token, self.wrong,
            *body,
        ]  # fmt: skip


@dataclass
class CanarySandbox:
    directory: Path
    canaries: Canaries
    tls: SandboxTLS
    ctx: SandboxContext
    chartmogul: ChartMogulEmulator
    salesforce: SalesforceEmulator
    sites: tuple[Site, Site]
    data_source_uuid: str
    issued: list[str] = field(default_factory=list)  # access tokens the org handed out

    @property
    def store_path(self) -> Path:
        return self.directory / "cmsync.db"

    def needles(self) -> list[str]:
        return [*self.canaries.needles(), *self.issued]

    def config(self, flow: str) -> Path:
        """A config file for ``flow`` ("jwt", "client_credentials", "password"), no secret."""
        cm, sf = self.sites
        values = {
            "chartmogul": {
                "base_url": cm.url,
                "data_source_uuid": self.data_source_uuid,
                "ca_bundle": str(self.tls.ca_bundle),
            },
            "salesforce": {
                "login_url": sf.url,
                "auth_flow": flow,
                "client_id": CLIENT_ID,
                "username": USERNAME,
                "ca_bundle": str(self.tls.ca_bundle),
            },
            "store": {"path": str(self.store_path)},
        }
        lines = []
        for section, settings in values.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        path = self.directory / f"cmsync-{flow}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def secrets_env(self, flow: str, *, refused: str = "") -> dict[str, str]:
        """The secrets ``flow`` needs as CMSYNC_* variables; ``refused`` names the service
        ("chartmogul" or "salesforce") that gets the wrong canary instead of its secret."""
        c = self.canaries
        key = c.wrong if refused == "chartmogul" else c.api_key
        env = {"CMSYNC_CHARTMOGUL__API_KEY": key}
        if flow == "jwt":
            env["CMSYNC_SALESFORCE__PRIVATE_KEY"] = c.private_key_pem
        else:
            env["CMSYNC_SALESFORCE__CLIENT_SECRET"] = c.client_secret
        if flow == "password":
            env["CMSYNC_SALESFORCE__PASSWORD"] = c.wrong if refused == "salesforce" else c.password
            env["CMSYNC_SALESFORCE__SECURITY_TOKEN"] = c.security_token
        return env

    def secret_files(self, flow: str) -> dict[str, str]:
        """The secrets ``flow`` needs as files (mode 0600), named by CMSYNC_*_FILE variables."""
        directory = self.directory / "secrets"
        directory.mkdir(mode=0o700, exist_ok=True)
        env: dict[str, str] = {}
        for name, value in self.secrets_env(flow).items():
            path = directory / name.lower()
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
            env[name + "_FILE"] = str(path)
        return env


async def _start(directory: Path, canaries: Canaries, seed_: int, accounts: int) -> CanarySandbox:
    tls = SandboxTLS.create(directory)
    ctx = SandboxContext(faults=FaultInjector("none", seed=seed_))
    chartmogul = ChartMogulEmulator(ctx, canaries.api_key)
    salesforce = SalesforceEmulator(
        ctx,
        SalesforceEmulatorConfig(
            client_id=CLIENT_ID,
            client_secret=canaries.client_secret,
            username=USERNAME,
            password=canaries.password,
            jwt_public_key_pem=canaries.public_key_pem,
        ),
    )
    seeded = seed(generate(seed_, accounts, ctx.clock.now()), chartmogul.store, salesforce.store)
    sites = (
        await start_site(chartmogul.create_app(), tls.server_context),
        await start_site(salesforce.create_app(), tls.server_context),
    )
    sandbox = CanarySandbox(
        directory, canaries, tls, ctx, chartmogul, salesforce, sites, seeded.data_source_uuid
    )
    issue = salesforce.tokens.issue

    def recording_issue(user_id: str) -> Session:
        session = issue(user_id)
        sandbox.issued.append(session.token)
        return session

    salesforce.tokens.issue = recording_issue  # type: ignore[method-assign]
    return sandbox


@contextmanager
def canary_sandbox(
    loop: LoopThread, directory: Path, canaries: Canaries, *, seed: int, accounts: int
) -> Iterator[CanarySandbox]:
    """A canary sandbox served on ``loop``, stopped on exit."""
    sandbox = loop.call(_start(directory, canaries, seed, accounts))
    try:
        yield sandbox
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        for site in sandbox.sites:
            loop.call(site.stop())
