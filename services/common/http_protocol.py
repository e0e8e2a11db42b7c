"""uvicorn's HTTP/1.1 protocol, refusing a malformed request as every other error here is answered: `ErrorBody` JSON.

A request that is not valid HTTP (a Content-Length that is not a number, say) never reaches the app: uvicorn's parser
answers it 400 itself, in plain text, which no operation documented, and a client (or schemathesis) reading the
documented JSON error got text. This answers the same 400 as `ErrorBody`, documented on every operation (openapi.py),
and closes the connection as uvicorn does.
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from services.common.http import error_body

# For uvicorn's `http` option, as an import string: worker processes are spawned, and import it themselves.
JSON_REFUSALS = "services.common.http_protocol:JsonRefusals"


class JsonRefusals(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps(error_body(f"malformed HTTP request: {msg}"))
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join([*head, body]))
        self.transport.close()
