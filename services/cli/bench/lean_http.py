"""A lean HTTP/1.1 client for the bench's loads: one kept-alive connection per request in flight, h11 on asyncio
streams, JSON bodies encoded by orjson.

The raw limit a write is compared with (`js.publish`) has no client of its own to pay for, and a read's (the same
HTTP stack answering a constant body) is measured by the same client as the read. httpx cost the bench's process
about 6 ms of CPU per request on this 2-core machine, three times what ingest spent answering it, so a figure
measured the load generator more than the service. A connection dropped unanswered is reopened and the request
sent again, counted like httpx's retries: a GET is idempotent, and every posted event carries its id, the
deduplication key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import h11
import orjson

from services.cli.bench.http import ATTEMPTS, TIMEOUT_S, Retries

READ_SIZE = 65536


@dataclass(frozen=True)
class Answer:
    request: str  # method and URL, for a message
    status: int
    body: bytes
    headers: Sequence[tuple[bytes, bytes]]  # as h11 gives them: names lower-cased

    def header(self, name: bytes) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        raise KeyError(f"{self.request}: no {name.decode()} header in the answer")


class Dropped(Exception):
    """The server closed the connection without answering the request."""


# What a request can fail with once its retries are spent (and TimeoutError: no answer within TIMEOUT_S).
FAILURES = (Dropped, ConnectionError, h11.RemoteProtocolError)


class LeanConnection:
    def __init__(self, url: str, token: str | None, retries: Retries, headers: Sequence[tuple[str, str]] = ()) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = [("Host", f"{self.host}:{self.port}"), *headers]
        if token is not None:
            self.headers.append(("Authorization", f"Bearer {token}"))
        self.retries = retries
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._protocol = h11.Connection(h11.CLIENT)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        """GET `path` (ASCII, as sent), with `params` as its query string; a list value repeats its name."""
        return await self._send("GET", f"{path}?{urlencode(params, doseq=True)}" if params else path, None)

    async def post_json(self, path: str, body: Any) -> Answer:
        return await self._send("POST", path, orjson.dumps(body))

    async def _send(self, method: str, target: str, content: bytes | None) -> Answer:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await asyncio.wait_for(self._exchange(method, target, content), TIMEOUT_S)
            except FAILURES:
                await self.close()
                if attempt == ATTEMPTS:
                    raise
                self.retries.count += 1
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _exchange(self, method: str, target: str, content: bytes | None) -> Answer:
        if self._streams is None or self._protocol.our_state is not h11.IDLE:
            await self.close()
            self._streams = await asyncio.open_connection(self.host, self.port)
            self._protocol = h11.Connection(h11.CLIENT)
        reader, writer = self._streams
        headers = self.headers
        if content is not None:
            headers = [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
        body = [] if content is None else [h11.Data(data=content)]
        sent = (h11.Request(method=method, target=target, headers=headers), *body, h11.EndOfMessage())
        writer.write(b"".join(self._protocol.send(event) or b"" for event in sent))
        response, chunks = None, []
        while True:
            event = self._protocol.next_event()
            if event is h11.NEED_DATA:
                self._protocol.receive_data(await reader.read(READ_SIZE))  # b"" tells h11 the peer closed
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None  # h11 ends no message it has not begun
                self._protocol.start_next_cycle()
                request = f"{method} http://{self.host}:{self.port}{target}"
                return Answer(request, response.status_code, b"".join(chunks), response.headers)
            elif isinstance(event, h11.ConnectionClosed):
                raise Dropped(f"{method} {target}: the connection closed before the answer")

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(ConnectionError):  # one the server dropped already
                await writer.wait_closed()


class LeanPool:
    """Kept-alive connections to one server, each lent to one request at a time; a new one is made when every
    one is out, so a closed loop of N workers makes N of them."""

    def __init__(self, url: str, token: str | None, retries: Retries, headers: Sequence[tuple[str, str]] = ()) -> None:
        """`headers`: sent with every request (besides Host and the token)."""
        self.url, self.token, self.retries, self.headers = url, token, retries, headers
        self._idle: list[LeanConnection] = []

    @contextlib.asynccontextmanager
    async def _lent(self) -> AsyncIterator[LeanConnection]:
        connection = (
            self._idle.pop() if self._idle else LeanConnection(self.url, self.token, self.retries, self.headers)
        )
        try:
            yield connection
        finally:
            self._idle.append(connection)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        async with self._lent() as connection:
            return await connection.get(path, params)

    async def post_json(self, path: str, body: Any) -> Answer:
        async with self._lent() as connection:
            return await connection.post_json(path, body)

    async def close(self) -> None:
        for connection in self._idle:
            await connection.close()

    async def __aenter__(self) -> LeanPool:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
