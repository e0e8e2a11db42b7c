"""One Settings object per process, read from `CRISIS_*` environment variables and validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "crisis"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRISIS_", extra="ignore")

    nats_url: str | None = Field(default=None, description="External NATS; unset: the embedded server.")
    database_url: str | None = Field(default=None, description="External PostgreSQL; unset: embedded.")
    data_dir: Path = Field(default_factory=default_data_dir)
    api_tokens: SecretStr | None = Field(default=None, description="Comma-separated name:token pairs.")

    stream_duplicate_window_s: float = Field(default=120.0, gt=0)
    stream_replicas: int = Field(default=1, ge=1, le=5)
    publish_timeout_s: float = Field(default=5.0, gt=0)
    max_batch: int = Field(default=500, ge=1, le=10_000)

    database_timeout_s: float = Field(default=5.0, gt=0, description="Longest wait for a connection: then 503.")

    host: str = "127.0.0.1"
    ingest_port: int = Field(default=8001, ge=0, le=65535)
    query_port: int = Field(default=8002, ge=0, le=65535)
    projector_port: int = Field(default=8003, ge=0, le=65535)

    projector_batch_size: int = Field(default=500, ge=1, le=10_000)
    projector_retry_delay_s: float = Field(default=2.0, gt=0)

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
