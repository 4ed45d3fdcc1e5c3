"""One write per response (web/http_protocol.py): what it joins, and real clients over a
real uvicorn running it (curl, httpx with keep-alive, pipelined requests, HEAD, a streamed
response). The other live-server tests run on it too (tests/conftest.py, live_server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import h11
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.http_protocol import JoinedWrites
from tests.conftest import live_server

QUERY = "{ contracts(first: 3) { totalCount nodes { id number } } }"


class Recorded:
    """A transport that records what is done to it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, lines: Any) -> None:
        self.calls.append(("writelines", [bytes(x) for x in lines]))

    def close(self) -> None:
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return False


async def test_a_head_and_its_body_go_out_in_one_call() -> None:
    transport = Recorded()
    joined = JoinedWrites(transport, asyncio.get_running_loop())
    joined.write(b"head")
    joined.write(b"body")
    assert transport.calls == [("writelines", [b"head", b"body"])]


async def test_a_write_alone_goes_out_at_the_end_of_the_loops_turn() -> None:
    transport = Recorded()
    joined = JoinedWrites(transport, asyncio.get_running_loop())
    joined.write(b"headers of a HEAD")
    assert transport.calls == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.calls == [("write", b"headers of a HEAD")]


async def test_closing_sends_what_is_held_first() -> None:
    transport = Recorded()
    joined = JoinedWrites(transport, asyncio.get_running_loop())
    joined.write(b"last words")
    joined.close()
    assert transport.calls == [("write", b"last words"), ("close", None)]
    await asyncio.sleep(0)
    assert len(transport.calls) == 2  # the end of the turn finds nothing held


async def test_curl_reuses_the_connection_and_reads_every_answer(settings: Settings) -> None:
    body = json.dumps({"query": QUERY})
    async with live_server(create_app(settings)) as client:
        url = str(client.base_url.join("/graphql"))
        post = ["-H", "content-type: application/json", "--data", body, url]
        curl = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-v", "--globoff", *post, "--next", *post, "--next", "-I", f"{url}?query={{__typename}}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await curl.communicate()
    assert curl.returncode == 0, (err, url)
    first, rest = out.split(b"}}", 1)[0] + b"}}", out.split(b"}}", 1)[1]
    assert b'"totalCount"' in first
    assert b'"totalCount"' in rest
    assert b"HTTP/1.1 200" in rest  # the HEAD's status line, and no body after it
    assert err.count(b"Re-using existing connection") + err.count(b"Reusing existing") >= 2


async def test_keep_alive_answers_stay_whole_and_in_order(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answers = [await client.post("/graphql", json={"query": QUERY}) for _ in range(20)]
        head = await client.head("/graphql", params={"query": QUERY})
    assert {a.status_code for a in answers} == {200}
    assert len({orjson.dumps(a.json()["data"]) for a in answers}) == 1  # (the cost moves)
    assert answers[0].json()["data"]["contracts"]["totalCount"] > 0
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0


async def test_pipelined_requests_are_answered_in_order(settings: Settings) -> None:
    """Three requests sent in one packet, as wrk's pipelining sends them."""
    async with live_server(create_app(settings)) as client:
        host, port = client.base_url.host, client.base_url.port
        assert port is not None
        reader, writer = await asyncio.open_connection(host, port)
        paths = ["/health/live", "/graphql?query={__typename}", "/health/live"]
        writer.write(b"".join(
            f"GET {p} HTTP/1.1\r\nhost: {host}\r\naccept: application/json\r\n\r\n".encode()
            for p in paths
        ))  # fmt: skip
        answers = await _responses(reader, len(paths))
        writer.close()
        await writer.wait_closed()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert json.loads(answers[0][1]) == json.loads(answers[2][1]) == {"status": "ok"}
    assert json.loads(answers[1][1])["data"] == {"__typename": "Query"}


async def _responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes]]:
    parser = h11.Connection(h11.CLIENT)
    found: list[tuple[int, bytes]] = []
    received = b""
    for _ in range(count):
        # h11 reads an answer only to a request it saw sent (the bytes went out above)
        parser.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        parser.send(h11.EndOfMessage())
        status, body = 0, b""
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                received = await asyncio.wait_for(reader.read(65536), 10)
                parser.receive_data(received)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        found.append((status, body))
        parser.start_next_cycle()
    return found


async def test_a_streamed_response_sends_its_headers_before_it_ends() -> None:
    """A held write goes out at the end of the loop's turn: a stream that waits (an export,
    an incremental answer) is not kept from its client until its next chunk."""
    release = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await release.wait()
        yield b"last\n"

    async def stream(_: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    async with (
        live_server(Starlette(routes=[Route("/stream", stream)])) as client,
        client.stream("GET", "/stream") as answer,
    ):
        assert answer.status_code == 200  # the headers came while the stream waits
        parts = answer.aiter_raw()
        assert await asyncio.wait_for(anext(parts), 5) == b"first\n"
        release.set()
        assert b"".join([part async for part in parts]) == b"last\n"
