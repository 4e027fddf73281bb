"""One settings object, read from the environment (and an optional `.env`) when the app is built."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///clearance-gateway.db",
        description="SQLAlchemy URL: sqlite:///... or postgresql+psycopg://...",
    )
    policy_dir: Path = Field(default=Path("policy"), description="folder with model.conf and policy files")
    document_dir: Path = Field(default=Path("var/documents"), description="where encrypted contents live")
    master_key: SecretStr | None = Field(default=None, description="base64 of 32 bytes wrapping document keys")
    master_key_file: Path | None = Field(default=None, description="file holding the master key (base64)")
    jwks_file: Path | None = Field(default=None, description="JWKS of accepted token issuers")
    jwt_issuer: str = "clearance-gateway-dev"
    jwt_audience: str = "clearance-gateway"
    timezone: str = "Asia/Tokyo"
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="decision requests")
    max_import_bytes: int = Field(default=512 * 1024 * 1024, ge=1024, description="registry bundles")
    max_upload_bytes: int = Field(default=8 * 1024**3, ge=1024, description="document uploads")
    max_header_bytes: int = Field(
        default=32 * 1024, ge=4096, le=1024 * 1024, description="request line and headers together"
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="seconds a connection has to send a request's headers, else closed"
    )
    trusted_proxies: str = Field(
        default="",
        description="addresses (comma-separated, or *) whose X-Forwarded-Proto/-For are believed; empty: none",
    )
    dev_mode: bool = Field(
        default=False,
        description="allow start-up without GATEWAY_JWKS_FILE, a master key and a checkpoint key (development keys)",
    )
    db_pool_size: int = Field(default=10, ge=1, description="database connections kept open per process")
    db_max_overflow: int = Field(default=20, ge=0, description="extra connections a process may open under load")
    db_pool_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a free connection, then 503")
    auto_migrate: bool = Field(
        default=True,
        description="at start-up, migrate an empty or older schema to head; false: refuse to start on one",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, gt=0, description="on SIGTERM, how long in-flight requests may take to finish before exit"
    )
    cache_max_age_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="longest time a replica trusts its registry snapshot without checking (a lost notification)",
    )
    log_socket: Path | None = Field(
        default=None,
        description="the Unix socket of the host's decision-log writer process (`serve` starts one and sets this); "
        "unset: each process writes its own decisions from a thread",
    )
    log_max_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        description="refuse new decisions (503, Retry-After) while the oldest one queued for the log has waited "
        "longer than this; 0 never refuses",
    )
    checkpoint_key_file: Path | None = Field(default=None, description="Ed25519 private key (PEM) for checkpoints")
    checkpoint_every: int = Field(default=1000, ge=1, description="sign the decision chain's head every N entries")
    policy_watch_seconds: float = Field(default=0.5, ge=0, description="poll the policy folder; 0 turns it off")
    log_level: str = "INFO"
    public_url: str | None = Field(
        default=None,
        description="the https URL PEPs reach this PDP at, published as its AuthZEN identifier; required "
        "outside development mode (where serve uses its own address)",
    )
    tls_cert_file: Path | None = Field(default=None, description="serve HTTPS with this certificate chain (PEM)")
    tls_key_file: Path | None = Field(default=None, description="the private key of tls_cert_file (PEM)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone: fail at start-up, not on the first decision
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
