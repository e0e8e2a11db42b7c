"""The app of each process of `crisis ingest|query --workers N`, as import strings for uvicorn
(`services.cli.worker_apps:ingest`). Here, not in the services: finding the servers of a data dir is the CLI's
work, and a service reads only the settings it is given."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.discovery import resolve
from services.common.logging import configure_logging
from services.common.settings import Settings


def _settings(needs_database: bool) -> Settings:
    """A worker's settings: the environment's (the command put its options there), with the servers found as the
    command found them."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return resolve(settings, needs_database)


def ingest() -> FastAPI:
    from services.ingest.app import create_app

    return create_app(_settings(needs_database=False))


def query() -> FastAPI:
    from services.query.app import create_app

    return create_app(_settings(needs_database=True))
