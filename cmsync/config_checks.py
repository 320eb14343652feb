"""What the settings can check offline, so a mistake is named at load, not by a crash later.

Each check raises ``ValueError`` with a message that says what is wrong and the fix; the
settings models call them from their validators, so ``config``, ``doctor``, ``once`` and
``run`` all refuse the same mistakes in the same words, before anything connects.

- A cron expression must be what ``CronTrigger.from_crontab`` takes (APScheduler 3, "cron"
  trigger: "a standard crontab expression", five fields); a six-field one (with seconds, as
  Quartz or Spring write them) would otherwise crash the daemon's scheduler at start.
- A JWT signing key must be an unencrypted PEM RSA private key: the JWT bearer flow's
  assertion is signed "using SHA256 with RSA" and checked against the X.509 certificate
  uploaded to the app (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server
  Integration"; forcedotcom/sfdx-core ``src/org/authInfo.ts``, ``tryJwtAuth``, signs with
  ``algorithm: 'RS256'``), and cmsync holds no passphrase.
- A CA bundle must hold PEM X.509 certificates, or every TLS handshake fails.

Secret values are never quoted back; a file is named by its path only.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import load_pem_x509_certificate

__all__ = ["check_ca_bundle", "check_crontab", "check_private_key", "check_private_key_file"]

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)
_KEY_FIX = (
    "give the unencrypted PEM RSA key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE "
    "KEY-----) whose certificate is uploaded to the External Client App"
)


def check_crontab(value: str) -> str:
    """``value`` if it is a five-field crontab expression APScheduler accepts."""
    try:
        CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a 5-field crontab expression (minute hour day-of-month month "
            f'day-of-week, UTC; e.g. "15 0 * * *"): {exc}'
        ) from None
    return value


def check_private_key(pem: bytes, where: str = "the value") -> None:
    """Refuse anything but an unencrypted PEM RSA private key; ``where`` names its origin."""
    if b"-----BEGIN CERTIFICATE-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise ValueError(
            f"{where} holds a certificate, not the private key: the certificate is uploaded "
            f"to Salesforce, cmsync needs the key made with it; {_KEY_FIX}"
        )
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise ValueError(
            f"{where} is an encrypted private key and cmsync holds no passphrase; decrypt it "
            "(openssl pkey -in KEY -out KEY.pem) and keep the file mode 0600"
        ) from None
    except ValueError:
        raise ValueError(f"{where} is not a PEM private key; {_KEY_FIX}") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(
            f"{where} is not an RSA key: the JWT bearer flow signs with RS256, which Salesforce "
            "verifies against an RSA certificate; make an RSA key (openssl req -x509 -newkey "
            "rsa:2048 ...)"
        )


def check_private_key_file(path: Path) -> Path:
    """``path`` if it exists and holds what ``check_private_key`` accepts."""
    check_private_key(_read(path, "private key"), f"{str(path)!r}")
    return path


def _parses(block: bytes) -> bool:
    try:
        load_pem_x509_certificate(block)
    except ValueError:
        return False
    return True


def check_ca_bundle(path: Path) -> Path:
    """``path`` if it exists and holds at least one PEM X.509 certificate.

    Certificates are parsed one by one and one that parses is enough: system bundles carry
    old roots that cryptography parses only with a deprecation warning (a non-positive serial
    number) or not at all, and OpenSSL, which verifies the server, is laxer about them.
    """
    blocks = _PEM_CERTIFICATE.findall(_read(path, "CA bundle"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        found = any(_parses(block) for block in blocks)
    if not found:
        raise ValueError(
            f"{str(path)!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the "
            "CA bundle, in PEM, that the server's certificate chains to, or unset it to use "
            "the system CAs"
        )
    return path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{what} file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{what} file {str(path)!r} cannot be read: {exc.strerror}") from None
