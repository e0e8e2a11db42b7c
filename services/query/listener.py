"""The query process's one LISTEN connection: every channel the projector NOTIFYs, each to its own handler.

PostgreSQL delivers a notification at the COMMIT of the transaction that sent it, and only to the connections
listening then: while this one is down, notifications are lost. So each handler is told when listening stops and
when it starts again (and must then assume it missed some). The connection comes back with a doubling delay.
A channel may have several handlers (the answer cache handles every channel), each told in the order given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

APPLICATION_NAME = "crisis-query-listener"  # how operators (and tests) find the connection in pg_stat_activity
FIRST_RETRY_S = 0.1
LAST_RETRY_S = 2.0


class ChannelHandler(Protocol):
    def on_notify(self, payload: str) -> None: ...

    def on_listening(self, up: bool) -> None: ...


class Listener:
    def __init__(self, database_url: str, handlers: Mapping[str, Sequence[ChannelHandler]]) -> None:
        self._database_url = database_url
        self._handlers = {channel: list(told) for channel, told in handlers.items()}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="query-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._tell_listening(False)

    async def _listen(self) -> None:
        retry_s = FIRST_RETRY_S
        while True:
            try:
                # TCP keepalives: a connection a network drop or a firewall cut silently would wait for notifications
                # forever (and the answer cache would serve what the read models no longer hold); found in ~15 s.
                async with await psycopg.AsyncConnection.connect(
                    self._database_url,
                    autocommit=True,
                    application_name=APPLICATION_NAME,
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=5,
                ) as conn:
                    listen = [sql.SQL("LISTEN {}").format(sql.Identifier(channel)) for channel in self._handlers]
                    await conn.execute(sql.SQL("; ").join(listen))  # one statement: LISTEN is in effect for all
                    retry_s = FIRST_RETRY_S
                    self._tell_listening(True)
                    async for notification in conn.notifies():
                        for handler in self._handlers[notification.channel]:
                            handler.on_notify(notification.payload)
            except psycopg.Error as exc:
                log.warning("not listening to the projector; retrying", error=str(exc), retry_s=retry_s)
            self._tell_listening(False)
            await asyncio.sleep(retry_s)
            retry_s = min(2 * retry_s, LAST_RETRY_S)

    def _tell_listening(self, up: bool) -> None:
        every = {id(handler): handler for told in self._handlers.values() for handler in told}
        for handler in every.values():
            handler.on_listening(up)
