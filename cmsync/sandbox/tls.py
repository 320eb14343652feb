"""One local certificate authority per sandbox run (trustme), shared by both emulators.

simple-salesforce always speaks https, so the sandbox serves TLS; clients trust it through
the CA bundle written next to ``sandbox.json``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["SandboxTLS"]


@dataclass(frozen=True)
class SandboxTLS:
    """A CA bundle on disk and the server context that presents a cert it signed."""

    ca_bundle: Path
    server_context: ssl.SSLContext

    @classmethod
    def create(cls, directory: Path) -> SandboxTLS:
        ca = trustme.CA(organization_name="cmsync sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        directory.mkdir(parents=True, exist_ok=True)
        bundle = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return cls(ca_bundle=bundle, server_context=context)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context for aiohttp clients that trusts only this sandbox's CA."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))
