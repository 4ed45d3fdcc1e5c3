"""uvicorn's WebSocket protocol with permessage-deflate for messages of 1 KB and more only.

RFC 7692 lets each message say whether it is compressed (RSV1), so small ones (pings of
progress, a single event) go out as they are: deflating them costs CPU and saves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

MIN_COMPRESSED = 1024


class DeflateLargeMessages(PerMessageDeflate):
    def encode(self, frame: Frame) -> Frame:
        whole_message = frame.fin and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
        if whole_message and len(frame.data) < MIN_COMPRESSED:
            return frame  # RSV1 stays clear: an uncompressed message
        return super().encode(frame)


class DeflateLargeMessagesFactory(ServerPerMessageDeflateFactory):
    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, ext = super().process_request_params(params, accepted_extensions)
        return response, DeflateLargeMessages(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """Pass as uvicorn's `ws=`; the rest is uvicorn's sans-I/O websockets protocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn.available_extensions = [
                DeflateLargeMessagesFactory(
                    server_max_window_bits=12,
                    client_max_window_bits=12,
                    compress_settings={"memLevel": 5},
                )
            ]
