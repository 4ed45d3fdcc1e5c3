"""uvicorn's HTTP protocol (httptools) writing a response's head and body in one write.

uvicorn writes the status line and headers, then the body: two `send()` calls, two TCP
segments, and on loopback the kernel's delivery to the client runs twice in our process.
py-spy under wrk (the tuned page) put 21 % of the process in the headers' write and 4 % in
the body's. Here a write is held until the next one, and the two go out together
(`writelines`: one `writev`); a write no other follows in the same turn of the event loop
(a HEAD's headers, a streamed chunk, a WebSocket frame) goes out at the end of that turn.
Order is kept: at most one write is ever held, and anything else done to the transport
(close, write_eof) sends it first.

Pass as uvicorn's `http=` (`serve` does; `--http cidadao_gql.web.http_protocol:OneWrite`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """The transport as the protocol sees it: writes joined in pairs (see the module)."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.writelines((held, data))

    def writelines(self, lines: Any) -> None:
        self._flush()
        self._transport.writelines(lines)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self._transport, name)


class OneWrite(HttpToolsProtocol):
    def connection_made(self, transport: Any) -> None:  # uvloop's are no asyncio.Transport
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]  # a transport by duck typing
