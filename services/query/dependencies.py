"""What a read route needs, as typed dependencies (`Annotated` aliases, as FastAPI's full-stack template's
`SessionDep`): a pooled connection (or a heavy read's), the position waiter, the live feed, the settings, the read
position.

A read that waits for a position (`min_position`) waits before it takes its pooled connection: every connection
dependency depends on the wait, so a slow projector cannot drain the pool with waiting reads.

The lifespan opens them once and hands them over as one `QueryRuntime`; nothing else reads `app.state`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response

from services.common.database import DictConnection
from services.common.http import Unavailable, error_body
from services.common.settings import Settings
from services.query.database import ReadModels
from services.query.freshness import (
    MIN_POSITION_HEADER,
    BeyondStreamEnd,
    Freshness,
    PositionWaiter,
    read_models_position,
)
from services.query.live import LiveFeed

T = TypeVar("T")


@dataclass(frozen=True)
class QueryRuntime:
    """What the lifespan opened: the pool, the live feed and the position waiter, with the settings."""

    read_models: ReadModels
    live: LiveFeed
    position_waiter: PositionWaiter
    settings: Settings


def install_runtime(app: FastAPI, runtime: QueryRuntime | None) -> None:
    """Hand the runtime to the routes (None: shutting down, every read answers 503)."""
    app.state.runtime = runtime


def runtime_of(app: FastAPI) -> QueryRuntime:
    runtime = getattr(app.state, "runtime", None)
    if not isinstance(runtime, QueryRuntime):
        raise Unavailable("the query service is still starting")
    return runtime


# The dependencies are `async def` though they never await: FastAPI runs a plain `def` in its thread pool, a
# hand-off that cost a timeline read about a fifth of the service's CPU (docs/performance.md).
def on_the_loop(make: Callable[..., T]) -> Callable[..., Any]:
    """A class as a dependency (its fields the parameters, as `Depends()` takes it), made on the event loop: FastAPI
    runs a class, as any plain callable, in its thread pool."""

    async def made(**values: Any) -> T:
        return make(**values)

    made.__signature__ = inspect.signature(make, eval_str=True)  # type: ignore[attr-defined]
    return made


async def _runtime(request: Request) -> QueryRuntime:
    return runtime_of(request.app)


Runtime = Annotated[QueryRuntime, Depends(_runtime)]


MinPosition = Annotated[
    int | None, Query(ge=0, description="Wait (bounded) until the read models reach this stream position.")
]
MinPositionHeader = Annotated[
    int | None, Header(alias=MIN_POSITION_HEADER, ge=0, description="The same as `min_position`, as a header.")
]


async def _wanted_position(
    request: Request, min_position: MinPosition = None, x_min_position: MinPositionHeader = None
) -> int | None:
    """The position the reader wants (None: any), once the read models reach it or the bound has passed."""
    wanted, loc = (
        (min_position, ["query", "min_position"])
        if min_position is not None
        else (x_min_position, ["header", "X-Min-Position"])
    )
    if wanted is not None:
        try:
            await runtime_of(request.app).position_waiter.wait_for(wanted)
        except BeyondStreamEnd as exc:
            detail = {"loc": loc, "msg": str(exc), "type": "beyond_stream_end"}
            raise HTTPException(400, detail=error_body(str(exc), [detail])) from exc
    return wanted


WantedPosition = Annotated[int | None, Depends(_wanted_position)]


async def _connection(runtime: Runtime, _waited: WantedPosition) -> AsyncIterator[DictConnection]:
    """One pooled connection per request, back in the pool when the handler returns."""
    async with runtime.read_models.connection() as conn:
        yield conn


async def _heavy_connection(runtime: Runtime, _waited: WantedPosition) -> AsyncIterator[DictConnection]:
    """The heavy reads' connection: a slot, then a connection, both held until the answer is sent (a streamed
    one too: it keeps the default request scope)."""
    async with runtime.read_models.heavy.slot(), runtime.read_models.connection() as conn:
        yield conn


async def _live(runtime: Runtime) -> LiveFeed:
    return runtime.live


async def _settings(runtime: Runtime) -> Settings:
    return runtime.settings


Connection = Annotated[DictConnection, Depends(_connection, scope="function")]
# Exports, maps and folds: a bounded number at once, each with a connection held while its answer is sent.
HeavyConnection = Annotated[DictConnection, Depends(_heavy_connection)]
Live = Annotated[LiveFeed, Depends(_live)]
QuerySettings = Annotated[Settings, Depends(_settings)]


async def read_position(response: Response, conn: Connection, wanted: WantedPosition) -> Freshness:
    """The read models' position, read before the data on the request's connection; sets X-Position (and X-Stale
    when a wanted position was not reached within the bound)."""
    freshness = Freshness.at(await read_models_position(conn), wanted)
    response.headers.update(freshness.headers)
    return freshness


Position = Annotated[Freshness, Depends(read_position)]
# The read position as a route's first dependency (`@router.get(..., dependencies=POSITIONED)`): its wait for
# min_position, and the 400 of one beyond the stream, before the route's other dependencies run.
POSITIONED = [Depends(read_position)]


@dataclass(frozen=True)
class Reading:
    """What a hot read depends on, as one dependency: the read models, and the position the reader asked for, once
    reached. The read takes its own connection and reads the position with its data in one round trip; a tree of
    dependencies and a statement of its own cost a timeline read a third of its CPU (docs/performance.md)."""

    read_models: ReadModels
    wanted: int | None

    def freshness(self, position: int) -> Freshness:
        return Freshness.at(position, self.wanted)


async def _reading(
    request: Request, min_position: MinPosition = None, x_min_position: MinPositionHeader = None
) -> Reading:
    wanted = await _wanted_position(request, min_position, x_min_position)
    return Reading(runtime_of(request.app).read_models, wanted)


# Instead of Connection and Position: a route that takes Read writes X-Position itself.
Read = Annotated[Reading, Depends(_reading)]
