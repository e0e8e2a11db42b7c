"""A lean HTTP/1.1 client for the bench's single-event writers: one kept-alive connection per worker, h11 on
asyncio streams, JSON bodies encoded by orjson.

The raw limit it is compared with (`js.publish`) has no client of its own to pay for. httpx cost the bench's
process about 6 ms of CPU per request on this 2-core machine, three times what ingest spent answering it, so the
figure measured the load generator more than the service. A connection dropped unanswered is reopened and the
request sent again, counted like httpx's retries: every posted event carries its id, the deduplication key.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import orjson

from services.cli.bench.http import ATTEMPTS, TIMEOUT_S, Retries

READ_SIZE = 65536


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Dropped(Exception):
    """The server closed the connection without answering the request."""


class LeanConnection:
    def __init__(self, url: str, token: str, retries: Retries) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = [("Host", f"{self.host}:{self.port}"), ("Authorization", f"Bearer {token}"),
                        ("Content-Type", "application/json")]  # fmt: skip
        self.retries = retries
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._protocol = h11.Connection(h11.CLIENT)

    async def post_json(self, path: str, body: Any) -> Answer:
        content = orjson.dumps(body)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await asyncio.wait_for(self._exchange(path, content), TIMEOUT_S)
            except (Dropped, ConnectionError, h11.RemoteProtocolError):
                await self.close()
                if attempt == ATTEMPTS:
                    raise
                self.retries.count += 1
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _exchange(self, path: str, content: bytes) -> Answer:
        if self._streams is None or self._protocol.our_state is not h11.IDLE:
            await self.close()
            self._streams = await asyncio.open_connection(self.host, self.port)
            self._protocol = h11.Connection(h11.CLIENT)
        reader, writer = self._streams
        headers = [*self.headers, ("Content-Length", str(len(content)))]
        writer.write(
            self._protocol.send(h11.Request(method="POST", target=path, headers=headers))
            + (self._protocol.send(h11.Data(data=content)) or b"")
            + (self._protocol.send(h11.EndOfMessage()) or b"")
        )
        status, chunks = 0, []
        while True:
            event = self._protocol.next_event()
            if event is h11.NEED_DATA:
                self._protocol.receive_data(await reader.read(READ_SIZE))  # b"" tells h11 the peer closed
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._protocol.start_next_cycle()
                return Answer(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise Dropped(f"POST {path}: the connection closed before the answer")

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(ConnectionError):  # one the server dropped already
                await writer.wait_closed()
