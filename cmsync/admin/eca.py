"""The External Client App cmsync logs in through, as metadata the admin deploys.

``cmsync salesforce metadata --eca-contact-email ADDRESS [--certificate cmsync.crt]`` adds
three components to the project. Each follows its page of the Metadata API Developer Guide,
https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/<page>:

* "ExternalClientApplication" (meta_externalclientapplication.htm): suffix ``.eca``, folder
  ``externalClientApps``, API 59.0+, and the org must have "Opt in to External Client Apps".
  The header: label, contact email, distribution state ``Local`` (an app of this org, not a
  package); no ``orgScopedExternalApp``, which holds an org Id.
* "ExtlClntAppOauthSettings" (meta_extlclntappoauthsettings.htm): suffix ``.ecaOauth``,
  folder ``extlClntAppOauthSettings``, API 59.0+: the OAuth scopes. No ``oauthLink``, "an
  auto-generated value that combines the org ID and the OAuth Consumer ID".
* "ExtlClntAppGlobalOauthSettings" (meta_extlclntappglobaloauthsettings.htm): suffix
  ``.ecaGlblOauth``, folder ``extlClntAppGlobalOauthSets``, API 59.0+: the callback URL and
  the certificate ("the PEM-encoded certificate string. When provided, it enables the JWT
  Bearer flow", API 60.0+). The page warns these settings hold "private and sensitive OAuth
  consumer information": that is ``consumerKey`` and ``consumerSecret``, which cmsync never
  writes (Salesforce generates both; the admin copies the key into ``salesforce.client_id``).
  A certificate is public; a private key is refused.

Both OAuth types need the org setting "Allow Access to OAuth Consumer Secrets via Metadata
API" ("ExternalClientAppSettings", meta_externalclientappsettings.htm,
``enableConsumerSecretApiAccess``; the API 66.0 edition of that page marks the field
deprecated). cmsync does not deploy that org-wide setting: it decides who can read every
app's secrets, a decision for the admin in Setup (the README says where).

The OAuth policies ("ExtlClntAppOauthConfigurablePolicies", .ecaOauthPlcy,
meta_extlclntappoauthconfigurablepolicies.htm) are left to Setup: pre-authorizing the
integration user goes through ``commaSeparatedPermissionSet``, "Permission set IDs in a
comma-separated list", and an Id differs from org to org while this project deploys anywhere.

The components are named as Salesforce names those of an app made in Setup (``cmsync``,
``cmsync_oauth``, ``cmsync_glbloauth``), so retrieving the app from the org lands on these
same files. Children are in the order of each type's sequence in the Metadata WSDL
(alphabetical for these types).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography import x509

from cmsync.admin.metaxml import root, sub
from cmsync.admin.permissions import PERMISSION_SET

__all__ = [
    "CALLBACK_URL",
    "CERTIFICATE_API_VERSION",
    "ECA_API_VERSION",
    "ECA_NAME",
    "GLOBAL_OAUTH_SETTINGS",
    "OAUTH_SCOPES",
    "OAUTH_SETTINGS",
    "EcaComponent",
    "EcaError",
    "EcaOptions",
    "check_api_version",
    "eca_components",
    "external_client_app",
    "global_oauth_settings",
    "oauth_settings",
    "read_certificate",
]

ECA_NAME = "cmsync"
OAUTH_SETTINGS = f"{ECA_NAME}_oauth"
GLOBAL_OAUTH_SETTINGS = f"{ECA_NAME}_glbloauth"
ECA_API_VERSION = "59.0"  # the three types
CERTIFICATE_API_VERSION = "60.0"  # ExtlClntAppGlobalOauthSettings.certificate
# The JWT bearer flow never uses the callback URL, but an OAuth-enabled app has one; this is
# the Salesforce CLI's local redirect, the value the README gives for an app made in Setup.
CALLBACK_URL = "http://localhost:1717/OauthRedirect"
# Api: "Allows access to the logged-in user's account over the APIs" (commaSeparatedOauthScopes,
# ExtlClntAppOauthSettings). No RefreshToken: cmsync signs a fresh assertion for each token and
# never holds a refresh token, and its user is pre-authorized by the admin, not by approving
# the app in a browser flow (where a refresh token would record the approval).
OAUTH_SCOPES = ("Api",)
_DESCRIPTION = (
    "cmsync, the ChartMogul-Salesforce sync: logs in with the OAuth 2.0 JWT bearer flow as "
    f"the integration user pre-authorized through the {PERMISSION_SET} permission set."
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
)


class EcaError(ValueError):
    """Options the External Client App cannot be generated from (what to change)."""


@dataclass(frozen=True)
class EcaOptions:
    contact_email: str
    certificate: str | None = None  # one PEM certificate, as read_certificate returns it


@dataclass(frozen=True)
class EcaComponent:
    metadata_type: str  # the package.xml type name
    member: str
    directory: str  # under force-app/main/default
    suffix: str  # the Metadata API suffix; source format appends -meta.xml
    element: ET.Element


def read_certificate(pem: str) -> str:
    """The one X.509 certificate in ``pem``, as PEM; a private key is refused outright."""
    if "PRIVATE KEY" in pem:
        raise EcaError(
            "that file holds a private key: pass the certificate (cmsync.crt), the key stays "
            "with cmsync (salesforce.private_key_file)"
        )
    blocks = _PEM_CERTIFICATE.findall(pem)
    if len(blocks) != 1:
        raise EcaError(f"expected one PEM certificate (BEGIN CERTIFICATE), found {len(blocks)}")
    try:
        x509.load_pem_x509_certificate(blocks[0].encode())
    except ValueError as exc:
        raise EcaError(f"not a valid X.509 certificate: {exc}") from None
    return "\n".join(line.strip() for line in blocks[0].splitlines() if line.strip())


def _version(value: str) -> int:
    return int(value.split(".", 1)[0])


def check_api_version(api_version: str, options: EcaOptions) -> None:
    """Refuse a project version older than the External Client App types (or its certificate)."""
    needed, why = ECA_API_VERSION, "External Client App metadata"
    if options.certificate is not None:
        needed, why = CERTIFICATE_API_VERSION, "an External Client App certificate"
    if _version(api_version) < _version(needed):
        raise EcaError(
            f"{why} needs API {needed} or later, and salesforce.api_version is {api_version}: "
            f"raise it (the default is 62.0) or leave out the External Client App options"
        )


def external_client_app(contact_email: str) -> ET.Element:
    """The ``ExternalClientApplication`` header."""
    if not _EMAIL.fullmatch(contact_email):
        raise EcaError(f"--eca-contact-email {contact_email!r} is not an email address")
    element = root("ExternalClientApplication")
    sub(element, "contactEmail", contact_email)
    sub(element, "description", _DESCRIPTION)
    sub(element, "distributionState", "Local")
    sub(element, "isProtected", False)
    sub(element, "label", ECA_NAME)
    return element


def oauth_settings() -> ET.Element:
    """``ExtlClntAppOauthSettings``: the scopes (no ``oauthLink``: Salesforce generates it)."""
    element = root("ExtlClntAppOauthSettings")
    sub(element, "commaSeparatedOauthScopes", ", ".join(OAUTH_SCOPES))
    sub(element, "externalClientApplication", ECA_NAME)
    sub(element, "label", OAUTH_SETTINGS)
    return element


def global_oauth_settings(certificate: str | None) -> ET.Element:
    """``ExtlClntAppGlobalOauthSettings``: callback URL and certificate, never a key or secret."""
    element = root("ExtlClntAppGlobalOauthSettings")
    sub(element, "callbackUrl", CALLBACK_URL)
    if certificate is not None:
        sub(element, "certificate", certificate)
    sub(element, "externalClientApplication", ECA_NAME)
    sub(element, "label", GLOBAL_OAUTH_SETTINGS)
    # A redeploy must never replace the consumer key cmsync is configured with (nor the
    # secret it does not use): both default to false, written out so nobody flips them.
    sub(element, "shouldRotateConsumerKey", False)
    sub(element, "shouldRotateConsumerSecret", False)
    return element


def eca_components(options: EcaOptions) -> tuple[EcaComponent, ...]:
    """The three components of the app, in the order a deploy creates them."""
    return (
        EcaComponent(
            "ExternalClientApplication",
            ECA_NAME,
            "externalClientApps",
            "eca",
            external_client_app(options.contact_email),
        ),
        EcaComponent(
            "ExtlClntAppOauthSettings",
            OAUTH_SETTINGS,
            "extlClntAppOauthSettings",
            "ecaOauth",
            oauth_settings(),
        ),
        EcaComponent(
            "ExtlClntAppGlobalOauthSettings",
            GLOBAL_OAUTH_SETTINGS,
            "extlClntAppGlobalOauthSets",
            "ecaGlblOauth",
            global_oauth_settings(options.certificate),
        ),
    )
