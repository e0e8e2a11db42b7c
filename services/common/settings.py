"""One Settings object per process, read from `CRISIS_*` environment variables and validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.subjects import STREAM_NAME, SUBJECT_PREFIX


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "crisis"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRISIS_", extra="ignore")

    nats_url: str | None = Field(default=None, description="External NATS; unset: the embedded server.")
    database_url: str | None = Field(default=None, description="External PostgreSQL; unset: embedded.")
    data_dir: Path = Field(default_factory=default_data_dir)
    api_tokens: SecretStr | None = Field(
        default=None, description="Comma-separated name:token or name:token:scope+scope entries."
    )

    event_id_secret: SecretStr | None = Field(
        default=None, description="Ingest's key for event ids derived from an Idempotency-Key (32+ characters)."
    )
    stream_name: str = Field(
        default=STREAM_NAME,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The event stream's name. Another name (with its own subject prefix) puts a second event "
        "stream beside the first on the same NATS server, as `crisis bench --stream` does.",
    )
    subject_prefix: str = Field(
        default=SUBJECT_PREFIX,
        pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$",
        description="Subjects of the event stream: <prefix>.<incident_id>.<EventType>. NATS refuses two streams "
        "whose subjects overlap: a second stream needs a prefix of its own.",
    )
    stream_partitions: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Partitions of the event stream by incident, fixed when the stream is created (a stream found "
        "with another number is refused): each partition is fed by a projector of its own (`crisis projector "
        "--partition K`). 1 keeps the contract's subjects; more append the partition to each stored subject.",
    )
    stream_duplicate_window_s: float = Field(default=120.0, gt=0)
    stream_replicas: int = Field(default=1, ge=1, le=5)
    stream_protected: bool = Field(
        default=True,
        description="The event stream refuses purges and message deletes (deny_purge, deny_delete); once set, "
        "NATS never lifts them: removing events is `crisis purge`.",
    )
    publish_timeout_s: float = Field(default=5.0, gt=0)
    max_batch: int = Field(default=500, ge=1, le=10_000)

    database_timeout_s: float = Field(default=5.0, gt=0, description="Longest wait for a connection: then 503.")
    query_heavy_reads: int = Field(
        default=2, ge=1, le=64, description="Exports, maps and folds (casualties, summary) run at once; more wait."
    )

    host: str = "127.0.0.1"
    ingest_port: int = Field(default=8001, ge=0, le=65535)
    query_port: int = Field(default=8002, ge=0, le=65535)
    projector_port: int = Field(default=8003, ge=0, le=65535)
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Ingest processes serving the one port (uvicorn workers); each gets an equal share of "
        "write_rate_limit.",
    )
    query_workers: int = Field(default=1, ge=1, le=64, description="Query processes serving the one port.")

    projector_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Messages fetched, applied and committed together. 1,000 rather than 500: about a tenth more "
        "events/s catching up 20,000-100,000 events, 13 MB more memory (docs/performance.md, the projector's batch).",
    )
    projector_retry_delay_s: float = Field(default=2.0, gt=0)
    projector_partition: int = Field(
        default=0, ge=0, description="The partition of the stream this projector feeds (0..stream_partitions-1)."
    )

    server_restarts: int = Field(
        default=3, ge=0, description="How often `crisis up` restarts an embedded server that died, then gives up."
    )

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Security and limits (issue 5).
    api_tokens_file: Path | None = Field(
        default=None, description="JSON or TOML file of token names, sha256 hashes and scopes (merged with api_tokens)."
    )
    query_public: bool = Field(default=True, description="The query API answers without a token; else events:read.")
    query_cache_mb: int = Field(
        default=64,
        ge=0,
        le=65536,
        description="Memory for whole read answers kept until the read models change (per query worker); 0: no cache.",
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Largest request body ingest reads.")
    clock_skew_s: float = Field(default=300.0, ge=0, description="How far in the future a timestamp may lie.")
    body_timeout_s: float = Field(default=10.0, gt=0, description="Grace before a slow request body is cut (408).")
    body_min_rate: int = Field(default=1024, ge=1, description="Bytes/s a request body must average past the grace.")
    write_rate_limit: str = Field(
        default="600/minute;50/second", description="Requests per token to ingest, in the `limits` notation."
    )
    nats_user: str | None = Field(default=None, description="NATS user (with nats_password).")
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = Field(default=None, description="NATS authorization token.")
    nats_nkey_seed_file: Path | None = Field(default=None, description="File holding this service's NKey seed.")
    nats_creds_file: Path | None = Field(default=None, description="A .creds file (JWT + NKey seed).")
    nats_tls_ca_file: Path | None = Field(default=None, description="CA to verify the NATS server (enables TLS).")
    nats_tls_cert_file: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    nats_tls_key_file: Path | None = Field(default=None, description="The client certificate's key.")
    # Read-your-writes: how long a read with `min_position` waits for the read models before answering stale.
    min_position_wait_s: float = Field(default=5.0, ge=0, le=60)
    # A waiting read wakes when the projector announces its progress (LISTEN/NOTIFY); it also re-reads the position
    # this often, in case an announcement was lost. While the announcements are not heard, it polls every 20 ms.
    min_position_poll_s: float = Field(default=1.0, gt=0, le=60)
    # The live feed (GET /v1/incidents/{id}/live): seconds between heartbeat comments on an idle stream.
    live_heartbeat_s: float = Field(default=15.0, gt=0)
    # Webhook deliveries (run by the projector process, apart from the projections).
    webhook_poll_s: float = Field(default=0.5, gt=0, description="How often due deliveries are looked for.")
    webhook_timeout_s: float = Field(default=5.0, gt=0, description="How long one POST may take.")
    webhook_retry_base_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each time.")
    webhook_retry_max_s: float = Field(default=600.0, gt=0, description="Longest retry delay.")
    webhook_max_attempts: int = Field(default=12, ge=1, description="Then the delivery is given up (failed).")
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhooks to loopback, private and link-local addresses (SSRF if exposed)."
    )
