"""The certificate `cmsync salesforce metadata --certificate` puts in the External Client App
verifies the assertions cmsync signs with the matching key.

The metadata command writes the project; the emulated org is then given the certificate as
read back from the generated ``.ecaGlblOauth`` file (what a deploy would give the app), and
cmsync logs in by the JWT bearer flow over loopback TLS with its own token code. A certificate
for another key is refused as Salesforce refuses it (``invalid_grant``, ``invalid assertion``).
"""

from __future__ import annotations

import gc
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from cmsync.admin.cli import register
from cmsync.config import SalesforceSettings
from cmsync.salesforce.auth import fetch_token, new_http_session
from cmsync.salesforce.errors import SalesforceAuthError
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.serve import LoopThread, Site, start_site
from cmsync.sandbox.tls import SandboxTLS
from tests.support.keys import RSA_PEM

NS = "{http://soap.sforce.com/2006/04/metadata}"
GLOBAL = "force-app/main/default/extlClntAppGlobalOauthSets/cmsync_glbloauth.ecaGlblOauth-meta.xml"
CLIENT_ID = "3MVG9eca-consumer-key"
USERNAME = "integration@cmsync-eca.example"


def key_and_certificate() -> tuple[str, str]:
    """A private key (PEM, for cmsync) and its self-signed certificate, as step 1 makes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmsync")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode(), certificate.public_bytes(serialization.Encoding.PEM).decode()


def generated_certificate(tmp_path: Path, certificate: str) -> str:
    """Run the metadata command with ``--certificate`` and read the app's certificate back."""
    crt = tmp_path / "cmsync.crt"
    crt.write_text(certificate, encoding="utf-8")
    api_key, key = tmp_path / "api_key", tmp_path / "key.pem"
    api_key.write_text("k", encoding="utf-8")
    key.write_text(RSA_PEM, encoding="utf-8")
    config = tmp_path / "cmsync.toml"
    config.write_text(
        f'[chartmogul]\napi_key_file = "{api_key}"\n[salesforce]\nclient_id = "{CLIENT_ID}"\n'
        f'username = "{USERNAME}"\nprivate_key_file = "{key}"\n',
        encoding="utf-8",
    )
    app = typer.Typer()
    register(app)
    out = tmp_path / "metadata"
    result = CliRunner().invoke(
        app,
        ["salesforce", "metadata", "--out", str(out), "--config", str(config),
         "--eca-contact-email", "admin@yourco.com", "--certificate", str(crt)],
        env={"CMSYNC_CONFIG": None}, catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    root = ET.fromstring((out / GLOBAL).read_bytes())  # noqa: S314 (just generated here)
    return root.findtext(NS + "certificate") or ""


@pytest.fixture(scope="module")
def start_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """Start an emulated org whose app holds ``certificate``: (its URL, the CA bundle)."""
    tls = SandboxTLS.create(tmp_path_factory.mktemp("eca-tls"))
    sites: list[Site] = []

    def start(certificate: str) -> tuple[str, Path]:
        config = SalesforceEmulatorConfig(
            api_version="62.0",
            client_id=CLIENT_ID,
            client_secret="unused-by-jwt",
            username=USERNAME,
            password="unused-by-jwt",
            jwt_public_key_pem=certificate.encode(),
            token_ttl_seconds=7200,
            daily_api_limit=100_000,
        )
        emulator = SalesforceEmulator(SandboxContext(), config)
        sites.append(sandbox_loop.call(start_site(emulator.create_app(), tls.server_context)))
        return sites[-1].url, tls.ca_bundle

    yield start
    gc.collect()
    for site in sites:
        sandbox_loop.call(site.stop())


def login(url: str, ca_bundle: Path, private_key: str) -> str:
    settings = SalesforceSettings(
        client_id=CLIENT_ID,
        username=USERNAME,
        private_key=private_key,
        login_url=url,
        ca_bundle=ca_bundle,
    )
    with new_http_session(settings) as http:
        return fetch_token(settings, http).instance_url


def test_the_embedded_certificate_lets_cmsync_log_in(
    start_org: Callable[[str], tuple[str, Path]], tmp_path: Path
) -> None:
    private_key, certificate = key_and_certificate()
    embedded = generated_certificate(tmp_path, certificate)
    assert embedded.startswith("-----BEGIN CERTIFICATE-----")
    url, ca_bundle = start_org(embedded)
    assert login(url, ca_bundle, private_key) == url


def test_a_certificate_for_another_key_is_refused(
    start_org: Callable[[str], tuple[str, Path]], tmp_path: Path
) -> None:
    private_key, _ = key_and_certificate()
    _, other_certificate = key_and_certificate()
    url, ca_bundle = start_org(generated_certificate(tmp_path, other_certificate))
    with pytest.raises(SalesforceAuthError, match="invalid assertion"):
        login(url, ca_bundle, private_key)
