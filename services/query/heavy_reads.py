"""Reads whose cost grows with the incident (the CSV export, the map, the folds behind casualties and summary),
bounded so that one big incident cannot stall the service: a liveness probe must keep answering.

- At most `query_heavy_reads` of them run at once; the next waits for a slot as long as a request waits for a
  connection, then gets 503 with Retry-After.
- Rows come from a server-side cursor, CHUNK_ROWS at a time (an export: EXPORT_CHUNK_ROWS): the process holds a
  chunk and the next one being fetched, and the event loop serves other requests between chunks.
- A fold reads at most MAX_FOLD_ROWS rows (more: 413, naming the limit); folding and encoding the answer run in
  a worker thread, off the event loop. The answer is encoded a list item at a time: one call that encodes it
  whole would hold the GIL, and so the event loop, for as long as it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from fastapi import Response
from psycopg import sql
from psycopg.rows import AsyncRowFactory, class_row
from pydantic import BaseModel

from services.common.database import DictConnection
from services.common.http import Unavailable

R = TypeVar("R")

CHUNK_ROWS = 50
# An export's rows a fetch: one round trip (a wait for PostgreSQL and this process to be scheduled in turn, on a busy
# machine) per 1,000 rows, not per 100 (a 100k-row CSV export: 15k -> 33k rows/s); the exports encode them a few
# hundred at a time between turns of the event loop (services/query/exports.py, ENCODED_ROWS).
EXPORT_CHUNK_ROWS = 1000
MAX_FOLD_ROWS = 5_000


class TooManyRows(Exception):
    """A fold would read more rows than MAX_FOLD_ROWS."""


class HeavyReadSlots:
    """A bounded number of heavy reads at once; a request waits for a slot at most `timeout_s`."""

    def __init__(self, slots: int, timeout_s: float) -> None:
        self.slots, self.timeout_s = slots, timeout_s
        self._free = asyncio.Semaphore(slots)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._free.acquire()
        except TimeoutError:
            raise Unavailable(
                f"{self.slots} heavy reads (exports, maps, casualties, summaries) are running; none ended within "
                f"{self.timeout_s}s"
            ) from None
        try:
            yield
        finally:
            self._free.release()


async def chunks(
    conn: DictConnection,
    query: sql.Composed,
    make_row: AsyncRowFactory[R],
    params: dict[str, Any],
    *,
    size: int = CHUNK_ROWS,
    random_page_cost: float | None = None,
) -> AsyncGenerator[list[R]]:
    """The rows of `query`, each made by `make_row`, `size` at a time, from a server-side cursor (in a transaction of
    its own). The next chunk is fetched while the caller works on this one: PostgreSQL reads while this process
    encodes. `random_page_cost`, if given, is the planner's for this read only. The cursor is closed however the
    reading ends: a client gone mid-download cancels it in the middle of a fetch, and in a request anyio has
    cancelled every unshielded await is cancelled again."""
    cursor = conn.cursor(name=f"heavy_{uuid.uuid4().hex}", row_factory=make_row)
    try:
        async with conn.transaction():
            # Every row will be read: plan for the whole answer, not (PostgreSQL's default for a cursor) for its
            # first 10%, which picks index scans that read the heap at random.
            await conn.execute("SET LOCAL cursor_tuple_fraction = 1")
            if random_page_cost is not None:
                await conn.execute(sql.SQL("SET LOCAL random_page_cost = {}").format(random_page_cost))
            await cursor.execute(query, params)
            rows = await cursor.fetchmany(size)
            upcoming: asyncio.Task[list[R]] | None = None
            try:
                while rows:
                    upcoming = asyncio.create_task(cursor.fetchmany(size))
                    await asyncio.sleep(0)  # the fetch is sent before the caller works on this chunk
                    yield rows
                    rows = await upcoming
            finally:
                if upcoming is not None and not upcoming.done():  # the caller stopped reading: let it land
                    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                        await upcoming
    finally:
        with anyio.CancelScope(shield=True):
            await cursor.close()


async def fold_rows(conn: DictConnection, query: sql.Composed, row: type[R], params: dict[str, Any]) -> list[R]:
    """Every row of `query`, for a fold; TooManyRows past MAX_FOLD_ROWS."""
    rows: list[R] = []
    async for chunk in chunks(conn, query, class_row(row), params):
        rows += chunk
        if len(rows) > MAX_FOLD_ROWS:
            raise TooManyRows(
                f"this answer folds more than {MAX_FOLD_ROWS} rows, the most one request may read; "
                "export.csv streams every event of the incident"
            )
    return rows


async def json_off_loop(answer: Callable[[], BaseModel], headers: Mapping[str, str]) -> Response:
    """Build the answer (the fold) and encode it in a worker thread: the event loop keeps serving meanwhile.
    `headers` go on the answer (its X-Position): FastAPI adds the ones dependencies set only to a model returned,
    never to a Response."""
    body = await asyncio.to_thread(lambda: "".join(json_pieces(answer())))
    return Response(body, media_type="application/json", headers=dict(headers))


def json_pieces(model: BaseModel) -> Iterator[str]:
    """`model.model_dump_json()`, in pieces: each list of models is encoded an item at a time."""
    separator = "{"
    for name in type(model).model_fields:
        value = getattr(model, name)
        yield separator
        separator = ","
        if isinstance(value, BaseModel):
            yield json.dumps(name) + ":"
            yield from json_pieces(value)
        elif isinstance(value, list) and value and all(isinstance(item, BaseModel) for item in value):
            yield json.dumps(name) + ":"
            yield from _list_pieces(value)
        else:
            yield model.model_dump_json(include={name})[1:-1]  # '"name":value', as pydantic writes it
    yield "}" if separator == "," else "{}"


def _list_pieces(items: list[BaseModel]) -> Iterator[str]:
    separator = "["
    for item in items:
        yield separator
        separator = ","
        yield from json_pieces(item)
    yield "]"
