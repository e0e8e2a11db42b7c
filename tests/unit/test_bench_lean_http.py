"""The bench's lean HTTP client on real servers: a GET's query string reaches the ASGI app as given (non-ASCII,
spaces, repeated names), a POST's JSON body as sent, a streamed (chunked) answer is read whole, a connection the
server closes after its answer is reopened, and a request whose connection is dropped unanswered is sent again,
then given up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.cli.bench.http import ATTEMPTS, Retries
from services.cli.bench.lean_http import FAILURES, LeanConnection, LeanPool
from tests.stack import serve


async def echo(request: Request) -> JSONResponse:
    seen = {"params": request.query_params.multi_items(), "authorization": request.headers.get("authorization")}
    return JSONResponse(seen, headers={"X-Position": "7"})


async def test_a_get_sends_its_parameters_as_the_app_reads_them() -> None:
    params = {"q": "Садыр Жапаров & площадь", "type": ["ProtestReported", "StatementIssued"], "limit": 50}
    retries = Retries()
    async with (
        serve(Starlette(routes=[Route("/v1/echo", echo)])) as server,
        LeanPool(server.url, "t0k", retries) as pool,
    ):
        answers = await asyncio.gather(*(pool.get("/v1/echo", params) for _ in range(3)))  # 3 connections
        again = await pool.get("/v1/echo")  # on a kept-alive one

    assert [answer.status for answer in answers] == [200, 200, 200] and again.status == 200
    seen = json.loads(answers[0].body)
    assert seen["params"] == [
        ["q", "Садыр Жапаров & площадь"], ["type", "ProtestReported"], ["type", "StatementIssued"], ["limit", "50"]
    ]  # fmt: skip
    assert seen["authorization"] == "Bearer t0k" and answers[0].header(b"x-position") == "7"
    assert retries.count == 0


async def posted(request: Request) -> JSONResponse:
    seen = {"body": (await request.body()).decode(), "content_type": request.headers.get("content-type")}
    return JSONResponse(seen, status_code=202)


async def streamed(_request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first,", b"second,", b"third"):
            yield part

    return StreamingResponse(parts())  # no Content-Length: sent chunked


async def closing(_request: Request) -> Response:
    return Response(b"bye", headers={"Connection": "close"})


async def test_a_post_a_streamed_answer_and_a_closed_connection() -> None:
    retries = Retries()
    routes = [
        Route("/v1/posted", posted, methods=["POST"]),
        Route("/v1/streamed", streamed),
        Route("/v1/closing", closing),
    ]
    async with serve(Starlette(routes=routes)) as server, LeanPool(server.url, None, retries) as pool:
        answer = await pool.post_json("/v1/posted", {"name": "Садыр", "count": 590})
        chunked = await pool.get("/v1/streamed")
        closed = await pool.get("/v1/closing")
        after = await pool.get("/v1/streamed")  # the same connection, reopened: the server closed it

    assert answer.status == 202
    assert json.loads(answer.body) == {"body": '{"name":"Садыр","count":590}', "content_type": "application/json"}
    assert (chunked.body, closed.body, after.body) == (b"first,second,third", b"bye", b"first,second,third")
    assert retries.count == 0  # a close announced with the answer is no drop


@contextlib.asynccontextmanager
async def dropping(drops: int) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads each request and closes its connection unanswered, `drops` times, then answers 200;
    yields its URL and the request lines it read."""
    lines: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):  # the client closed the connection
            while head := await reader.readuntil(b"\r\n\r\n"):  # a request without a body
                lines.append(head.split(b"\r\n")[0])
                if len(lines) <= drops:
                    break  # as a saturated uvicorn was seen to, on a kept-alive connection
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", lines


async def test_a_get_whose_connection_drops_is_sent_again_and_counted() -> None:
    retries = Retries()
    async with dropping(ATTEMPTS - 1) as (url, lines):
        connection = LeanConnection(url, None, retries)
        answer = await connection.get("/v1/incidents", {"q": "a b", "min_position": 3})
        await connection.close()

    assert (answer.status, answer.body) == (200, b"ok")
    assert lines == [b"GET /v1/incidents?q=a+b&min_position=3 HTTP/1.1"] * ATTEMPTS
    assert retries.count == ATTEMPTS - 1


async def test_a_request_dropped_on_every_attempt_fails() -> None:
    retries = Retries()
    async with dropping(ATTEMPTS) as (url, lines):
        connection = LeanConnection(url, None, retries)
        with pytest.raises(FAILURES):
            await connection.get("/v1/incidents")
        await connection.close()

    assert len(lines) == ATTEMPTS and retries.count == ATTEMPTS - 1
