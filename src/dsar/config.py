"""Settings, read from `DSAR_*` environment variables (nested sections use `__`).

Only `bootstrap` and the entry points read settings; everything else gets plain values.
Every setting is listed in docs/settings.md, and a test fails when one is missing there.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dsar.manual.settings import ManualSettings
from dsar.odr.settings import OdrSettings
from dsar.portability.settings import PortabilitySettings
from dsar.verification.settings import PrivacyCenterSettings


class JobSettings(BaseModel):
    workers: int = Field(2, ge=1, le=64, description="worker threads of the in-process runner")
    poll_seconds: float = Field(1.0, gt=0, description="how often idle workers look for due work")
    lease_seconds: float = Field(30.0, gt=0, description="a claimed task is re-run when its worker is silent this long")
    max_attempts: int = Field(5, ge=1, description="runs of one task before it ends FAILED")
    queue: str = Field("dsar", pattern=r"^[A-Za-z0-9_.-]+$", description="Celery queue name (DSAR_JOBS=celery)")
    sweep_seconds: float = Field(30.0, gt=0, description="how often workers re-send due tasks nobody claimed")


class EngineSettings(BaseModel):
    chunk_size: int = Field(500, ge=1, le=30000, description="keys per IN list")
    parallelism: int = Field(4, ge=1, le=64, description="collections read at the same time in one task")
    source_retries: int = Field(3, ge=0, description="retries of a failing source before the task fails")
    retry_backoff_seconds: float = Field(0.5, ge=0, description="first wait between retries; doubles each time")
    html_rows: int = Field(500, ge=0, description="rows per collection shown in index.html (all rows are in JSON/CSV)")


class UploadSettings(BaseModel):
    max_bytes: int = Field(
        50 * 1024 * 1024, ge=1, le=2**31 - 1, description="largest file createUploadLink accepts (bytes)"
    )
    link_ttl_seconds: int = Field(900, ge=1, le=7 * 24 * 3600, description="lifetime of upload (PUT) links")
    retention_days: int = Field(
        30, ge=1, le=3650, description="uploaded files are deleted this many days after creation"
    )
    janitor_interval_seconds: int = Field(3600, ge=1, description="how often expired uploads are deleted")
    batch_chunk_rows: int = Field(1000, ge=1, le=10000, description="CSV rows per transaction when starting a batch")


class IdpSettings(BaseModel):
    issuer: str | None = Field(None, description="issuer (iss) of the company's identity provider's end-user tokens")
    audience: str = Field("dsar", description="audience (aud) those tokens must carry")
    jwks_url: str | None = Field(None, description="where the provider publishes its signing keys (JWKS)")
    email_claim: str = Field("email", description="the claim that holds the person's e-mail")


class RequestSettings(BaseModel):
    timezone: str = Field("UTC", description="the company's time zone: the day a request is received and due")
    rules: list[Path] = Field(
        default_factory=list, description="YAML files of deadline rules added to the shipped ones (docs/requests.md)"
    )
    retention_months: int = Field(
        24, ge=1, le=240, description="how long the record of a request is kept after it ended (CCPA regs §7101)"
    )
    default_jurisdiction: str | None = Field(
        None,
        description="the jurisdiction of requests whose face does not say one (e.g. US-CA, EU); its rule's deadline",
    )
    company_tenant: str = Field("default", description="the tenant whose team sees requests from apps and people")
    remind_days_before: int = Field(
        7, ge=0, le=90, description="a PRIVACY_REQUEST_REMINDER webhook event this many days before due (0: none)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Paris") from None
        return value


class ConsoleSettings(BaseModel):
    tenant: str | None = Field(None, description="the tenant whose requests the console works; requests.company_tenant")
    idle_minutes: int = Field(30, ge=1, le=24 * 60, description="a console session ends after this many idle minutes")
    max_failures: int = Field(5, ge=1, le=100, description="failed sign-ins in a row that lock a local account")
    lockout_minutes: int = Field(15, ge=1, le=24 * 60, description="how long a locked account stays locked")
    setup_link_hours: int = Field(72, ge=1, le=24 * 30, description="lifetime of a set-password link")
    oidc_issuer: str | None = Field(None, description="OpenID Connect issuer operators sign in with (optional)")
    oidc_client_id: str | None = Field(None, description="the console's client id at that issuer")
    oidc_client_secret: str | None = Field(None, description="the console's client secret at that issuer")


class ArchiveSigningSettings(BaseModel):
    enabled: bool = Field(True, description="sign every archive's manifest (Ed25519, manifest.sig)")
    keys_dir: Path | None = Field(None, description="directory of the signing keys (JWK files); data_dir/signing-keys")
    private_key: str | None = Field(None, description="an Ed25519 private key (PEM) that signs; nothing is generated")
    not_before: datetime | None = Field(None, description="start of private_key's validity window")
    not_after: datetime | None = Field(None, description="end of private_key's validity window")
    key_lifetime_days: int = Field(90, ge=1, le=3650, description="how long a generated key signs before the next")
    grace_days: int = Field(365, ge=0, le=36500, description="a key stays published this long after its window")


class EncryptionSettings(BaseModel):
    enabled: bool = Field(
        True, description="encrypt archives, uploads, work files and subjects' data in the state (docs/encryption.md)"
    )
    key_id: str = Field("master", description="id of the key that wraps new data keys (one of keys, or master)")
    keys: dict[str, str] = Field(
        default_factory=dict, description="key-encryption keys by id: 32 random bytes each, base64 (JSON object)"
    )
    kms_key_id: str | None = Field(None, description="AWS KMS key (id, ARN or alias) that wraps new data keys")
    plaintext_reads: bool = Field(True, description="objects stored before encryption was on stay readable")
    orphan_grace_hours: int = Field(
        24, ge=1, le=24 * 365, description="a sealed body no header names is deleted once it is this old"
    )
    orphan_sweep_interval_seconds: int = Field(
        6 * 3600, ge=60, description="how often bodies no header names are looked for and deleted"
    )


class RateLimitSettings(BaseModel):
    window_seconds: int = Field(60, ge=1, le=86400, description="length of the fixed rate-limit window")
    token_failures: int = Field(
        10, ge=0, description="failed POST /token attempts per client address per window (0: no limit)"
    )
    sign_ins: int = Field(
        30, ge=0, description="ODR sign-ins started and codes e-mailed per client address per window (0: no limit)"
    )
    redis_url: str | None = Field(None, description="keep the counters in Redis instead of the state database")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DSAR_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("./dsar-data"), description="state, archives and the generated secret key")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of dsar's own state; SQLite in data_dir if unset"
    )
    datamap: Path | None = Field(None, description="path of the data map YAML")
    storage_url: str | None = Field(None, description="file:///path or s3://bucket/prefix; data_dir/objects if unset")
    jobs: Literal["inprocess", "celery"] = Field("inprocess", description="job runner")
    broker_url: str | None = Field(None, description="Celery broker URL (DSAR_JOBS=celery)")
    public_url: str = Field("http://127.0.0.1:8000", description="base of every link the service hands out")
    link_ttl_seconds: int = Field(60, ge=1, le=7 * 24 * 3600, description="lifetime of download links")
    token_ttl_seconds: int = Field(900, ge=60, le=86400, description="lifetime of access tokens")
    secret_key: str | None = Field(
        None, description="master key for tokens and signatures; generated under data_dir if unset"
    )
    company_name: str = Field("the company", description="who holds the data, as the archive names it")
    privacy_contact: str = Field("", description="whom subjects contact about their data (shown in the archive)")
    log_level: str = Field("INFO", description="log level")
    log_json: bool = Field(False, description="log JSON lines instead of console text")
    run_workers: bool = Field(True, description="`dsar serve` also runs the in-process workers")
    graphql_max_mutations: int = Field(
        30, ge=1, le=1000, description="root fields one GraphQL mutation request may run (each may start a task)"
    )
    metrics_token: str | None = Field(
        None, description="if set, GET /metrics requires `Authorization: Bearer <this token>` (docs/security.md)"
    )
    job: JobSettings = Field(default_factory=JobSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    idp: IdpSettings = Field(default_factory=IdpSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    portability: PortabilitySettings = Field(default_factory=PortabilitySettings)
    odr: OdrSettings = Field(default_factory=OdrSettings)
    requests: RequestSettings = Field(default_factory=RequestSettings)
    archive_signing: ArchiveSigningSettings = Field(default_factory=ArchiveSigningSettings)
    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)
    privacy: PrivacyCenterSettings = Field(default_factory=PrivacyCenterSettings)
    manual: ManualSettings = Field(default_factory=ManualSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"{value!r} is not the service's base URL: write http(s)://host[:port][/path], e.g. https://privacy.example.com"
            )
        return value

    def state_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)  # the default state's home, made on first use
        return f"sqlite:///{(self.data_dir / 'dsar.sqlite3').resolve()}"

    def objects_url(self) -> str:
        return self.storage_url or (self.data_dir / "objects").resolve().as_uri()
