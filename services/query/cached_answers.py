"""Pure ASGI middleware serving the JSON read routes' answers from the answer cache (answer_cache.py).

Installed inside CorrelatedRequests: a hit gets its correlation id and is counted like any answer. Only GETs of
/v1 that answer one JSON document are looked up (the map, the exports and the live feed stream theirs); only a
200 with X-Position and without X-Stale is stored. The key is the path and the query string without
`min_position`: no read route reads a request header into its answer but `X-Min-Position` (`Last-Event-ID` is the
live feed's), and a wanted position only decides whether an answer may be served: a hit needs X-Position at or
past it, else the app answers (it waits, as without the cache). A `min_position` the app would refuse (422) goes
to the app.

When reads need a token, a hit is served only after the same check the routes make; a refused request goes to
the app for its 401 or 403. `Cache-Control: no-cache` goes to the app and stores its answer. Every answer that
could be stored carries a strong ETag; `If-None-Match` with it gets 304 with the same X-Position and ETag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.query.answer_cache import HITS, MISSES, Answer, AnswerCache

STREAMED = ("/live", "/map", "/export.csv", "/export.ndjson")  # answers sent in pieces, never one document
MIN_POSITION = b"min_position"


def cacheable_path(path: str) -> bool:
    """A read whose answer is one JSON document (the OpenAPI document says so too: services/query/openapi.py)."""
    return path.startswith("/v1/") and not path.endswith(STREAMED)


Authorised = Callable[[Request], Awaitable[bool]]


@dataclass(frozen=True)
class CacheableRead:
    key: bytes
    wanted: int  # the position the reader asked for (0: any)
    no_cache: bool
    if_none_match: bytes | None

    @classmethod
    def of(cls, scope: Scope) -> CacheableRead | None:
        """The read's key and conditions; None when a `min_position` is one the app answers 422 to."""
        query, wanted_in_query = _without_min_position(scope["query_string"])
        wanted_in_header = no_cache = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"x-min-position" and wanted_in_header is None:
                wanted_in_header = value
            elif name == b"cache-control":
                no_cache = b"no-cache" in value.lower()
            elif name == b"if-none-match":
                if_none_match = value
        if not all(value is None or value.isdigit() for value in (wanted_in_query, wanted_in_header)):
            return None
        wanted = wanted_in_query if wanted_in_query is not None else wanted_in_header
        key = scope["path"].encode() + b"?" + query
        return cls(key, int(wanted) if wanted is not None else 0, bool(no_cache), if_none_match)


def _without_min_position(query: bytes) -> tuple[bytes, bytes | None]:
    """The query string without min_position, and its value (b"" when it is given more than once: refused)."""
    if MIN_POSITION not in query and b"%" not in query:
        return query, None
    kept, found = [], []
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == MIN_POSITION:
            found.append(unquote_to_bytes(value.replace(b"+", b" ")))
        else:
            kept.append(part)
    return b"&".join(kept), (found[0] if len(found) == 1 else b"") if found else None


def _matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """RFC 9110's weak comparison, as If-None-Match wants."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")]
    return b"*" in tags or etag in tags


async def _serve(answer: Answer, read: CacheableRead, send: Send) -> None:
    if _matches(read.if_none_match, answer.etag):
        headers = [(b"etag", answer.etag), (b"x-position", str(answer.position).encode())]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    # A copy: the middlewares outside add their headers to the list they are sent.
    await send({"type": "http.response.start", "status": 200, "headers": [*answer.headers]})
    await send({"type": "http.response.body", "body": answer.body})


def _answer(start: Message, body: Message) -> Answer | None:
    """The response as an Answer when it is one whole JSON document with its position and not stale."""
    if body["type"] != "http.response.body" or body.get("more_body", False):
        return None
    position, is_json = None, False
    for name, value in start["headers"]:
        if name == b"content-type":
            is_json = value.startswith(b"application/json")
        elif name == b"x-position":
            position = int(value)
        elif name == b"x-stale":
            return None
    if not is_json or position is None:
        return None
    return Answer(list(start["headers"]), body.get("body", b""), position)


class CachedAnswers:
    def __init__(self, app: ASGIApp, cache: AnswerCache, authorised: Authorised | None) -> None:
        self.app = app
        self.cache = cache
        self.authorised = authorised  # None: reads are public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not cacheable_path(scope["path"])
            or (read := CacheableRead.of(scope)) is None
        ):
            await self.app(scope, receive, send)
            return
        generation = self.cache.generation  # before the app reads: a commit from now on makes its answer stale
        if read.no_cache:
            await self._compute(read, generation, scope, receive, send)
            return
        if self.authorised is not None and not await self.authorised(Request(scope)):
            await self.app(scope, receive, send)  # its 401 or 403
            return
        hit = self.cache.get(read.key)
        if hit is not None and hit.position >= read.wanted:
            HITS.inc()
            # A hit does no I/O: a caller in this process (an ASGI client) reading in a loop would never let the
            # event loop run, the Listener included, and would never see the read models change.
            await asyncio.sleep(0)
            await _serve(hit, read, send)
            return
        MISSES.inc()
        if not self.cache.listening:
            await self._compute(read, generation, scope, receive, send)
            return
        flight, leader = self.cache.flight(read.key, generation)
        if not leader:
            # The leader's computation overlapped this request: its answer is one this request could have had.
            shared = await asyncio.shield(flight)
            if shared is not None and shared.position >= read.wanted:
                await _serve(shared, read, send)
            else:
                await self.app(scope, receive, send)
            return
        answer = None
        try:
            answer = await self._compute(read, generation, scope, receive, send)
        finally:
            self.cache.land(read.key, generation, answer)

    async def _compute(
        self, read: CacheableRead, generation: int, scope: Scope, receive: Receive, send: Send
    ) -> Answer | None:
        """The app's answer, stored and served when it is one; else sent as the app sends it (and None)."""
        held: Message | None = None
        answer: Answer | None = None

        async def capture(message: Message) -> None:
            nonlocal held, answer
            if held is None and message["type"] == "http.response.start" and message["status"] == 200:
                held = message  # until its body shows whether it is an answer to keep
                return
            if held is not None:
                start, held = held, None
                answer = _answer(start, message)
                if answer is not None:
                    return
                await send(start)
            await send(message)

        await self.app(scope, receive, capture)
        if answer is not None:
            self.cache.put(read.key, answer, generation)
            await _serve(answer, read, send)
        return answer
