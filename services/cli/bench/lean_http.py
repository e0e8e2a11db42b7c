"""A lean HTTP/1.1 client for the bench's loads: one kept-alive connection per request in flight, an asyncio
protocol with httptools (uvicorn's C parser) reading the answers, each request's head written from bytes made once
per connection, JSON bodies encoded by orjson.

The raw limit a write is compared with (`js.publish`) has no client of its own to pay for, and a read's (the same
HTTP stack answering a constant body) is measured by the same client as the read. The load generator shares the
machine's cores with what it measures, so what it spends is taken from the project's figure: httpx cost about 6 ms
of CPU per request on a 2-core machine, three times what ingest spent answering it, and h11 (pure Python) about
0.2 ms, a third of it. A connection dropped unanswered is reopened and the request sent again, counted like
httpx's retries: a GET is idempotent, and every posted event carries its id, the deduplication key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import httptools
import orjson

from services.cli.bench.http import ATTEMPTS, TIMEOUT_S, Retries


@dataclass(frozen=True)
class Answer:
    request: str  # method and URL, for a message
    status: int
    body: bytes
    headers: Sequence[tuple[bytes, bytes]]  # names lower-cased

    def header(self, name: bytes) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        raise KeyError(f"{self.request}: no {name.decode()} header in the answer")


JSON_BODY_HEADERS = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class Dropped(Exception):
    """The server closed the connection without answering the request."""


# What a request can fail with once its retries are spent (and TimeoutError: no answer within TIMEOUT_S).
FAILURES = (Dropped, ConnectionError, httptools.HttpParserError)


class _Exchanges(asyncio.Protocol):
    """One connection: each request written whole, its answer parsed as it arrives and handed to its waiter."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes, list[tuple[bytes, bytes]]]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self.reusable = False  # open, idle, and the server did not say it will close

    async def exchange(self, request: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        assert self._transport is not None and self._waiter is None  # one request at a time, on an open connection
        self.reusable = False
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport, self.reusable = cast(asyncio.Transport, transport), True  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(Dropped("the connection closed before the answer"))

    # httptools' side
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        answer = (self._parser.get_status_code(), b"".join(self._chunks), self._headers)
        self._headers, self._chunks = [], []
        self.reusable = self._parser.should_keep_alive()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class LeanConnection:
    def __init__(self, url: str, token: str | None, retries: Retries, headers: Sequence[tuple[str, str]] = ()) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        sent = [("Host", f"{self.host}:{self.port}"), *headers]
        if token is not None:
            sent.append(("Authorization", f"Bearer {token}"))
        self._head_lines = "".join(f"{name}: {value}\r\n" for name, value in sent).encode()
        self.retries = retries
        self._exchanges: _Exchanges | None = None

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        """GET `path` (ASCII, as sent), with `params` as its query string; a list value repeats its name."""
        return await self._send("GET", f"{path}?{urlencode(params, doseq=True)}" if params else path, None)

    async def post_json(self, path: str, body: Any) -> Answer:
        return await self._send("POST", path, orjson.dumps(body))

    async def _send(self, method: str, target: str, content: bytes | None) -> Answer:
        head = f"{method} {target} HTTP/1.1\r\n".encode() + self._head_lines
        request = head + b"\r\n" if content is None else head + JSON_BODY_HEADERS % len(content) + content
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    status, body, headers = await self._exchange(request)
                return Answer(f"{method} http://{self.host}:{self.port}{target}", status, body, headers)
            except FAILURES:
                await self.close()
                if attempt == ATTEMPTS:
                    raise
                self.retries.count += 1
            except BaseException:  # a timeout or a cancellation: the connection is left mid-exchange
                await self.close()
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _exchange(self, request: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if self._exchanges is None or not self._exchanges.reusable:
            await self.close()
            _, self._exchanges = await asyncio.get_running_loop().create_connection(_Exchanges, self.host, self.port)
        return await self._exchanges.exchange(request)

    async def close(self) -> None:
        if self._exchanges is not None:
            self._exchanges.close()
            self._exchanges = None


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
