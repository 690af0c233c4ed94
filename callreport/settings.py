"""Settings, read once from the environment (prefix CALLREPORT_) and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; defaults run locally on SQLite and a folder."""

    model_config = SettingsConfigDict(env_prefix="CALLREPORT_", extra="ignore")

    data_dir: Path = Field(Path("callreport-data"), description="Folder for the SQLite file and exports.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default an SQLite file in data_dir.")
    storage_url: str | None = Field(None, description="file:///path or s3://bucket/prefix; default data_dir/exports.")
    s3_endpoint_url: str | None = Field(None, description="Endpoint of an S3-compatible store (MinIO, moto...).")
    session_ttl_seconds: int = Field(86400, description="Lifetime of a session (ssid).")
    export_retention_days: float = Field(7.0, description="How long finished export files are kept.")
    job_lease_seconds: int = Field(30, description="A job whose worker is silent this long is taken up again.")
    worker_poll_seconds: float = Field(1.0, description="How often an idle worker looks for jobs.")
    embedded_worker: bool = Field(True, description="Whether `serve` also runs export worker processes.")
    body_limit_bytes: int = Field(1 << 20, description="Largest request body (1 MiB).")
    ingest_body_limit_bytes: int = Field(32 << 20, description="Largest ingest body (32 MiB).")
    max_json_depth: int = Field(32, description="Deepest nesting accepted in a request body.")
    login_max_failures: int = Field(5, description="Failed logins for one username before throttling.")
    login_window_seconds: int = Field(300, description="Window in which failed logins are counted.")
    query_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="Longest a list, count or summary query may run; past it the answer is 1000 asking "
        "for narrower filters.",
    )
    pdf_max_rows: int = Field(
        100_000,
        description="Most rows a PDF export may hold: ReportLab keeps every page in memory until it saves "
        "(about 0.6 KB a row), so this bounds the worker's memory. Larger exports fail with a reason.",
    )
    max_active_exports: int = Field(
        10, ge=1, description="Most export requests one user may have pending or running at once."
    )
    rate_limit_per_minute: int = Field(
        1200, description="Requests a minute per user, and per client address before authentication (0: no limit)."
    )
    redis_url: str | None = Field(None, description="redis://... to share rate-limit counts between processes.")
    redis_key_prefix: str = Field("callreport:rate", description="Prefix of the rate-limit keys in Redis.")
    large_body_queue: int = Field(
        8, description="Large ingest bodies that may wait for the one being read and parsed; more are 1050."
    )
    source_leg_retention_hours: float = Field(
        24.0,
        gt=0,
        description="How long the legs a FreeSWITCH push source sent are kept after their call's last leg "
        "arrived, to merge a late leg into its call (B legs arrive seconds after A legs).",
    )
    metrics: bool = Field(False, description="Whether GET /metrics answers (Prometheus text format).")
    metrics_token: SecretStr | None = Field(
        None, description="When set, GET /metrics needs the header `Authorization: Bearer <token>`."
    )
    log_level: str = Field("INFO", description="Python logging level.")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            elif url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'callreport.db').resolve()}"

    def resolved_storage_url(self) -> str:
        """The storage URL, defaulting to a folder in the data directory."""
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "exports").resolve().as_uri()
