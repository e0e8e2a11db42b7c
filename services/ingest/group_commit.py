"""Single events of concurrent requests, published together: one JetStream atomic batch, one write to disk.

With fsync before every ack, JetStream stores and fsyncs one message after another, and on a small machine that chain
is what single-event ingest waits on: it slows further as ingest's own CPU keeps the cores busy (docs/performance.md,
"Single ingest beside nats-server on two cores"). So while one group is on its way, the single events that arrive
are held, and sent as the next group the moment it is answered: at most one group in flight, no timer, and a lone
request goes at once, alone, as before.

A group is published as a batch request's events are (publisher.py): as an atomic batch, which JetStream stores
whole or not at all, and when it refuses it as a batch (an event id it holds already, say), message by message,
each with its own outcome. Each request then gets its own event's result. A group that fails as a whole (NATS
unavailable) fails each of its requests the same way, and those held meanwhile too; one that fails otherwise is
sent again event by event, so that no request is refused for another's event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from schemas.envelope import Event
from services.common.http import Unavailable
from services.ingest.eventlog import Published

Publish = Callable[[Sequence[Event[Any]]], Awaitable[list[Published]]]
Waiting = tuple[Event[Any], asyncio.Future[Published]]  # an event, and its request's wait for where it landed


class GroupCommit:
    def __init__(self, publish: Publish, most: int) -> None:
        """`publish` stores events in order, results in the same order; `most`: the largest group."""
        self._publish = publish
        self._most = most
        self._held: list[Waiting] = []
        self._sending: asyncio.Task[None] | None = None

    async def publish(self, event: Event[Any]) -> Published:
        future: asyncio.Future[Published] = asyncio.get_running_loop().create_future()
        self._held.append((event, future))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_held(), name="ingest-group-commit")
        return await future

    async def _send_held(self) -> None:
        group: list[Waiting] = []
        try:
            while self._held:
                group, self._held = self._held[: self._most], self._held[self._most :]
                await self._send(group)
        finally:
            self._sending = None
            # Pending only when this was cancelled (ingest stopping): no request may wait for ever.
            stranded, self._held = [*group, *self._held], []
            for _, future in stranded:
                _settle(future, Unavailable("ingest is stopping"))

    async def _send(self, group: list[Waiting]) -> None:
        try:
            results = await self._publish([event for event, _ in group])
        except Unavailable as exc:
            # Those held meanwhile get the same answer rather than a try of their own after this group's: they have
            # waited out its attempts already, and would wait out as many again while NATS does not answer.
            refused, self._held = [*group, *self._held], []
            for _, future in refused:
                _settle(future, exc)
            return
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            await asyncio.gather(*(self._send([one]) for one in group))
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():  # done: its request was cancelled (the client went away)
                future.set_result(result)


def _settle(future: asyncio.Future[Published], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
