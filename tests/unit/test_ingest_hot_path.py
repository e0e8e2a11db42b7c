"""What each write request costs ingest, beyond its work: no class built again, no hop to a worker thread.

Both were found by profiling ingest under 64 concurrent writers (issue 11): pydantic caches `Event[X]` only weakly,
so about one request in three built its envelope class again after a garbage collection dropped it; and the token
check, a plain `def` dependency, went through FastAPI's thread pool on every request.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID, uuid4

import fastapi.dependencies.utils as fastapi_dependencies
import fastapi.routing
import nats.errors
import orjson
import pydantic._internal._generics as pydantic_generics
import pytest
import structlog
from fastapi import HTTPException
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck
from prometheus_client.metrics import MetricWrapperBase
from starlette.datastructures import Headers
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import ClientDisconnect, Request

from schemas.catalogue import parse_event, parse_submission
from schemas.envelope import event_class, submission_class
from schemas.headers import BODY_SHA256
from services.cli.bench.workload import Mix, submissions
from services.common.eventstream import DEFAULT_STREAM
from services.common.frozen_heap import SERVING_YOUNG_THRESHOLD
from services.common.logging import CORRELATION_HEADER, configure_logging
from services.common.settings import Settings
from services.ingest.acks import SEND_AHEAD, Acks, Message
from services.ingest.bodies import decode_json, read_body
from services.ingest.eventlog import Published
from services.ingest.publisher import _count as publisher_count
from services.ingest.publisher import message
from services.ingest.recording import Recorded
from services.ingest.recording import record as record_event
from tests.factories import make_event
from tests.unit.test_ingest_http import AUTH, fast_settings, running_ingest


def count_class_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every generic model class pydantic builds (an envelope class per event type)."""
    built: list[str] = []
    build = pydantic_generics.create_generic_submodel

    def counting_build(name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return build(name, *args, **kwargs)

    monkeypatch.setattr(pydantic_generics, "create_generic_submodel", counting_build)
    return built


async def test_posting_events_builds_no_envelope_class_after_the_first_of_each_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = submissions(Mix.demo, 150, incidents=4)
    async with running_ingest(fast_settings(tmp_path, write_rate_limit="1000000/second")) as ingest:
        for event in events[:100]:  # every type of the demo mix, once at least
            assert (await ingest.http.post("/v1/events", json=event, headers=AUTH)).status_code == 202
        built = count_class_builds(monkeypatch)
        for event in events[100:]:
            assert (await ingest.http.post("/v1/events", json=event, headers=AUTH)).status_code == 202
            gc.collect()  # what drops a weakly cached class; under load it happens on its own
    assert {e["type"] for e in events[100:]} <= {e["type"] for e in events[:100]}
    assert built == []


async def test_ingest_builds_every_envelope_class_at_start_not_on_a_first_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission_class.cache_clear()
    event_class.cache_clear()
    gc.collect()  # pydantic's own cache is weak: nothing else holds the classes now
    events = submissions(Mix.demo, 100, incidents=4)
    async with running_ingest(fast_settings(tmp_path, write_rate_limit="1000000/second")) as ingest:
        built = count_class_builds(monkeypatch)
        response = await ingest.http.post("/v1/events/batch", json={"events": events}, headers=AUTH)
    assert response.status_code == 202, response.text
    assert len({e["type"] for e in events}) > 10
    assert built == []


async def test_a_write_runs_on_the_event_loop_without_the_thread_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a write request went through the thread pool")

    async with running_ingest(fast_settings(tmp_path)) as ingest:
        # Where FastAPI hands a plain `def` dependency (or endpoint) to a worker thread.
        monkeypatch.setattr("fastapi.dependencies.utils.run_in_threadpool", no_thread)
        response = await ingest.http.post("/v1/events", json=submissions(Mix.demo, 1, incidents=2)[0], headers=AUTH)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(("path", "expected"), [("/v1/events", []), ("/v1/events/batch", ["post_batch", "HTTPBearer"])])
async def test_a_write_solves_only_the_bearer_credentials_as_a_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, expected: list[str]
) -> None:
    """The token check and the rate limit are called by the route: each level of FastAPI's dependency solving was
    about 5% of single-event ingest's CPU. The credentials stay a dependency, so OpenAPI shows the bearer scheme.
    A single event solves none: it is answered past FastAPI's request handling (direct_route.py)."""
    solved: list[str] = []
    solve = fastapi_dependencies.solve_dependencies

    async def counting_solve(*args: Any, dependant: Any, **kwargs: Any) -> Any:
        solved.append(getattr(dependant.call, "__name__", type(dependant.call).__name__))
        return await solve(*args, dependant=dependant, **kwargs)

    event = submissions(Mix.demo, 1, incidents=2)[0]
    body = {"events": [event]} if path.endswith("batch") else event
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        monkeypatch.setattr(fastapi_dependencies, "solve_dependencies", counting_solve)  # its own recursion
        monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting_solve)  # a route's first call
        response = await ingest.http.post(path, json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert solved == expected


@pytest.mark.parametrize(("path", "stacked"), [("/v1/events", 0), ("/v1/events/batch", 1)])
async def test_a_single_event_passes_no_middleware_but_the_correlation_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, stacked: int
) -> None:
    """Starlette's and FastAPI's middleware stack (its error and exception middleware, FastAPI's telemetry and body
    limit) was 20 of 204 us of a single event's CPU, measured in process: it goes from the app's entry to its handler
    (direct_route.py). Another route still takes the whole stack."""
    entered: list[str] = []
    stack = ServerErrorMiddleware.__call__

    async def counted(self: ServerErrorMiddleware, *args: Any) -> None:
        entered.append(path)
        await stack(self, *args)

    event = submissions(Mix.demo, 1, incidents=2)[0]
    body = {"events": [event]} if path.endswith("batch") else event
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        monkeypatch.setattr(ServerErrorMiddleware, "__call__", counted)
        response = await ingest.http.post(path, json=body, headers=AUTH | {CORRELATION_HEADER: "one"})
    assert response.status_code == 202, response.text
    assert response.headers[CORRELATION_HEADER] == "one"
    assert len(entered) == stacked


async def test_a_write_starts_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor does ingest's start. The `limits` library's in-memory storage, which counted the rate limit, started a
    timer thread to expire its entries (at most every 10 ms under load; the event loop waits for a thread to start)."""

    def no_thread(thread: threading.Thread) -> None:
        raise AssertionError(f"a write request started the thread {thread.name}")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    async with running_ingest(fast_settings(tmp_path, write_rate_limit="600/minute;50/second")) as ingest:
        events = submissions(Mix.demo, 3, incidents=2)
        answers = [await ingest.http.post("/v1/events", json=event, headers=AUTH) for event in events]
    assert [a.status_code for a in answers] == [202] * 3, answers[0].text


def test_a_body_is_decoded_without_building_a_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoder(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a JSON decoder was built for one body")

    monkeypatch.setattr(json.JSONDecoder, "__init__", no_decoder)
    assert decode_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1}',
        b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 BOM
        '{"a": "\u00e9"}'.encode("utf-16"),
        '{"a": "\u00e9"}'.encode("utf-32-le"),
        b'{"a": "\xff"}',  # not UTF-8
        b'{"a": "\\ud800"}',  # a lone surrogate, escaped
        b'{"a": 1',
        b"",
        b"[1] 2",
    ],
)
def test_a_body_decodes_as_json_loads_decodes_it(raw: bytes) -> None:
    """`decode_json` does what `json.loads` did with its hooks: the same values, the same errors."""
    try:
        expected: Any = json.loads(raw)
    except ValueError as exc:
        expected = str(exc)
    try:
        decoded: Any = decode_json(raw)
    except HTTPException as refused:
        decoded = cast(dict[str, Any], refused.detail)["details"][0]["msg"]
    assert decoded == expected


@pytest.mark.parametrize("stamps", [{}, {"correlation_id": "req-1", "recorded_by": "app"}])
def test_a_message_is_the_whole_event_and_hashes_its_body_as_before(stamps: dict[str, str]) -> None:
    """The body is encoded once for the hash and the message; spliced, it must still be the whole event, and its
    hash the one stored with earlier events (else a retry of an event stored before would be refused as taken)."""
    event = make_event("kg-2020", "CasualtiesReported").model_copy(update=stamps)
    sent = message(event, None, DEFAULT_STREAM)
    assert orjson.loads(sent.payload) == event.model_dump(mode="json")
    assert parse_event(sent.payload) == event
    stamped = {"event_id", "recorded_at", "recorded_by", "correlation_id"}
    as_before = hashlib.sha256(event.model_dump_json(exclude=stamped).encode()).hexdigest()
    assert sent.headers[BODY_SHA256] == as_before


async def test_what_ingest_loaded_at_start_is_out_of_the_collectors_sight_while_it_runs(tmp_path: Path) -> None:
    thresholds = gc.get_threshold()
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        frozen = gc.get_freeze_count()
        running = gc.get_threshold()
        response = await ingest.http.post("/v1/events", json=submissions(Mix.demo, 1, incidents=2)[0], headers=AUTH)
    assert response.status_code == 202, response.text
    assert frozen > 10_000  # the app, its models and every imported module
    assert running == (SERVING_YOUNG_THRESHOLD, *thresholds[1:])  # young collections spaced out
    assert gc.get_freeze_count() == 0  # and collectable again once it stops
    assert gc.get_threshold() == thresholds


class RecordingClient:
    """What Acks needs of a nats-py client, recording what is published; no answer ever comes."""

    def __init__(self) -> None:
        self.published: list[str] = []

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Any) -> object:
        return object()

    async def publish(self, subject: str, payload: bytes, reply: str, headers: dict[str, str]) -> None:
        self.published.append(subject)


async def test_a_batch_is_sent_in_runs_that_the_flusher_writes_while_the_rest_is_encoded() -> None:
    """nats-py writes to the socket in a task of its own: unless the sending loop yields, the server gets nothing
    until every message of the batch is encoded."""
    client = RecordingClient()
    flushes: list[int] = []  # how many messages were published each time another task got the loop

    async def flusher() -> None:
        while True:
            flushes.append(len(client.published))
            await asyncio.sleep(0)

    def encoded(count: int) -> Iterator[Message]:
        for index in range(count):
            yield Message(f"crisis.events.x.{index}", b"{}", {})

    task = asyncio.create_task(flusher())
    await asyncio.sleep(0)
    outcomes = await Acks(cast(Client, client)).publish(encoded(3 * SEND_AHEAD), timeout_s=0.01)
    task.cancel()
    assert len(outcomes) == 3 * SEND_AHEAD
    assert all(isinstance(outcome, nats.errors.TimeoutError) for outcome in outcomes)
    assert {SEND_AHEAD, 2 * SEND_AHEAD} <= set(flushes)


class AnsweringClient(RecordingClient):
    """Answers every message but the ones to `silent` subjects, as JetStream would, once the sender yields."""

    def __init__(self, silent: set[str]) -> None:
        super().__init__()
        self.acks: Acks | None = None
        self.silent = silent
        self.replies: dict[str, str] = {}  # by subject

    async def publish(self, subject: str, payload: bytes, reply: str, headers: dict[str, str]) -> None:
        await super().publish(subject, payload, reply, headers)
        self.replies[subject] = reply
        if subject not in self.silent:
            asyncio.get_running_loop().call_soon(self.answer, subject)

    def answer(self, subject: str) -> None:
        assert self.acks is not None
        ack = SimpleNamespace(subject=self.replies[subject], headers=None, data=b'{"stream": "S", "seq": 7}')
        asyncio.get_running_loop().create_task(self.acks._answer(cast(Msg, ack)))


async def test_acks_are_awaited_with_one_timer_and_a_late_one_finds_nobody_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not with `asyncio.wait`, whose waiter and callbacks cost a single event about 12 us (acks.py)."""

    async def no_wait(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("acks awaited with asyncio.wait")

    monkeypatch.setattr(asyncio, "wait", no_wait)
    client = AnsweringClient(silent={"lost"})
    acks = client.acks = Acks(cast(Client, client))
    messages = [Message(subject, b"{}", {}) for subject in ("first", "lost", "last")]

    first, lost, last = await acks.publish(messages, timeout_s=0.2)
    client.answer("lost")  # too late: its publish has timed out
    await asyncio.sleep(0.01)

    assert (first, last) == (PubAck(stream="S", seq=7), PubAck(stream="S", seq=7))
    assert isinstance(lost, nats.errors.TimeoutError)


def test_a_log_line_below_the_level_runs_no_processor() -> None:
    """Each write logs "events accepted" at info; at WARNING it must cost no timestamp, context or rendering."""
    before = structlog.get_config()
    root, faststream = logging.getLogger(), logging.getLogger("faststream")
    handlers, levels = root.handlers[:], (root.level, faststream.level)
    configure_logging("WARNING", "json")
    seen: list[str] = []

    def watching(logger: Any, method: str, event: Any) -> Any:
        seen.append(method)
        return event

    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[processors[0], watching, *processors[1:]])
    try:
        log = structlog.get_logger("test")
        log.info("events accepted", count=1)
        log.warning("dependency unavailable")
    finally:  # the process's logging as it was, for the tests after this one
        structlog.configure(**before)
        root.handlers[:] = handlers
        root.setLevel(levels[0])
        faststream.setLevel(levels[1])
    assert seen == ["warning"]


@pytest.mark.parametrize("enabled", [False, True])
async def test_a_write_logs_events_accepted_only_when_info_is_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """Under the level, the line is not even built: structlog's call and the dropping cost 2% of a single event."""

    class WatchedLog:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def is_enabled_for(self, level: int) -> bool:
            return enabled and level >= logging.INFO

        def info(self, event: str, **fields: Any) -> None:
            self.lines.append(event)

    watched = WatchedLog()
    monkeypatch.setattr("services.ingest.routes.log", watched)
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        response = await ingest.http.post("/v1/events", json=submissions(Mix.demo, 1, incidents=2)[0], headers=AUTH)
    assert response.status_code == 202, response.text
    assert watched.lines == (["events accepted"] if enabled else [])


async def test_a_batch_is_handed_to_the_log_unrecorded_and_each_event_is_recorded_once_as_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording 500 events took a tenth of a batch's CPU before its first send: now the publisher records each as
    it sends it, so the first events are stored meanwhile. What refuses a request is still checked before."""
    recorded: list[UUID] = []

    def counted(submission: Any, **stamps: Any) -> Any:
        event = record_event(submission, **stamps)
        recorded.append(event.event_id)
        return event

    monkeypatch.setattr("services.ingest.routes.record", counted)
    at_publish: list[int] = []
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        store = ingest.log.publish

        async def publish(events: Sequence[Any], expected_position: int | None = None) -> Any:
            at_publish.append(len(recorded))
            return await store(events, expected_position)

        monkeypatch.setattr(ingest.log, "publish", publish)
        batch = submissions(Mix.demo, 20, incidents=2, concurrent=True)
        accepted = await ingest.http.post("/v1/events/batch", json={"events": batch}, headers=AUTH)
        refused = await ingest.http.post(
            "/v1/events/batch", json={"events": batch}, headers=AUTH | {"Idempotency-Key": ""}
        )

    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 422 and at_publish == [0]  # the bad header refused it before anything was sent
    assert recorded == [UUID(event["event_id"]) for event in batch]  # once each, in order
    assert [stored.event.event_id for stored in ingest.log.stored] == recorded


def test_recorded_events_are_made_on_first_read_told_their_position_and_kept() -> None:
    made: list[int] = []
    raw = submissions(Mix.demo, 3, incidents=1)
    valid = [parse_submission(event) for event in raw]

    def recorder(position: int, submission: Any) -> Any:
        made.append(position)
        return record_event(
            submission, event_id=uuid4(), recorded_at=datetime.now(UTC), recorded_by="demo", correlation_id=None
        )

    events = Recorded(valid, recorder)
    assert made == [] and len(events) == 3
    last = events[-1]
    assert made == [2] and events[2] is last
    assert events[1:] == [events[1], last] and made == [2, 1]
    assert [*events] == [events[0], events[1], last] and made == [2, 1, 0]
    with pytest.raises(IndexError):
        events[3]


async def test_a_write_looks_up_the_headers_it_does_not_carry_without_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starlette's `headers.get` raises and catches a KeyError for a missing header: Idempotency-Key and If-Match,
    absent from most writes, cost 2% of a single event each that way."""
    missed: list[str] = []
    get_item = Headers.__getitem__

    def watched(headers: Headers, key: str) -> str:
        try:
            return get_item(headers, key)
        except KeyError:
            missed.append(key.lower())
            raise

    monkeypatch.setattr(Headers, "__getitem__", watched)
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        event = submissions(Mix.demo, 1, incidents=2)[0]
        response = await ingest.http.post("/v1/events", json=event, headers=AUTH)
    assert response.status_code == 202, response.text
    assert not {"idempotency-key", "if-match", "content-length", CORRELATION_HEADER.lower()} & set(missed)


def test_the_access_log_has_no_handler_to_reach_when_its_level_drops_it() -> None:
    """uvicorn formats each request's access line (client address, path) whenever `uvicorn.access` has a handler,
    before its level is asked; at WARNING it must have none, at INFO the line reaches ours."""
    root, faststream, access = logging.getLogger(), logging.getLogger("faststream"), logging.getLogger("uvicorn.access")
    handlers, levels, propagates = root.handlers[:], (root.level, faststream.level), access.propagate
    try:
        configure_logging("WARNING", "json")
        quiet = access.hasHandlers()
        configure_logging("INFO", "json")
        heard = access.hasHandlers()
    finally:  # the process's logging as it was, for the tests after this one
        root.handlers[:] = handlers
        root.setLevel(levels[0])
        faststream.setLevel(levels[1])
        access.propagate = propagates
    assert (quiet, heard) == (False, True)


class Receiving:
    """An ASGI request whose body comes as the given messages, counting the moves of `read_body`'s grace (its
    timeout's `reschedule`, which also sets it on entering)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *messages: dict[str, Any]) -> None:
        self.messages = list(messages)
        self.moves = 0
        move = asyncio.Timeout.reschedule

        def counted(timeout: asyncio.Timeout, when: float | None) -> None:
            self.moves += 1
            move(timeout, when)

        monkeypatch.setattr(asyncio.Timeout, "reschedule", counted)
        self.request = Request({"type": "http", "method": "POST", "headers": []}, self.receive)

    async def receive(self) -> dict[str, Any]:
        return self.messages.pop(0)


def body_message(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_one_message_is_read_without_moving_its_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under uvloop a move of the timeout costs about 4 us, and a single event's body comes in one message."""
    receiving = Receiving(monkeypatch, body_message(b'{"a": 1}'))
    assert await read_body(receiving.request, Settings()) == b'{"a": 1}'
    assert receiving.moves == 1  # the one that sets it, entering the timeout


async def test_a_body_in_several_messages_moves_its_grace_while_more_is_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = [body_message(b"[1,", more=True), {"type": "other"}, body_message(b"", more=True), body_message(b"2]")]
    receiving = Receiving(monkeypatch, *messages)
    assert await read_body(receiving.request, Settings()) == b"[1,2]"
    assert receiving.moves == 1 + 2  # set, then moved on after each message that said more was to come


async def test_a_body_read_ends_as_the_stream_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client gone mid-body is ClientDisconnect (logged at info, counted 499); a body past the maximum is 413."""
    with pytest.raises(ClientDisconnect):
        await read_body(
            Receiving(monkeypatch, body_message(b"[1,", more=True), {"type": "http.disconnect"}).request, Settings()
        )
    small = Settings().model_copy(update={"max_body_bytes": 4})
    with pytest.raises(HTTPException) as refused:
        await read_body(Receiving(monkeypatch, body_message(b"[1,", more=True), body_message(b"2,3]")).request, small)
    assert refused.value.status_code == 413


class Unlockable:
    async def __aenter__(self) -> None:
        raise AssertionError("the subscription's lock is taken again")

    async def __aexit__(self, *exc: object) -> None: ...


async def test_acks_take_the_subscription_lock_only_until_subscribed() -> None:
    client = AnsweringClient(silent=set())
    acks = client.acks = Acks(cast(Client, client))
    await acks.publish([Message("first", b"{}", {})], timeout_s=1)
    acks._subscribing = cast(asyncio.Lock, Unlockable())
    [ack] = await acks.publish([Message("second", b"{}", {})], timeout_s=1)
    assert ack == PubAck(stream="S", seq=7)


async def test_a_write_looks_up_each_metric_child_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prometheus_client checks the label values and takes a lock on every `labels()`: about 0.8 us each, two a
    single event (the answer's status, the event's type)."""
    looked_up: list[tuple[str, ...]] = []
    labels = MetricWrapperBase.labels

    def counted(metric: MetricWrapperBase, *values: str) -> Any:
        looked_up.append(values)
        return labels(metric, *values)

    monkeypatch.setattr(MetricWrapperBase, "labels", counted)
    async with running_ingest(fast_settings(tmp_path)) as ingest:
        for event in submissions(Mix.demo, 3, incidents=2):
            response = await ingest.http.post("/v1/events", json=event, headers=AUTH)
            assert response.status_code == 202, response.text
    stored = make_event("inc-metrics")
    published = Published(event_id=stored.event_id, seq=1, duplicate=False, subject="crisis.events.x")
    for _ in range(3):
        publisher_count([stored], [published])
    assert looked_up.count(("ingest", "202")) <= 1
    assert looked_up.count((stored.type,)) <= 1
