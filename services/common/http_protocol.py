"""uvicorn's HTTP/1.1 protocol, refusing a malformed request as every other error here is answered (`ErrorBody`
JSON), and sending what an answer writes in one turn of the event loop at once.

A request that is not valid HTTP (a Content-Length that is not a number, say) never reaches the app: uvicorn's parser
answers it 400 itself, in plain text, which no operation documented, and a client (or schemathesis) reading the
documented JSON error got text. This answers the same 400 as `ErrorBody`, documented on every operation (openapi.py),
and closes the connection as uvicorn does.

uvicorn writes an answer's head and its body apart: two send() calls, and two TCP segments for the client to read,
for every small answer (a tenth of single-event ingest's busy samples were in those two writes). The transport
here holds the writes of one turn of the event loop and sends them together at its end; a streamed body still
leaves chunk by chunk, each at the end of the turn that wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from services.common.http import error_body

# For uvicorn's `http` option, as an import string: worker processes are spawned, and import it themselves.
JSON_REFUSALS = "services.common.http_protocol:JsonRefusals"


class JsonRefusals(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CorkedTransport(transport, self.loop))  # type: ignore[arg-type]

    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps(error_body(f"malformed HTTP request: {msg}"))
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join([*head, body]))
        self.transport.close()


class _CorkedTransport:
    """`transport`, its writes within one turn of `loop` sent as one; everything else is the transport's.

    The loop is the protocol's: `asyncio.get_running_loop()` makes a getpid system call on Python 3.11."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        data = b"".join(self._held)
        self._held.clear()
        if data and not self._transport.is_closing():  # a client gone meanwhile: nothing to send it
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
