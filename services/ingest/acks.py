"""JetStream publishes sent all at once, their acks awaited together: one round trip for a whole request.
Or sent as one atomic batch (`publish_batch`), which JetStream stores whole or not at all, answering once.

What nats-py's `publish_async` does, less its bug: in nats-py 2.16 an error answer (a wrong expected sequence, no
such stream) never reaches the caller, because `APIError.from_error` raises inside the reply handler and leaves
the future pending (nats-io/nats.py#985), so a refused position would look like a lost ack. Here each message gets
a reply subject of its own under one wildcard subscription, and the answer, ack or error, resolves its future.
An awaited `js.publish` per message (a timer and a request each) was a third of batch ingest's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Iterable
from typing import NamedTuple

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header, PubAck

from schemas.headers import BATCH_COMMIT, BATCH_ID, BATCH_SEQUENCE

NO_RESPONDERS = "503"  # the status of the answer when no stream listens on the subject
# Messages sent before the loop yields to nats-py's flusher: without a yield, a batch of 500 reached the server
# only once all of it was encoded.
SEND_AHEAD = 50


class Message(NamedTuple):
    subject: str
    payload: bytes
    headers: dict[str, str]


class Acks:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._prefix = f"{client.new_inbox()}."
        self._numbers = itertools.count()
        self._waiting: dict[str, asyncio.Future[PubAck]] = {}  # by reply subject
        self._subscribing = asyncio.Lock()
        # The loop the answers' subscription runs on, once subscribed. Kept: `asyncio.get_running_loop()`, twice a
        # publish, made a getpid system call each time on Python 3.11 (6 a single-event request in all, 3.6% of
        # ingest's CPU).
        self._loop: asyncio.AbstractEventLoop | None = None

    async def publish(self, messages: Iterable[Message], timeout_s: float) -> list[PubAck | BaseException]:
        """Send every message, in order, then wait up to `timeout_s` for their answers: for each, its ack, the
        error JetStream answered, or `nats.errors.TimeoutError`. Raises what keeps a message from being sent.

        `messages` is taken lazily, SEND_AHEAD at a time, and each run is written to the socket before the next is
        taken: the server stores the first messages while the caller still encodes the rest."""
        loop = await self._subscribe()
        replies: list[str] = []
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for count, message in enumerate(messages, start=1):
                reply, future = f"{self._prefix}{next(self._numbers)}", loop.create_future()
                replies.append(reply)
                futures.append(future)
                self._waiting[reply] = future
                await self._client.publish(message.subject, message.payload, reply=reply, headers=message.headers)
                if count % SEND_AHEAD == 0:
                    await asyncio.sleep(0)  # nats-py's flusher task writes what is pending
            await _answered(loop, futures, timeout_s)
        finally:
            for reply in replies:
                self._waiting.pop(reply, None)  # an answer that comes later finds nobody waiting
        return [future.exception() or future.result() for future in futures]

    async def publish_batch(self, messages: Iterable[Message], count: int, timeout_s: float) -> PubAck | BaseException:
        """Send the `count` messages as one JetStream atomic batch (ADR-50, nats-server >= 2.12, a stream with
        `allow_atomic`): the stream stores them all, one after another, or none. Only the last, which commits the
        batch, is answered: its ack (the sequence of the last message, `batch_size`), JetStream's error, or
        `nats.errors.TimeoutError`. Raises what keeps a message from being sent. `messages` is taken lazily, as in
        `publish`.

        One answer and one write to disk for the whole batch: with an fsync per stored message, JetStream stores
        a batch of 500 several times faster than 500 messages acknowledged one by one."""
        batch_id = uuid.uuid4().hex
        for number, message in enumerate(messages, start=1):
            headers = message.headers | {BATCH_ID: batch_id, BATCH_SEQUENCE: str(number)}
            if number == count:  # the commit: the one message answered
                [answer] = await self.publish([message._replace(headers=headers | {BATCH_COMMIT: "1"})], timeout_s)
                return answer
            await self._client.publish(message.subject, message.payload, headers=headers)
            if number % SEND_AHEAD == 0:
                await asyncio.sleep(0)  # nats-py's flusher task writes what is pending
        raise ValueError(f"an atomic batch of {count} messages got fewer")

    async def _subscribe(self) -> asyncio.AbstractEventLoop:
        """Subscribes to the answers, once; returns the loop the subscription runs on."""
        loop = self._loop
        if loop is None:  # asked before the lock: taking it for every request was 0.4% of single-event ingest
            async with self._subscribing:  # concurrent first requests subscribe once
                if self._loop is None:
                    await self._client.subscribe(f"{self._prefix}*", cb=self._answer)
                    self._loop = asyncio.get_running_loop()
                loop = self._loop
        return loop

    async def _answer(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject, None)
        if future is None or future.done():  # done: timed out, its publish not yet told
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS:
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            answer = orjson.loads(msg.data)
            if "error" in answer:
                nats.js.errors.APIError.from_error(answer["error"])  # raises the error's own class
            future.set_result(PubAck.from_response(answer))
        except Exception as exc:  # JetStream's error, or an answer that cannot be read: the publish's outcome
            future.set_exception(exc)


async def _answered(loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[PubAck]], timeout_s: float) -> None:
    """Until every future is done: those still waiting after `timeout_s` time out (`nats.errors.TimeoutError`).

    One timer and an await per future: `asyncio.wait`'s waiter and callbacks cost a single event about 12 us."""
    timer = loop.call_later(timeout_s, _time_out, futures)
    try:
        for future in futures:
            with contextlib.suppress(Exception):  # JetStream's error: the publish's outcome, read by the caller
                await future
    finally:
        timer.cancel()


def _time_out(futures: list[asyncio.Future[PubAck]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(nats.errors.TimeoutError())
