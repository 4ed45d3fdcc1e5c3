"""Subscriptions over a real WebSocket (graphql-transport-ws): an investigation's progress in
order, authentication on connection_init, the init timeout, and batching of events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

from cidadao_gql.data import apikeys
from cidadao_gql.data.db import Database
from cidadao_gql.investigations.events import batches
from cidadao_gql.investigations.queue import LocalJobs, StreamJobs
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.ws_compression import DeflateLargeMessages
from tests.conftest import DatabaseFactory, connect, live_server

START = """mutation($agency: ID!) {
  startInvestigation(target: {agencies: [$agency]}, agents: ["price_outlier", "split_purchase"])
  { id }
}"""
EVENTS = """subscription($id: ID!) {
  investigationEvents(id: $id) { investigationId events { id kind progress payload } }
}"""


async def new_key(settings: Settings, user: str, scopes: set[str]) -> str:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        return (await apikeys.create_key(conn, user, frozenset(scopes))).key


@asynccontextmanager
async def socket(client: httpx.AsyncClient) -> AsyncIterator[ClientConnection]:
    url = str(client.base_url).replace("http://", "ws://") + "/graphql"
    async with ws_connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        yield ws


async def init(ws: ClientConnection, key: str | None) -> dict[str, Any]:
    payload = {"authorization": f"Bearer {key}"} if key else {}
    await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
    message: dict[str, Any] = orjson.loads(await ws.recv())
    return message


async def follow(ws: ClientConnection, investigation: str) -> list[dict[str, Any]]:
    """Every message of one subscription, up to and including `complete`."""
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                "payload": {"query": EVENTS, "variables": {"id": investigation}}}
                            ).decode())  # fmt: skip
    messages = []
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        assert isinstance(raw, str)  # a text frame, as graphql-transport-ws specifies
        message = orjson.loads(raw)
        messages.append(message)
        if message["type"] in ("complete", "error"):
            return messages


async def start(client: httpx.AsyncClient, key: str, agency: str) -> str:
    answer = await client.post("/graphql", json={"query": START, "variables": {"agency": agency}},
                               headers={"authorization": f"Bearer {key}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    investigation: str = answer.json()["data"]["startInvestigation"]["id"]
    return investigation


async def an_agency(client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/graphql", json={"query": "{ agencies(first: 1) { nodes { id } } }"}
    )
    agency: str = answer.json()["data"]["agencies"]["nodes"][0]["id"]
    return agency


@pytest.mark.parametrize("with_redis", [False, True], ids=["in-process", "redis-streams"])
async def test_a_subscriber_sees_progress_in_order_then_completion(
    settings: Settings, redis_url: str, with_redis: bool
) -> None:
    if with_redis:
        settings = replace(settings, redis_url=redis_url)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        assert (await init(ws, key))["type"] == "connection_ack"
        assert any(isinstance(e, PerMessageDeflate) for e in ws.protocol.extensions)
        investigation = await start(client, key, await an_agency(client))
        messages = await follow(ws, investigation)
    assert messages[-1] == {"id": "1", "type": "complete"}
    events = [
        e for m in messages[:-1] for e in m["payload"]["data"]["investigationEvents"]["events"]
    ]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "CREATED" and kinds[1] == "STARTED" and kinds[-1] == "FINISHED"
    assert events[-1]["payload"]["status"] == "completed"
    progress = [e["progress"] for e in events if e["kind"] == "PROGRESS"]
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) == 2
    assert len({e["id"] for e in events}) == len(events)  # no event twice


async def test_credentials_are_checked_on_connection_init(settings: Settings) -> None:
    ana = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    bia = await new_key(settings, f"bia-{uuid.uuid4()}", {"read", "investigate"})
    async with live_server(create_app(settings)) as client:
        investigation = await start(client, ana, await an_agency(client))
        async with socket(client) as ws:  # a key nobody issued: closed with 4403
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(init(ws, "cgk_nobody"), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with socket(client) as ws:  # an authorization that is not a string: 4403 too
            hello = {"type": "connection_init", "payload": {"Authorization": ["Bearer x"]}}
            await ws.send(orjson.dumps(hello).decode())
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with socket(client) as ws:  # another user's investigation looks missing
            await init(ws, bia)
            messages = await follow(ws, investigation)
            payload = next(m for m in messages if m["type"] in ("next", "error"))["payload"]
            first = payload["errors"][0] if isinstance(payload, dict) else payload[0]
            assert first["extensions"]["code"] == "NOT_FOUND"
        async with socket(client) as ws:  # anonymous: connected, but may not subscribe to it
            await init(ws, None)
            messages = await follow(ws, investigation)
            payload = next(m for m in messages if m["type"] in ("next", "error"))["payload"]
            first = payload["errors"][0] if isinstance(payload, dict) else payload[0]
            assert first["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_resume_point_that_is_not_an_event_id_is_refused(settings: Settings) -> None:
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    query = EVENTS.replace(
        "investigationEvents(id: $id)", 'investigationEvents(id: $id, after: "x1")'
    )
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        investigation = await start(client, key, await an_agency(client))
        await init(ws, key)
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                    "payload": {"query": query, "variables": {"id": investigation}}}
                                   ).decode())  # fmt: skip
        messages = [orjson.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(2)]
    payload = messages[0]["payload"]
    first = payload["errors"][0] if isinstance(payload, dict) else payload[0]
    assert first["extensions"]["code"] == "BAD_USER_INPUT"
    assert first["extensions"]["after"] == "x1"
    assert messages[1] == {"id": "1", "type": "complete"}


async def test_a_socket_that_never_initialises_is_closed(settings: Settings) -> None:
    settings = replace(settings, ws_init_timeout_s=1)
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


async def test_events_go_out_in_batches_of_at_most_fifty(db: Database) -> None:
    jobs = LocalJobs()
    investigation = uuid.uuid4()
    for n in range(120):
        await jobs.announce(investigation, "finding", n=n)
    await jobs.announce(investigation, "finished", status="completed")
    sizes, seen = [], []
    async for batch in batches(db, jobs, investigation):
        sizes.append(len(batch))
        seen += [e.payload.get("n") for e in batch if e.kind == "finding"]
    assert sizes == [50, 50, 21]
    assert seen == list(range(120))


async def test_a_batch_waits_at_most_the_window_for_more(db: Database) -> None:
    jobs = LocalJobs()
    investigation = uuid.uuid4()
    reader = batches(db, jobs, investigation, window=1.0)
    await jobs.announce(investigation, "progress", progress=0.5)
    first = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.05)  # well inside the window: joins the first batch
    await jobs.announce(investigation, "progress", progress=0.6)
    assert [e.payload["progress"] for e in await first] == [0.5, 0.6]
    await jobs.announce(investigation, "finished", status="completed")
    assert [e.kind for e in await anext(reader)] == ["finished"]


async def test_a_reader_that_falls_behind_on_the_stream_loses_nothing(
    db: Database, redis_url: str
) -> None:
    """Back-pressure: nothing is read ahead of the subscriber, so a slow one simply reads
    later from the stream; every event arrives, once, in order."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    jobs = StreamJobs(client, "t")
    investigation = uuid.uuid4()
    try:
        reader = batches(db, jobs, investigation, size=10)
        await jobs.announce(investigation, "progress", progress=0.0)
        first = await anext(reader)
        for n in range(1, 31):  # the subscriber is busy while these arrive
            await jobs.announce(investigation, "progress", progress=n / 30)
        await jobs.announce(investigation, "finished", status="completed")
        rest = [e async for batch in reader for e in batch]
        progress = [e.payload["progress"] for e in first + rest if e.kind == "progress"]
        assert progress == [n / 30 for n in range(31)]
        assert rest[-1].kind == "finished"
    finally:
        await client.aclose()


async def test_a_finished_investigation_ends_even_without_its_events(db: Database) -> None:
    """Events lost (a Redis restart): the row in PostgreSQL says it ended, and so does the
    subscription, after the idle wait."""
    row = await db.primary.fetchrow(
        """INSERT INTO investigations (id, user_id, target, agents, status, progress, finished_at)
           VALUES (gen_random_uuid(), 'ana', '{}'::jsonb, '{}', 'completed', 1, now()) RETURNING id"""
    )
    assert row is not None
    got = [batch async for batch in batches(db, LocalJobs(), row["id"], idle=0.1)]
    assert [[e.kind for e in b] for b in got] == [["finished"]]
    assert got[0][0].payload == {"status": "completed"}


def test_only_messages_of_a_kilobyte_or_more_are_deflated() -> None:
    deflate = DeflateLargeMessages(False, False, 12, 12, {"memLevel": 5})
    small = Frame(Opcode.TEXT, b'{"type":"next"}')
    large = Frame(
        Opcode.TEXT, orjson.dumps({"events": [{"kind": "FINDING", "n": n} for n in range(100)]})
    )
    assert deflate.encode(small) == small and not small.rsv1
    sent = deflate.encode(large)
    assert sent.rsv1 and len(sent.data) < len(large.data) // 4
    receiver = PerMessageDeflate(False, False, 12, 12)
    assert receiver.decode(sent).data == large.data


async def until_message(ws: ClientConnection, operation: str) -> dict[str, Any]:
    """The next message for `operation`, past those of the socket's other operations."""
    while True:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("id") == operation:
            return message


async def test_one_subscription_over_the_limit_is_refused_with_a_code(settings: Settings) -> None:
    settings = replace(settings, ws_max_subscriptions=1, run_investigations=False)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        investigation = await start(client, key, await an_agency(client))  # never runs
        await init(ws, key)
        for operation in ("1", "2"):
            await ws.send(orjson.dumps({"id": operation, "type": "subscribe", "payload": {
                "query": EVENTS, "variables": {"id": investigation}}}).decode())  # fmt: skip
        refused = await until_message(ws, "2")
    assert refused["type"] == "error"
    (error,) = refused["payload"]
    assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert error["extensions"]["maxSubscriptions"] == 1


TWO = "query A { agencies(first: 1) { totalCount } } query B { suppliers(first: 1) { totalCount } }"


@pytest.mark.parametrize(
    "payload",
    [
        {"query": TWO},
        {"query": TWO, "operationName": "C"},
        {"query": "{ agencies(first: 1) { totalCount } }", "variables": 3},
        {"query": "{ agencies(first: 1) { totalCount } }", "operationName": ["A"]},
        {"query": 3},
    ],
    ids=["two-operations", "no-such-operation", "variables-3", "name-a-list", "query-3"],
)
async def test_a_subscribe_with_bad_parameters_gets_a_coded_error(
    settings: Settings, payload: dict[str, Any]
) -> None:
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        await init(ws, None)
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
        answer = await until_message(ws, "1")
        # The socket goes on: the same id may run a good operation afterwards.
        good = {"query": TWO, "operationName": "B"}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": good}).decode())
        after = await until_message(ws, "1")
    assert answer["type"] == "error"
    (error,) = answer["payload"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert after["type"] == "next" and "suppliers" in after["payload"]["data"]


@pytest.mark.parametrize(
    "message",
    [
        {"id": "1", "type": "subscribe", "payload": 3},
        {"id": "1", "type": "subscribe", "payload": "{ agencies(first: 1) { totalCount } }"},
        {"id": 1, "type": "subscribe", "payload": {"query": "{ __typename }"}},
        [{"type": "ping"}],
        {"type": 3},
    ],
    ids=["payload-3", "payload-a-string", "id-a-number", "an-array", "type-3"],
)
async def test_a_malformed_message_closes_the_socket_with_4400(
    settings: Settings, message: Any
) -> None:
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        await init(ws, None)
        await ws.send(orjson.dumps(message).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_credentials_that_cannot_be_checked_close_with_try_again_later(
    settings: Settings, make_database: DatabaseFactory, server_url: str
) -> None:
    """The API-key lookup gets SERVICE_UNAVAILABLE (the database is gone): the socket closes
    with 1013, not 4403, which would tell the client its key is bad."""
    url = await make_database()
    key = await new_key(replace(settings, database_url=url), "ana", {"read"})
    settings = replace(settings, database_url=url, run_investigations=False)
    async with live_server(create_app(settings)) as client, connect(server_url) as admin:
        await admin.execute(f'DROP DATABASE "{url.rpartition("/")[2]}" WITH (FORCE)')
        async with socket(client) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(init(ws, key), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


@pytest.mark.parametrize("with_redis", [False, True], ids=["in-process", "redis-streams"])
async def test_resuming_after_an_event_sends_exactly_the_events_after_it(
    settings: Settings, redis_url: str, with_redis: bool
) -> None:
    if with_redis:
        settings = replace(settings, redis_url=redis_url)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})

    def events_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            e for m in messages[:-1] for e in m["payload"]["data"]["investigationEvents"]["events"]
        ]

    async with live_server(create_app(settings)) as client:
        investigation = await start(client, key, await an_agency(client))
        async with socket(client) as ws:
            await init(ws, key)
            everything = events_of(await follow(ws, investigation))
        resumed: dict[int, list[dict[str, Any]]] = {}
        for cut in (0, 2, len(everything) - 2):
            async with socket(client) as ws:
                await init(ws, key)
                query = EVENTS.replace(
                    "investigationEvents(id: $id)", "investigationEvents(id: $id, after: $after)"
                )
                query = query.replace(
                    "subscription($id: ID!)", "subscription($id: ID!, $after: String!)"
                )
                await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": query, "variables": {"id": investigation, "after": everything[cut]["id"]}}}).decode())  # fmt: skip
                messages: list[dict[str, Any]] = []
                while not messages or messages[-1]["type"] not in ("complete", "error"):
                    messages.append(orjson.loads(await asyncio.wait_for(ws.recv(), 30)))
                resumed[cut] = events_of(messages)
    assert len(everything) > 4 and everything[-1]["kind"] == "FINISHED"
    for cut, events in resumed.items():
        assert events == everything[cut + 1 :], cut


async def test_a_connection_holds_at_most_ws_max_subscriptions_operations(
    settings: Settings, db: Database
) -> None:
    from cidadao_gql.investigations import store

    user = f"ana-{uuid.uuid4()}"
    key = await new_key(settings, user, {"read", "investigate"})
    # Never submitted to a worker: its subscriptions stay open, waiting for events.
    waiting = await store.create(db, user, store.target_from_json({}), [])
    investigation = str(waiting["id"])

    async def subscribe(ws: ClientConnection, operation: str) -> None:
        await ws.send(orjson.dumps({"id": operation, "type": "subscribe", "payload": {
            "query": EVENTS, "variables": {"id": investigation}}}).decode())  # fmt: skip

    async def until_pong(ws: ClientConnection) -> list[dict[str, Any]]:
        """What the server said before answering a ping (it handles messages in order)."""
        await ws.send('{"type": "ping"}')
        said: list[dict[str, Any]] = []
        while (message := orjson.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "pong":
            said.append(message)
        return said

    def errors(said: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in said if m["type"] != "next" or "errors" in m["payload"]]

    limited = replace(settings, ws_max_subscriptions=2, run_investigations=False)
    async with live_server(create_app(limited)) as client, socket(client) as ws:
        await init(ws, key)
        for operation in ("1", "2"):
            await subscribe(ws, operation)
        assert errors(await until_pong(ws)) == []
        await subscribe(ws, "3")  # one too many
        refused = errors(await until_pong(ws))
        await ws.send('{"id": "1", "type": "complete"}')  # one ends: room for another
        await subscribe(ws, "4")
        accepted = errors(await until_pong(ws))
    assert [(m["id"], m["type"]) for m in refused] == [("3", "error")]
    assert refused[0]["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert accepted == []
