"""Hostile requests over real HTTP, one per class of bad input: each gets a JSON answer
with a stable code, in the media type the client accepts, and the connection it came on
stays open for the next request (an exception that escapes to uvicorn closes it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import h11
import orjson
import pytest

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import live_server

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
GOOD = b'{"query": "{ agencies(first: 1) { nodes { name } } }"}'
# `first: null` is "not given" since `last` came (a page of 20); 0 is a size no list has.
ZERO_FIRST = (
    b'{"query": "query($f: Int) { contracts(first: $f) { nodes { id } } }", "variables": {"f": 0}}'
)
SUBSCRIPTION = 'subscription { investigationEvents(id: "SW52ZXN0aWdhdGlvbjox") { __typename } }'
FILTERED = "query($f: ContractFilter) { contracts(first: 1, filter: $f) { nodes { id } } }"


def nested(levels: int) -> bytes:
    """JSON arrays `levels` deep (written as text: orjson writes at most 254 levels)."""
    return b"[" * levels + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def operation(
    variables: bytes = b"null", extensions: bytes = b"null", query: str = "{ __typename }"
) -> bytes:
    return b'{"query":%s,"variables":%s,"extensions":%s}' % (
        orjson.dumps(query),
        variables,
        extensions,
    )


def persisted(value: object) -> bytes:
    return operation(extensions=orjson.dumps({"persistedQuery": value}))


HASH = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"


@dataclass
class Sent:
    method: str = "POST"
    target: str = "/graphql"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": JSON})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def codes(self) -> list[str]:
        answer = orjson.loads(self.body)
        entries = answer if isinstance(answer, list) else [answer]
        return [e["extensions"]["code"] for a in entries for e in a.get("errors", ())]


async def exchange(port: int, requests: list[Sent]) -> list[Answer]:
    """The requests sent one after another on ONE keep-alive connection (h11 refuses to
    go on if the server closed it or said it would)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h11.Connection(h11.CLIENT)
    answers = []
    try:
        for sent in requests:
            headers = {"host": "127.0.0.1", "content-length": str(len(sent.body)), **sent.headers}
            writer.write(conn.send(h11.Request(method=sent.method, target=sent.target,
                                               headers=list(headers.items()))))  # fmt: skip
            writer.write(conn.send(h11.Data(data=sent.body)) or b"")
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            status, got, body = 0, {}, b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    got = {k.decode(): v.decode() for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    body += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise AssertionError(f"the server ended the exchange: {event!r}")
            answers.append(Answer(status, got, body))
            conn.start_next_cycle()  # raises when the server asked to close
    finally:
        writer.close()
    return answers


def post(body: bytes, **headers: str) -> Sent:
    return Sent(body=body, headers={"content-type": JSON, **headers})


def get(query_string: str, **headers: str) -> Sent:
    return Sent("GET", "/graphql?" + query_string, headers=headers)


CASES: dict[str, tuple[Sent, int, str]] = {
    # bytes and encodings
    "raw-bytes": (post(b"\xff\xfe{{{"), 400, "BAD_REQUEST"),
    "invalid-utf8": (post(b'{"query": "\xc3\x28"}'), 400, "BAD_REQUEST"),
    "lone-surrogate": (
        post(b'{"query": "query($s: String) { __typename }", "variables": {"s": "\\ud800"}}'),
        400,
        "BAD_REQUEST",
    ),
    "deep-json": (post(b'{"variables": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"), 400, "BAD_REQUEST"),
    "number-past-double": (post(b'{"query": "{ __typename }", "variables": {"n": 1' + b"0" * 400 + b"}}"), 400, "BAD_REQUEST"),
    "body-empty": (post(b""), 400, "BAD_REQUEST"),
    "body-json-null": (post(b"null"), 400, "BAD_REQUEST"),
    # batches
    "batch-of-non-objects": (post(b'[1, "x", null]'), 400, "BAD_REQUEST"),
    "batch-of-null": (post(b"[null]"), 400, "BAD_REQUEST"),
    "batch-of-batches": (post(b'[[{"query": "{ __typename }"}]]'), 400, "BAD_REQUEST"),
    "batch-empty": (post(b"[]"), 400, "BAD_REQUEST"),
    "batch-item-bad-variables": (post(b'[{"query": "{ __typename }", "variables": 3}]'), 400, "BAD_REQUEST"),
    # the request object's members
    "extensions-string": (post(b'{"query": "{ __typename }", "extensions": "x"}'), 400, "BAD_REQUEST"),
    "extensions-number": (post(b'{"query": "{ __typename }", "extensions": 0}'), 400, "BAD_REQUEST"),
    "extensions-array": (post(b'{"query": "{ __typename }", "extensions": []}'), 400, "BAD_REQUEST"),
    "variables-string": (post(b'{"query": "{ __typename }", "variables": "{}"}'), 400, "BAD_REQUEST"),
    "operation-name-number": (post(b'{"query": "{ __typename }", "operationName": 1}'), 400, "BAD_REQUEST"),
    "query-object": (post(b'{"query": {}}'), 400, "BAD_REQUEST"),
    "query-missing": (post(b'{"variables": {}}'), 400, "BAD_REQUEST"),
    # nesting past graphql_params.MAX_NESTING (64): orjson cannot write 254 levels back
    "variables-253-deep": (post(operation(b'{"t":%s}' % nested(253))), 400, "BAD_REQUEST"),
    "variables-65-deep": (post(operation(b'{"t":%s}' % nested(64))), 400, "BAD_REQUEST"),
    "filter-objects-deep": (post(operation(b'{"f":{"search":%s}}' % nested_objects(300), query=FILTERED)), 400, "BAD_REQUEST"),
    "unused-variable-deep": (post(operation(b'{"unused":%s}' % nested_objects(253))), 400, "BAD_REQUEST"),
    "extensions-deep": (post(operation(extensions=b'{"x":%s}' % nested(253))), 400, "BAD_REQUEST"),
    "batch-item-deep": (post(b"[%s,%s]" % (operation(), operation(b'{"t":%s}' % nested(253)))), 400, "BAD_REQUEST"),
    "get-variables-deep": (get("query=%7B__typename%7D&variables=%7B%22t%22%3A" + "%5B" * 253 + "%5D" * 253 + "%7D"), 400, "BAD_REQUEST"),
    # persisted queries: only Apollo's version 1, in its own shape
    "persisted-version-2": (post(persisted({"version": 2, "sha256Hash": HASH})), 400, "PERSISTED_QUERY_NOT_SUPPORTED"),
    "persisted-version-string": (post(persisted({"version": "1", "sha256Hash": HASH})), 400, "BAD_REQUEST"),
    "persisted-version-true": (post(persisted({"version": True, "sha256Hash": HASH})), 400, "BAD_REQUEST"),
    "persisted-version-missing": (post(persisted({"sha256Hash": HASH})), 400, "BAD_REQUEST"),
    "persisted-not-object": (post(persisted("x")), 400, "BAD_REQUEST"),
    "persisted-hash-number": (post(persisted({"version": 1, "sha256Hash": 1})), 400, "BAD_REQUEST"),
    "persisted-in-batch": (post(b"[%s,%s]" % (operation(), persisted({"version": 2, "sha256Hash": HASH}))), 400, "PERSISTED_QUERY_NOT_SUPPORTED"),
    "get-persisted-version-2": (get("query=%7B__typename%7D&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A2%7D%7D"), 400, "PERSISTED_QUERY_NOT_SUPPORTED"),
    # choosing the operation
    "two-operations-no-name": (post(b'{"query": "query A { __typename } query B { __typename }"}'), 400, "BAD_REQUEST"),
    "unknown-operation-name": (post(b'{"query": "query A { __typename }", "operationName": "B"}'), 400, "BAD_REQUEST"),
    "no-operation": (post(b'{"query": "fragment F on Query { __typename }"}'), 400, "BAD_REQUEST"),
    "subscription-post": (post(orjson.dumps({"query": SUBSCRIPTION})), 400, "WEBSOCKET_REQUIRED"),
    "subscription-get": (get("query=" + SUBSCRIPTION.replace(" ", "+")), 400, "WEBSOCKET_REQUIRED"),
    # variables the schema refuses while running
    "zero-first": (post(ZERO_FIRST), 200, "INVALID_PAGE_SIZE"),
    # methods, paths, media types
    "put": (Sent("PUT", body=GOOD), 405, "METHOD_NOT_ALLOWED"),
    "delete": (Sent("DELETE"), 405, "METHOD_NOT_ALLOWED"),
    "patch": (Sent("PATCH", body=GOOD), 405, "METHOD_NOT_ALLOWED"),
    "unknown-path": (Sent("GET", "/nowhere", headers={}), 404, "NOT_FOUND"),
    "trailing-slash-get": (Sent("GET", "/graphql/?query=%7B__typename%7D", headers={}), 404, "NOT_FOUND"),
    "trailing-slash-post": (Sent("POST", "/graphql/", body=GOOD, headers={"content-type": JSON}), 404, "NOT_FOUND"),
    "post-to-health": (Sent("POST", "/health", headers={}), 405, "METHOD_NOT_ALLOWED"),
    "text-plain-body": (Sent(body=GOOD, headers={"content-type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "latin1-body": (Sent(body=GOOD, headers={"content-type": "application/json; charset=latin-1"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "latin1-body-upper": (Sent(body=GOOD, headers={"content-type": "Application/JSON;Charset=ISO-8859-1"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "json-lookalike": (Sent(body=GOOD, headers={"content-type": "application/jsonx"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "accept-nothing-we-write": (post(GOOD, accept="application/json;q=0, text/csv"), 406, "NOT_ACCEPTABLE"),
    "accept-bad-weight": (post(GOOD, accept="application/json;q=abc"), 406, "NOT_ACCEPTABLE"),
    # GET's query string
    "get-not-utf8": (get("query=%ff%fe"), 400, "BAD_REQUEST"),
    "get-repeated-query": (get("query=%7B__typename%7D&query=x"), 400, "BAD_REQUEST"),
    "get-variables-array": (get("query=%7B__typename%7D&variables=%5B%5D"), 400, "BAD_REQUEST"),
    "get-101-parameters": (get("query=%7B__typename%7D" + "&x" * 100), 400, "BAD_REQUEST"),
    "get-20000-parameters": (get("query=%7B__typename%7D" + "&x" * 20000), 400, "BAD_REQUEST"),
    "get-mutation": (get("query=mutation%7BcancelInvestigation(id:%22x%22)%7Bstatus%7D%7D"), 405, "METHOD_NOT_ALLOWED"),
}  # fmt: skip


@pytest.mark.parametrize("response_cache_ttl", [0, 60])
async def test_every_class_of_bad_input_gets_a_coded_json_answer_on_a_live_connection(
    settings: Settings, response_cache_ttl: int
) -> None:
    """With the response cache on as well: its fast path reads the body before the app
    does (deep variables it could not key were a 500, and a latin-1 body of an answer it
    held was answered)."""
    names = list(CASES)
    sent = [request for name in names for request in (CASES[name][0], post(GOOD))]
    app = create_app(replace(settings, response_cache_ttl=response_cache_ttl))
    async with live_server(app) as client:
        port = client.base_url.port
        assert port is not None
        answers = await exchange(port, sent)
    for name, bad, good in zip(names, answers[::2], answers[1::2], strict=True):
        _, status, code = CASES[name]
        assert (bad.status, bad.codes()) == (status, [code]), (name, bad.body)
        assert bad.headers["content-type"] == JSON, name
        assert len(bad.headers["x-request-id"]) == 32, name
        assert "INTERNAL_SERVER_ERROR" not in bad.body.decode(), name
        assert good.status == 200 and orjson.loads(good.body)["data"], name  # same connection


async def test_variables_nested_up_to_the_bound_run(settings: Settings) -> None:
    """64 levels (the variables object the first) are taken, on both paths of the cache."""
    body = operation(b'{"t":%s,"o":%s}' % (nested(63), nested_objects(63)))
    async with live_server(create_app(settings)) as client:
        answers = [await client.post("/graphql", content=body, headers={"content-type": JSON})
                   for _ in range(2)]  # fmt: skip
    assert [a.json()["data"] for a in answers] == [{"__typename": "Query"}] * 2
    assert answers[1].headers.get("x-cache") == "hit"


async def test_refusals_come_in_the_media_type_the_client_accepts(settings: Settings) -> None:
    accept = {"accept": GRAPHQL_RESPONSE}
    sent = [
        post(b"[]", **accept),
        Sent("PUT", headers=accept),
        Sent("GET", "/nowhere", headers=accept),
        post(b'{"query": "{ __typename }", "extensions": 1}', accept=f"{GRAPHQL_RESPONSE}; charset=utf-8"),
        post(b'{"query": "{ __typename }", "extensions": 1}', accept=f"{JSON};q=0.5, {GRAPHQL_RESPONSE}"),
    ]  # fmt: skip
    async with live_server(create_app(settings)) as client:
        port = client.base_url.port
        assert port is not None
        answers = await exchange(port, sent)
    assert [a.headers["content-type"] for a in answers] == [GRAPHQL_RESPONSE] * len(sent)
    assert [a.status for a in answers] == [400, 405, 404, 400, 400]


async def test_methods_not_allowed_say_which_are(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answers = [await client.request(m, "/graphql") for m in ("PUT", "DELETE", "PATCH")]
        health = await client.post("/health")
    assert {a.headers["allow"] for a in answers} == {"GET, HEAD, POST"}
    assert health.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "application/json; charset=UTF-8", "Application/Json;charset=utf8"],
)
async def test_media_types_are_case_insensitive(settings: Settings, content_type: str) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post("/graphql", content=GOOD, headers={"content-type": content_type})
    assert answer.status_code == 200
    assert answer.json()["data"]["agencies"]["nodes"]


async def test_an_exception_nothing_handled_is_a_json_500_on_a_live_connection() -> None:
    """The last resort: what escapes every handler is masked, logged, answered in JSON, and
    the connection stays usable."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from cidadao_gql.web.middleware import Gate

    async def broken(_: Request) -> PlainTextResponse:
        raise RuntimeError("a bug")

    async def fine(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/broken", broken), Route("/fine", fine)],
        middleware=[Middleware(Gate)],
    )
    async with live_server(app) as client:
        port = client.base_url.port
        assert port is not None
        bad, good = await exchange(port, [Sent("GET", "/broken"), Sent("GET", "/fine")])
    assert bad.status == 500 and bad.codes() == ["INTERNAL_SERVER_ERROR"]
    assert "a bug" not in bad.body.decode()
    assert (
        orjson.loads(bad.body)["errors"][0]["extensions"]["requestId"]
        == bad.headers["x-request-id"]
    )
    assert (good.status, good.body) == (200, b"ok")
