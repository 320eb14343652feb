"""Settings: a TOML file plus ``CMSYNC_``-prefixed environment variables (pydantic-settings).

Precedence, highest first: environment (``CMSYNC_SALESFORCE__CLIENT_ID``; sections joined by a
double underscore), then the TOML file. Each secret may be given directly (environment only,
by habit: a config file is not a secret store) or as a ``*_file`` path to a file holding it,
which is how systemd credentials and the sandbox hand secrets over; a secret written into the
TOML file is refused with that fix. What can be checked offline is checked at load
(``config_checks``: cron expressions, key and certificate files), so every command refuses the
same mistakes before it connects. Settings are built once, in the CLI, and passed down;
nothing deeper reads the environment.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Self, get_args

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from cmsync.config_checks import (
    check_ca_bundle,
    check_crontab,
    check_private_key,
    check_private_key_file,
)

__all__ = [
    "AccountFieldMap",
    "AlertSettings",
    "ChartMogulSettings",
    "ClosedWonSettings",
    "ConfigError",
    "EnrichmentSettings",
    "FieldSettings",
    "MetricsSettings",
    "OfflineSettings",
    "PersonFieldMap",
    "PlanDefinition",
    "ReportSettings",
    "SalesforceSettings",
    "ScheduleSettings",
    "Settings",
    "StoreSettings",
    "SyncSettings",
    "load_settings",
]

ENV_PREFIX = "CMSYNC_"
ENV_DELIMITER = "__"


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid; the message names each setting.

    ``problems`` holds (setting, what is wrong and the fix) pairs when settings are to blame,
    so ``cmsync doctor`` can report each as a finding; empty for an unreadable file.
    """

    def __init__(self, message: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


def _read_secret(name: str, path: Path) -> SecretStr:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{name}_file {str(path)!r} cannot be read: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{name}_file {str(path)!r} is empty")
    return SecretStr(value)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _resolve_secrets(self, *names: str) -> dict[str, SecretStr | None]:
        """Each secret from its value or its ``*_file``; giving both is ambiguous, so refused."""
        resolved: dict[str, SecretStr | None] = {}
        for name in names:
            value: SecretStr | None = getattr(self, name)
            path: Path | None = getattr(self, f"{name}_file")
            if value is not None and path is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
            resolved[name] = _read_secret(name, path) if path is not None else value
        return resolved


class ChartMogulSettings(_Section):
    """Where and how to reach ChartMogul."""

    base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.chartmogul.com"),
        description="API root, without /v1.",
    )
    api_key: SecretStr | None = Field(default=None, description="Read & Write API key.")
    api_key_file: Path | None = Field(default=None, description="File holding the API key.")
    data_source_uuid: str | None = Field(
        default=None,
        pattern=r"^ds_[0-9a-f-]+$",
        description="Custom data source that Closed-Won deals are imported into.",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle (PEM) to verify the server against instead of the system CAs.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")

    @field_validator("ca_bundle")
    @classmethod
    def _pem_bundle(cls, value: Path | None) -> Path | None:
        return value if value is None else check_ca_bundle(value)

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        secrets = self._resolve_secrets("api_key")
        if secrets["api_key"] is None:
            raise ValueError("api_key is required: set CMSYNC_CHARTMOGUL__API_KEY or api_key_file")
        object.__setattr__(self, "api_key", secrets["api_key"])
        return self


AuthFlow = Literal["jwt", "client_credentials", "password"]

_FLOW_NEEDS: dict[str, tuple[str, ...]] = {
    "jwt": ("client_id", "username", "private_key"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("client_id", "client_secret", "username", "password"),
}


class SalesforceSettings(_Section):
    """Where and how to reach Salesforce."""

    login_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://login.salesforce.com"),
        description="OAuth server: login.salesforce.com, test.salesforce.com or My Domain.",
    )
    api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$", description="REST version.")
    auth_flow: AuthFlow = Field(default="jwt", description="jwt, client_credentials or password.")
    jwt_audience: AnyHttpUrl | None = Field(
        default=None,
        description="JWT `aud` instead of the one derived from login_url "
        "(https://test.salesforce.com for sandbox hosts, else https://login.salesforce.com).",
    )
    client_id: str | None = Field(
        default=None, description="External Client App (or Connected App) consumer key."
    )
    username: str | None = Field(default=None, description="Integration user (jwt, password).")
    private_key: SecretStr | None = Field(default=None, description="JWT signing key (PEM).")
    private_key_file: Path | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    security_token: SecretStr | None = None
    security_token_file: Path | None = None
    ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle (PEM) to verify the server against instead of the system CAs.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")

    @field_validator("ca_bundle")
    @classmethod
    def _pem_bundle(cls, value: Path | None) -> Path | None:
        return value if value is None else check_ca_bundle(value)

    @field_validator("private_key_file")
    @classmethod
    def _pem_key_file(cls, value: Path | None) -> Path | None:
        return value if value is None else check_private_key_file(value)

    @field_validator("private_key")
    @classmethod
    def _pem_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:  # never quoted back: only what is wrong with it
            check_private_key(value.get_secret_value().encode(), "the key")
        return value

    @field_validator("jwt_audience")
    @classmethod
    def _https_audience(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and value.scheme != "https":
            raise ValueError("jwt_audience must be an https URL, e.g. https://test.salesforce.com")
        return value

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        secrets = self._resolve_secrets(
            "private_key", "client_secret", "password", "security_token"
        )
        for name, value in secrets.items():
            object.__setattr__(self, name, value)
        missing = [n for n in _FLOW_NEEDS[self.auth_flow] if getattr(self, n) is None]
        if missing:
            hints = ", ".join(
                f"{n} (CMSYNC_SALESFORCE__{n.upper()}"
                + (f" or {n}_file)" if n in secrets else " or the config file)")
                for n in missing
            )
            raise ValueError(f"auth_flow {self.auth_flow!r} needs {hints}")
        return self


class StoreSettings(_Section):
    """The SQLite store."""

    path: Path = Field(default=Path("cmsync.db"), description="SQLite file (WAL mode).")

    @field_validator("path")
    @classmethod
    def _not_a_directory(cls, value: Path) -> Path:
        if value.is_dir():
            raise ValueError(f"{str(value)!r} is a directory; give a file path")
        return value


_API_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


def _name(default: str, what: str) -> Any:
    return Field(default=default, pattern=_API_NAME, description=what)


class AccountFieldMap(_Section):
    """Salesforce Account fields cmsync writes (API names)."""

    customer_uuid: str = _name("CM_Customer_UUID__c", "ChartMogul customer UUID (External ID)")
    mrr: str = _name("CM_MRR__c", "MRR (currency)")
    arr: str = _name("CM_ARR__c", "ARR (currency)")
    plan: str = _name("CM_Plan__c", "current plan")
    status: str = _name("CM_Status__c", "ChartMogul status")
    customer_since: str = _name("CM_Customer_Since__c", "first paid (date)")
    stage: str = _name("CM_Lifecycle_Stage__c", "lifecycle stage")
    churn_risk: str = _name("CM_Churn_Risk__c", "None/Low/Medium/High")
    last_activity: str = _name("CM_Last_Activity__c", "latest MRR movement (datetime)")
    url: str = _name("CM_URL__c", "link to the customer in ChartMogul")


class PersonFieldMap(_Section):
    """Contact or Lead fields cmsync enriches (API names)."""

    plan: str = _name("CM_Plan__c", "plan tier")
    subscription_start: str = _name("CM_Subscription_Start__c", "subscription start (date)")
    ltv: str = _name("CM_LTV__c", "lifetime value (currency)")
    mrr: str = _name("CM_MRR__c", "MRR (currency)")
    status: str = _name("CM_Status__c", "ChartMogul status")
    customer_uuid: str = _name("CM_Customer_UUID__c", "ChartMogul customer UUID")


class FieldSettings(_Section):
    """The field mapping; every name can be changed to fit an org's own fields."""

    account: AccountFieldMap = AccountFieldMap()
    contact: PersonFieldMap = PersonFieldMap()
    lead: PersonFieldMap = PersonFieldMap()
    sync_key: str = _name("CM_Sync_Key__c", "External ID on Task, Case, Opportunity")
    owner: str = _name("OwnerId", "Account user lookup that gets churn-risk Tasks and Cases")


AlertName = Literal["contraction", "downgrade", "payment_failed", "churn"]


class SyncSettings(_Section):
    """How the lifecycle turns signals into Salesforce records."""

    milestones: tuple[float, ...] = Field(
        default=(1_000.0, 5_000.0, 10_000.0),
        description="MRR milestones (account currency) whose upward crossing tells the owner.",
    )
    cases_for: tuple[AlertName, ...] = Field(
        default=(), description="Churn-risk signals that open a Case instead of a Task."
    )
    high_priority_mrr: float = Field(default=500.0, ge=0, description="MRR at stake for High.")
    low_priority_mrr: float = Field(default=50.0, ge=0, description="MRR at stake below: Low.")
    due_days: int = Field(default=3, ge=0, description="Days until a churn-risk Task is due.")
    alert_horizon_days: float = Field(
        default=7.0, ge=0, description="Older signals set fields but open no Task/Case/Opp."
    )
    failure_expiry_days: float = Field(
        default=60.0, gt=0, description="Days after which an unrecovered failed payment expires."
    )
    opportunity_stage: str = Field(default="Closed Won", description="Expansion Opp stage.")
    api_budget_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of the org's daily API calls cmsync may use."
    )
    lookback_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Overlap window re-read by the incremental pollers: the longest a "
        "transaction is taken to run before its records show.",
    )
    fallback_owner: str | None = Field(
        default=None,
        min_length=1,
        description="User Id or username that gets a Task or Case whose owner is inactive. "
        "Unset: such a record is created without an owner (the integration user's).",
    )


class PlanDefinition(_Section):
    """A ChartMogul plan cmsync may create when a Closed-Won deal needs it."""

    name: str = Field(min_length=1, description="Plan name shown in ChartMogul.")
    interval_count: int = Field(default=1, gt=0, description="Billing interval length.")
    interval_unit: Literal["day", "month", "year"] = Field(
        default="month", description="Billing interval unit."
    )


class ClosedWonSettings(_Section):
    """Closed-Won Opportunities into ChartMogul customers and subscriptions."""

    enabled: bool = Field(default=True, description="Poll Closed-Won Opportunities.")
    plan_field: str | None = Field(
        default=None,
        pattern=_API_NAME,
        description="Opportunity field whose value picks the plan via plan_by_value.",
    )
    plan_by_value: dict[str, str] = Field(
        default_factory=dict, description="plan_field value -> ChartMogul plan external id."
    )
    plan_by_type: dict[str, str] = Field(
        default_factory=dict, description="Opportunity Type -> ChartMogul plan external id."
    )
    default_plan: str = Field(
        default="cmsync_annual_contract",
        min_length=1,
        description="Plan external id when no mapping applies.",
    )
    create_plans: dict[str, PlanDefinition] = Field(
        default_factory=lambda: {
            "cmsync_annual_contract": PlanDefinition(name="Annual contract (Salesforce)")
        },
        description="Plans (by external id) to create in ChartMogul if they are missing.",
    )
    term_months: int = Field(
        default=12, gt=0, description="Months the Opportunity Amount pays for (12: ACV)."
    )
    currency: str = Field(
        default="USD", min_length=3, max_length=3, description="Invoice currency."
    )
    backfill_days: int = Field(
        default=30,
        ge=0,
        description="On the first run, deals closed this many days back may still be imported.",
    )


class EnrichmentSettings(_Section):
    """ChartMogul figures onto new Contacts and converted Leads."""

    enabled: bool = Field(default=True, description="Poll new Contacts and converted Leads.")
    backfill_days: int = Field(
        default=30, ge=0, description="On the first run, how far back people are enriched."
    )


class ReportSettings(_Section):
    """KPI snapshots into CM_Metric_Snapshot__c."""

    enabled: bool = Field(default=True, description="Write KPI snapshot rows.")
    periods: tuple[Literal["day", "week", "month"], ...] = Field(
        default=("day",), description="Which periods get a row each."
    )
    backfill: int = Field(
        default=7, ge=1, description="How many recent periods each report (re)writes."
    )
    object: str = Field(
        default="CM_Metric_Snapshot__c", pattern=_API_NAME, description="The custom object."
    )
    period_key: str = Field(
        default="CM_Period_Key__c", pattern=_API_NAME, description="Its External ID field."
    )


class ScheduleSettings(_Section):
    """How often each daemon job runs (seconds), and the KPI report's cron expression."""

    chartmogul_poll: float = Field(default=300.0, gt=0, description="Activities and payments.")
    salesforce_poll: float = Field(
        default=300.0, gt=0, description="Closed-Won, Contacts and Leads."
    )
    dispatch: float = Field(default=30.0, gt=0, description="Drain the outbox.")
    customers: float = Field(default=3600.0, gt=0, description="Customer sweep and matching.")
    late_activities: float = Field(
        default=1800.0,
        gt=0,
        description="Re-read of the last alert_horizon_days of activities for movements "
        "ChartMogul showed late (processing delay, back-dated invoices), withdrawing the "
        "alerts of movements it no longer shows (regrouped away).",
    )
    reconcile: float = Field(default=21600.0, gt=0, description="Full reconciliation.")
    commands: float = Field(default=2.0, gt=0, description="Dashboard commands.")
    report_cron: str = Field(default="15 0 * * *", description="KPI report, crontab syntax (UTC).")
    report_retry: float = Field(
        default=300.0,
        gt=0,
        description="A KPI report run that failed (an outage, refused credentials) is tried "
        "again after this many seconds until one succeeds, not only at the next cron time.",
    )
    job_timeout: float = Field(
        default=900.0, gt=0, description="A job running longer is cancelled."
    )
    jitter: float = Field(default=5.0, ge=0, description="Random delay added to each run.")

    @field_validator("report_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        return check_crontab(value)


def _host_port(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) split; ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not host:port, e.g. 127.0.0.1:9464")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


class MetricsSettings(_Section):
    """Prometheus metrics: a listener to scrape, a file for node_exporter, or both."""

    listen: str | None = Field(
        default=None,
        description="host:port of the metrics listener (e.g. 127.0.0.1:9464); off unless set. "
        "Only a loopback address unless allow_remote.",
    )
    allow_remote: bool = Field(
        default=False,
        description="Let listen bind a non-loopback address. The listener has no TLS and no "
        "authentication: put a reverse proxy or a firewall in front of it.",
    )
    textfile: Path | None = Field(
        default=None,
        description="File for node_exporter's textfile collector (a .prom file in its "
        "directory), rewritten atomically; off unless set.",
    )
    textfile_every: float = Field(
        default=15.0, gt=0, description="Seconds between two writes of the textfile."
    )

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            _host_port(value)
        return value

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> Self:
        if self.listen is not None and not self.allow_remote:
            host, _ = _host_port(self.listen)
            if not _loopback(host):
                raise ValueError(
                    f"listen {self.listen!r} is not a loopback address; the listener has no TLS "
                    "and no authentication: bind 127.0.0.1 (and scrape through a proxy or an "
                    "SSH tunnel), use textfile, or set allow_remote = true"
                )
        return self

    @property
    def address(self) -> tuple[str, int] | None:
        """The listener's (host, port), None when it is off."""
        return None if self.listen is None else _host_port(self.listen)


class AlertSettings(_Section):
    """Alerts out: JSON POSTs to an incoming webhook (Slack's, or any endpoint reading JSON)."""

    webhook_url: SecretStr | None = Field(
        default=None,
        description="Incoming-webhook URL the alerts are POSTed to; alerts are off unless set.",
    )
    webhook_url_file: Path | None = Field(default=None, description="File holding the webhook URL.")
    failures_in_a_row: int = Field(
        default=3, ge=1, description="A job failing this many runs in a row is alerted."
    )
    budget_threshold: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of cmsync's API budget whose use is alerted.",
    )
    check_every: float = Field(default=60.0, gt=0, description="Seconds between two checks.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per-POST timeout.")

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        secrets = self._resolve_secrets("webhook_url")
        url = secrets["webhook_url"]
        if url is not None and not url.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")  # never quoted back
        object.__setattr__(self, "webhook_url", url)
        return self


class Settings(BaseSettings):
    """All of cmsync's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    chartmogul: ChartMogulSettings
    salesforce: SalesforceSettings
    store: StoreSettings = StoreSettings()
    fields: FieldSettings = FieldSettings()
    sync: SyncSettings = SyncSettings()
    closed_won: ClosedWonSettings = ClosedWonSettings()
    enrichment: EnrichmentSettings = EnrichmentSettings()
    reports: ReportSettings = ReportSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    metrics: MetricsSettings = MetricsSettings()
    alerts: AlertSettings = AlertSettings()


class _OfflineChartMogul(ChartMogulSettings):
    """ChartMogul's section where nothing connects: its key is neither needed nor read."""

    @model_validator(mode="after")
    def _secrets(self) -> Self:  # replaces the section's check of the same name
        return self


class _OfflineSalesforce(SalesforceSettings):
    """Salesforce's section where nothing connects: no flow's credentials needed or read."""

    @field_validator("private_key_file")
    @classmethod
    def _pem_key_file(cls, value: Path | None) -> Path | None:
        return value

    @field_validator("private_key")
    @classmethod
    def _pem_key(cls, value: SecretStr | None) -> SecretStr | None:
        return value

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        return self


class _OfflineAlerts(AlertSettings):
    """The alerts' section where nothing connects: the webhook URL is not read."""

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        return self


class OfflineSettings(Settings):
    """The settings of the commands that never connect (``cmsync salesforce metadata``): an
    admin runs them before any credential exists, from no file at all or from one holding
    only the ``[fields]`` tables. Both services' sections are optional and their credentials
    are not required, nor read where given (a key file only root can read, say); every other
    setting is checked as for the daemon, and a secret written into the file is still refused.
    """

    chartmogul: _OfflineChartMogul = _OfflineChartMogul()
    salesforce: _OfflineSalesforce = _OfflineSalesforce()
    alerts: _OfflineAlerts = _OfflineAlerts()


def _problems(exc: ValidationError) -> Iterator[tuple[str, str]]:
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            env = ENV_PREFIX + ENV_DELIMITER.join(str(p).upper() for p in error["loc"])
            message = f"missing (set it in the file or as {env})"
        elif error["type"] == "extra_forbidden":
            message = "unknown setting"
        yield loc or "<root>", message


def _secret_settings() -> Iterator[tuple[str, str]]:
    """(section, name) of every secret: each is a ``SecretStr`` with a ``*_file`` twin."""
    for section, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                if SecretStr in (field.annotation, *get_args(field.annotation)):
                    yield section, name


def _secrets_in_file(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A secret written into the TOML file, refused: the file is a config, read by whoever
    reads configs (backups, support bundles, a repository), not a secret store."""
    for section, name in _secret_settings():
        table = data.get(section)
        if isinstance(table, Mapping) and name in {str(key).casefold() for key in table}:
            env = ENV_PREFIX + f"{section}{ENV_DELIMITER}{name}".upper()
            yield (
                f"{section}.{name}",
                "a secret does not belong in the config file; put it in a file only the cmsync "
                f'user can read and set {section}.{name}_file = "/path/to/that/file" (or the '
                f"environment variable {env}_FILE, as the systemd unit does), or set the "
                f"environment variable {env}",
            )


def _config_error(source: str, problems: list[tuple[str, str]]) -> ConfigError:
    lines = [f"{setting}: {message}" for setting, message in problems]
    head = f"invalid configuration ({source}):"
    text = f"{head} {lines[0]}" if len(lines) == 1 else "\n  ".join([head, *lines])
    return ConfigError(text, tuple(problems))


def load_settings(path: Path | None, *, offline: bool = False) -> Settings:
    """Settings from ``path`` (TOML) and the environment; ConfigError says what is wrong.
    ``offline``: for a command that never connects, ``OfflineSettings``."""
    problems: list[tuple[str, str]] = []
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        problems += _secrets_in_file(data)

    def sources(
        settings_cls: type[BaseSettings],
        init: PydanticBaseSettingsSource,
        env: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if path is None:
            return init, env
        return init, env, TomlConfigSettingsSource(settings_cls, toml_file=path)

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return sources(settings_cls, init_settings, env_settings)

    class _OfflineFromFile(OfflineSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return sources(settings_cls, init_settings, env_settings)

    source = str(path) if path is not None else "environment"
    try:
        settings = _OfflineFromFile() if offline else _FromFile()
    except ValidationError as exc:
        named = {setting for setting, _ in problems}
        problems += [p for p in _problems(exc) if p[0] not in named]
    if problems:
        raise _config_error(source, problems)
    return settings


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as ``**********``."""
    return settings.model_dump(mode="json")
