"""How operator commands find the servers: `CRISIS_*` URLs when set, else those of a running `crisis up`.

`crisis up` writes `<data-dir>/servers.json` while it runs and removes it when it stops. Its URLs carry the
operator's credentials for the embedded servers, so it is readable by its owner only (0600).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from services.common.credentials import write_private
from services.common.settings import Settings

SERVERS_FILE = "servers.json"
TOKEN_FILE = "api-token"


class Servers(BaseModel):
    nats_url: str
    database_url: str
    ingest_url: str
    query_url: str
    projector_url: str
    pid: int


class NoServers(RuntimeError):
    pass


def write_servers(data_dir: Path, servers: Servers) -> None:
    write_private(data_dir / SERVERS_FILE, servers.model_dump_json(indent=2))


def remove_servers(data_dir: Path) -> None:
    (data_dir / SERVERS_FILE).unlink(missing_ok=True)


def read_servers(data_dir: Path) -> Servers | None:
    path = data_dir / SERVERS_FILE
    if not path.exists():
        return None
    return Servers.model_validate(json.loads(path.read_text()))


def resolve(settings: Settings, needs_database: bool = True) -> Settings:
    """Settings with both server URLs filled in (only NATS's for a command that never reads the database, such as
    ingest), or NoServers saying what to do."""
    if settings.nats_url and (settings.database_url or not needs_database):
        return settings
    running = read_servers(settings.data_dir)
    if running is None:
        raise NoServers(
            f"no servers configured: set CRISIS_NATS_URL and CRISIS_DATABASE_URL, or start `crisis up` "
            f"(looked for {settings.data_dir / SERVERS_FILE})"
        )
    return settings.model_copy(
        update={
            "nats_url": settings.nats_url or running.nats_url,
            "database_url": settings.database_url or running.database_url,
        }
    )
