"""The services' HTTP protocol: a request that is not valid HTTP refused with a documented JSON error, and an
answer's writes of one turn of the event loop sent at once, over a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import SecretStr

from services.common.http_protocol import JSON_REFUSALS, _CorkedTransport
from services.common.openapi import ERROR_REF
from services.common.ports import free_port
from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.query.app import create_app as create_query

START_TIMEOUT_S = 15.0
MALFORMED_REQUEST = b'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: "bO\r\n\r\n'
second_chunk_allowed = threading.Event()  # set by the test once the streamed answer's first chunk has arrived


@pytest.fixture
def server() -> Iterator[int]:
    """A one-route app behind uvicorn with the services' protocol, on a free loopback port, in a thread."""
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"pong": True}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            await asyncio.to_thread(second_chunk_allowed.wait, START_TIMEOUT_S)  # the test's thread sets it
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), http=JSON_REFUSALS, log_config=None)
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not served.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)  # waiting for another thread's flag: a bounded poll
    yield config.port
    served.should_exit = True
    thread.join(timeout=10)


def exchange(port: int, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Sends `request`, reads the answer until the server closes (or one whole answer): status line, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= int(lengths[0].split(b":")[1]):
                break
    status, *lines = head.split(b"\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    return status, headers, body


def test_a_malformed_request_is_refused_with_a_json_error_and_the_connection_closed(server: int) -> None:
    status, headers, body = exchange(server, MALFORMED_REQUEST)

    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"connection"] == b"close"
    assert json.loads(body) == {"error": "malformed HTTP request: Invalid HTTP request received."}


def test_a_well_formed_request_on_the_same_server_is_answered_by_the_app(server: int) -> None:
    status, _, body = exchange(server, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body) == {"pong": True}


def test_every_operation_of_both_services_documents_that_400(tmp_path: Path) -> None:
    settings = Settings(
        api_tokens=SecretStr("docs:" + "x" * 20), database_url="postgresql://unused.invalid/crisis", data_dir=tmp_path
    )
    for app in (create_ingest(settings), create_query(settings)):
        for path, operations in app.openapi()["paths"].items():
            for method, operation in operations.items():
                answer = operation["responses"]["400"]
                assert answer["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path)


def test_a_streamed_answer_leaves_chunk_by_chunk_not_held_until_its_end(server: int) -> None:
    second_chunk_allowed.clear()
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"first;" not in received:  # only the first chunk can come before the flag is set
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection before the first chunk"
            received += chunk
        assert b"second" not in received
        second_chunk_allowed.set()
        while b"second" not in received:
            received += sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")


class _RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        self.sent.append(b"<closed>")

    def is_closing(self) -> bool:
        return self.closing


async def test_the_writes_of_one_turn_of_the_event_loop_are_sent_as_one() -> None:
    transport = _RecordingTransport()
    corked = _CorkedTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]

    corked.write(b"head;")
    corked.write(b"body")
    assert transport.sent == []
    await asyncio.sleep(0)  # the turn ends
    assert transport.sent == [b"head;body"]

    corked.write(b"last")
    corked.close()  # what is held goes before the close
    assert transport.sent == [b"head;body", b"last", b"<closed>"]
    assert corked.is_closing() is False  # the rest is the transport's


async def test_writes_held_when_the_client_goes_are_dropped_not_sent_to_a_closed_transport() -> None:
    transport = _RecordingTransport()
    corked = _CorkedTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]

    corked.write(b"head;")
    transport.closing = True  # the connection is lost within the turn
    await asyncio.sleep(0)
    assert transport.sent == []
