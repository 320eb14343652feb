"""``cmsync config --example``: a commented starter ``cmsync.toml``, generated from the settings
models so it cannot drift from what the loader takes.

Every section and every setting of ``Settings`` appears, with its meaning as a comment (the
same words as the README's settings table, ``settings_doc``). What a first start needs is
set, with placeholders to replace (``_START``); everything else is commented out at its
default, or at an example value where it has none (``_EXAMPLES``). Secrets appear only as
their ``*_file`` twins: a secret's value is refused in the file, and the paths are the
credential files the systemd unit hands to the daemon. A test loads the printed example
through ``load_settings``, with those files created.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from cmsync.admin.settings_doc import settings_rows
from cmsync.config import Settings

__all__ = ["CREDENTIALS", "example_toml"]

CREDENTIALS = "/etc/cmsync/credentials"  # the unit's LoadCredential= sources
WIDTH = 96

# Set in the example: what a first start needs, to be replaced by the org's own values.
_START: dict[str, Any] = {
    "chartmogul.api_key_file": f"{CREDENTIALS}/chartmogul_api_key",
    "salesforce.client_id": "3MVG9-replace-with-the-consumer-key",
    "salesforce.username": "cmsync@yourco.com",
    "salesforce.private_key_file": f"{CREDENTIALS}/salesforce_private_key",
    "store.path": "/var/lib/cmsync/cmsync.db",
}
# Shown, commented out, for settings without a default.
_EXAMPLES: dict[str, Any] = {
    "chartmogul.data_source_uuid": "ds_1f3eaac0-62d0-11ee-ab6c-a3ba5ab0b5f5",
    "chartmogul.ca_bundle": "/etc/cmsync/ca-bundle.pem",
    "salesforce.jwt_audience": "https://test.salesforce.com",
    "salesforce.client_secret_file": f"{CREDENTIALS}/salesforce_client_secret",
    "salesforce.password_file": f"{CREDENTIALS}/salesforce_password",
    "salesforce.security_token_file": f"{CREDENTIALS}/salesforce_security_token",
    "salesforce.ca_bundle": "/etc/cmsync/ca-bundle.pem",
    "sync.fallback_owner": "renewals@yourco.com",
    "closed_won.plan_field": "Plan__c",
    "metrics.listen": "127.0.0.1:9464",
    "metrics.textfile": "/var/lib/node_exporter/textfile/cmsync.prom",
    "alerts.webhook_url_file": f"{CREDENTIALS}/alerts_webhook_url",
}
_IN_A_FILE = (
    "A secret: the file is readable by the cmsync user alone (mode 0600; the systemd unit "
    "hands it over as a credential), never the value in this file."
)
_HEADER = """\
# cmsync.toml: a starter configuration (`cmsync config --example`).
#
# Replace the values that are set (the consumer key, the integration user, the paths), put
# the two secrets in their files, then check it all: `cmsync config --config FILE` validates
# the file, `cmsync doctor --config FILE` logs in to both services and checks the org.
# Everything commented out is a default (or an example): uncomment to change it.
# CMSYNC_<SECTION>__<NAME> environment variables override the file
# (CMSYNC_SALESFORCE__USERNAME); a secret goes in a file or the environment, never here.
"""


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _toml(value: Any) -> str:
    """``value`` as a TOML value (strings through JSON, whose escapes TOML shares)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path | AnyUrl):
        return json.dumps(str(value))
    if isinstance(value, BaseModel):
        return _toml(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")  # pragma: no cover - a new kind of setting


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return PydanticUndefined


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH - 2, initial_indent="# ", subsequent_indent="# ")


def _is_secret(info: FieldInfo) -> bool:
    return SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))


def _section(
    model: type[BaseModel], path: tuple[str, ...], meanings: dict[str, str]
) -> Iterator[str]:
    dotted_section = ".".join(path)
    yield ""
    yield from _comment((model.__doc__ or "").strip().splitlines()[0])
    yield f"[{dotted_section}]"
    fields = model.model_fields
    tables: list[tuple[str, type[BaseModel]]] = []
    plans: list[tuple[str, Mapping[str, BaseModel]]] = []
    for name, info in fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            tables.append((name, kind))
            continue
        dotted = f"{dotted_section}.{name}"
        if _is_secret(info):
            continue  # its *_file twin stands for it
        meaning = meanings[dotted]
        secret = name.endswith("_file") and _is_secret(fields.get(name.removesuffix("_file"), info))
        if secret:
            twin = meanings[dotted.removesuffix("_file")].split(" A secret:")[0]
            twin = re.sub(r"this or `\w+`", "this file or the environment", twin)
            meaning = f"{meaning} {twin.replace(' (or `_file`)', '')} {_IN_A_FILE}"
        yield from _comment(meaning)
        if dotted in _START:
            yield f"{name} = {_toml(_START[dotted])}"
            continue
        value = _EXAMPLES.get(dotted, _default(info))
        if value is None or value is PydanticUndefined:
            yield f"# {name}: unset by default"
        elif isinstance(value, Mapping) and any(isinstance(v, BaseModel) for v in value.values()):
            # A table of tables (the plans) reads better as sub-tables than as one long line;
            # TOML wants them after the section's own keys.
            plans.append((name, value))
            yield f"# {name}: see [{dotted}.*] below"
        else:
            yield f"# {name} = {_toml(value)}"
    for name, table in plans:
        for key, item in table.items():
            yield f"# [{dotted_section}.{name}.{_key(key)}]"
            yield from (f"# {k} = {_toml(v)}" for k, v in item.model_dump().items())
    for name, kind in tables:
        yield from _section(kind, (*path, name), meanings)


def example_toml() -> str:
    """The starter ``cmsync.toml``, every setting in it, commented."""
    meanings = {dotted: text for dotted, _, _, text in settings_rows()}
    lines = [_HEADER.rstrip("\n")]
    for name, info in Settings.model_fields.items():
        kind = info.annotation
        assert isinstance(kind, type) and issubclass(kind, BaseModel)
        lines.extend(_section(kind, (name,), meanings))
    return "\n".join(lines) + "\n"
