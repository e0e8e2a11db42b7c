"""The projector's PostgreSQL connection: dict rows, as the handlers read them, and JSON encoded by orjson.

The handlers wrap payloads in `Jsonb`; the standard library's encoder was a tenth of a catch-up's time.
"""

from __future__ import annotations

import orjson
from psycopg.types.json import set_json_dumps

from services.common.database import DictConnection, connect


async def connect_projector(url: str, *, autocommit: bool = False) -> DictConnection:
    conn = await connect(url, autocommit=autocommit)
    set_json_dumps(orjson.dumps, conn)
    return conn
