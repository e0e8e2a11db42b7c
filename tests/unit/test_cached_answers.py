"""The answer cache's middleware and store on a fake app: the key, single flight, generations, bytes by LRU."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from services.query.answer_cache import HEADERS_BYTES, Answer, AnswerCache
from services.query.cached_answers import CacheableRead, CachedAnswers
from tests.waiting import wait_until


def scope(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/v1/incidents", "query_string": query, "headers": headers or []}


def test_the_key_is_the_path_and_query_without_min_position() -> None:
    plain = CacheableRead.of(scope(b"limit=5"))
    waiting = CacheableRead.of(scope(b"min_position=7&limit=5"))
    encoded = CacheableRead.of(scope(b"limit=5&min%5Fposition=9"))
    in_header = CacheableRead.of(scope(b"limit=5", [(b"x-min-position", b"8")]))
    assert plain is not None and waiting is not None and encoded is not None and in_header is not None
    assert plain.key == waiting.key == encoded.key == in_header.key == b"/v1/incidents?limit=5"
    assert (plain.wanted, waiting.wanted, encoded.wanted, in_header.wanted) == (0, 7, 9, 8)
    assert CacheableRead.of(scope(b"limit=6")).key != plain.key  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "query, headers",
    [
        (b"min_position=-1", []),
        (b"min_position=x", []),
        (b"min_position=", []),
        (b"min_position=1&min_position=2", []),
        (b"", [(b"x-min-position", b"soon")]),
        (b"min_position=3", [(b"x-min-position", b"soon")]),
    ],
)
def test_a_min_position_the_app_refuses_goes_to_the_app(query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    assert CacheableRead.of(scope(query, headers)) is None


class FakeApp:
    """Answers every request with `status` and a body naming the call; each answer waits for `release`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls = 0
        self.called = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.called.set()
        call = self.calls
        await self.release.wait()
        body = json.dumps({"call": call}).encode()
        headers = [(b"content-type", b"application/json"), (b"x-position", b"5")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def misses() -> float:
    """Cacheable reads that found no answer: each has joined the computation of its key once counted."""
    return REGISTRY.get_sample_value("crisis_query_cache_misses_total") or 0.0


def listening_cache(max_bytes: int = 1 << 20) -> AnswerCache:
    cache = AnswerCache(max_bytes)
    cache.on_listening(True)
    return cache


def client(app: FakeApp, cache: AnswerCache) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=CachedAnswers(app, cache, authorised=None))
    return httpx.AsyncClient(transport=transport, base_url="http://query")


async def concurrent_misses(http: httpx.AsyncClient, app: FakeApp, count: int) -> list[httpx.Response]:
    """`count` reads of one key that all miss while the app holds its first answer back, then their answers."""
    before = await misses()
    reads = [asyncio.create_task(http.get("/v1/incidents")) for _ in range(count)]
    await wait_until(misses, lambda seen: seen == before + count, what="every read to miss")
    app.release.set()
    return await asyncio.gather(*reads)


async def test_concurrent_misses_of_one_key_share_one_computation() -> None:
    app, cache = FakeApp(), listening_cache()
    app.release.clear()
    async with client(app, cache) as http:
        answers = await concurrent_misses(http, app, 20)
    assert app.calls == 1
    assert {(a.status_code, a.json()["call"]) for a in answers} == {(200, 1)}


async def test_waiters_of_an_answer_that_is_not_kept_ask_the_app() -> None:
    app, cache = FakeApp(status=404), listening_cache()
    app.release.clear()
    async with client(app, cache) as http:
        answers = await concurrent_misses(http, app, 5)
    assert app.calls == 5
    assert {a.status_code for a in answers} == {404}


async def test_an_answer_computed_across_a_notification_is_not_kept() -> None:
    app, cache = FakeApp(), listening_cache()
    async with client(app, cache) as http:
        app.release.clear()
        first = asyncio.create_task(http.get("/v1/incidents"))
        await app.called.wait()
        cache.on_notify("12")  # a commit while the app reads
        app.release.set()
        assert (await first).json() == {"call": 1}
        assert (await http.get("/v1/incidents")).json() == {"call": 2}
        assert (await http.get("/v1/incidents")).json() == {"call": 2}


async def test_nothing_is_kept_or_served_while_not_listening() -> None:
    app, cache = FakeApp(), listening_cache()
    async with client(app, cache) as http:
        assert (await http.get("/v1/incidents")).json() == {"call": 1}
        assert (await http.get("/v1/incidents")).json() == {"call": 1}
        cache.on_listening(False)
        assert (await http.get("/v1/incidents")).json() == {"call": 2}
        assert (await http.get("/v1/incidents")).json() == {"call": 3}


def answer(size: int, position: int = 1) -> Answer:
    return Answer([(b"content-type", b"application/json")], b"x" * size, position)


def test_the_least_recently_used_answers_go_first_past_the_bytes() -> None:
    cache = listening_cache(max_bytes=3 * (100 + HEADERS_BYTES))
    for key in (b"a", b"b", b"c"):
        cache.put(key, answer(100), cache.generation)
    assert cache.get(b"a") is not None  # a is now the most recently used
    cache.put(b"d", answer(100), cache.generation)
    assert [key for key in (b"a", b"b", b"c", b"d") if cache.get(key) is not None] == [b"a", b"c", b"d"]
    cache.put(b"e", answer(2 * 100 + HEADERS_BYTES), cache.generation)  # two slots
    assert [key for key in (b"a", b"c", b"d", b"e") if cache.get(key) is not None] == [b"d", b"e"]


def test_an_answer_over_the_cap_or_under_an_old_generation_is_not_kept() -> None:
    cache = listening_cache(max_bytes=1000)
    cache.put(b"big", answer(1000), cache.generation)
    old = cache.generation
    cache.on_notify("")
    cache.put(b"old", answer(10), old)
    assert cache.get(b"big") is None and cache.get(b"old") is None


def test_an_entry_behind_a_position_already_answered_is_not_served() -> None:
    """A commit this process has already read past is announced a moment later: until then, not served."""
    cache = listening_cache()
    cache.put(b"a", answer(10, position=4), cache.generation)
    cache.put(b"b", answer(10, position=6), cache.generation)
    assert cache.get(b"a") is None and cache.get(b"b") is not None
