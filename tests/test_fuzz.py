"""Fuzzing with tools we did not write, against a real server on the seeded database:

- schemathesis generates GraphQL operations from schema.graphql (every root field, with
  arguments of every type and nested selections), 1,500 of them;
- Hypothesis generates raw HTTP requests: random bytes, JSON values of every type in
  every member of the request object, batches, query strings, headers and methods.

Neither asserts that a request succeeds. Each asserts what every answer must be: under
500, JSON, and each error carrying a stable code that is ours (or graphql-core's) and never
INTERNAL_SERVER_ERROR. Both are derandomized: the same cases on every run, so a failure is
a regression, not luck. Failures are collected, not raised (no shrinking), and listed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

import cidadao_gql.web.app  # noqa: F401  # it imports every module that declares an error
from cidadao_gql import errors
from cidadao_gql.settings import Settings
from cidadao_gql.web.graphql_params import Params
from tests.conftest import ROOT, server_process

OPERATION_CASES = 100  # per root field of schema.graphql: 15 of them, 1,500 in all
RAW_CASES = 1000


def _codes(kind: type[errors.CidadaoError]) -> Iterator[str]:
    yield kind.code
    for sub in kind.__subclasses__():
        yield from _codes(sub)


# Every code the server may answer with: our error tree (every module that declares an
# error is imported by the app) and graphql-core's, as error_codes names them.
KNOWN_CODES = (
    frozenset(_codes(errors.CidadaoError))
    | {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}
) - {"INTERNAL_SERVER_ERROR", "CONFIG_INVALID", "MIGRATION_FAILED"}
JSON_TYPES = ("application/json", "application/graphql-response+json")
JSON_BODY = {"content-type": "application/json"}


def problems(response: httpx.Response) -> list[str]:
    """What is wrong with an answer, whatever the request was; [] when nothing is."""
    if response.status_code >= 500:
        return [f"status {response.status_code}: {response.text[:300]}"]
    media = response.headers.get("content-type", "").split(";")[0]
    if (
        response.request.method == "HEAD"
        or response.status_code in (204, 304)
        or response.is_redirect  # /graphql/ to /graphql
        or (media == "text/html" and response.request.url.path == "/graphql")  # GraphiQL
    ):
        return []
    if media not in JSON_TYPES:
        return [f"not JSON ({response.headers.get('content-type')}): {response.text[:300]}"]
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return [f"a body that does not parse: {response.text[:300]}"]
    found = []
    for entry in answer if isinstance(answer, list) else [answer]:
        for error in entry.get("errors") or ():
            code = (error.get("extensions") or {}).get("code")
            if code not in KNOWN_CODES:
                found.append(f"code {code!r}: {error.get('message')}")
    return found


@dataclass
class Finding:
    request: str
    problems: list[str]


FUZZ = hypothesis_settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    """A server for each test (what one test sent leaves no plans or caches behind for the
    other); every answer computed (no response cache), none throttled, nothing started."""
    env = {"RESPONSE_CACHE_TTL": "0", "RATE_LIMIT_CAPACITY": "0", "RUN_INVESTIGATIONS": "false"}
    with server_process(settings, **env) as address:
        yield address


def test_schemathesis_operations_get_no_server_error(url: str) -> None:
    schema = schemathesis.graphql.from_path(ROOT / "schema.graphql")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # schema.graphql is ours: it loads whole
        operations.append(result.ok())
    bodies: list[bytes] = []
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        answers = []
        for operation in operations:

            @hypothesis_settings(FUZZ, max_examples=OPERATION_CASES)
            @given(case=operation.as_strategy())
            def send(case: Any) -> None:
                # Sent while the next case is generated: the server and PostgreSQL work
                # on the other core.
                body = orjson.dumps({"query": case.body})
                bodies.append(body)
                answers.append(
                    pool.submit(client.post, "/graphql", content=body, headers=JSON_BODY)
                )

            send()
        findings = [
            Finding(body.decode(), found)
            for body, answer in zip(bodies, answers, strict=True)
            if (found := problems(answer.result()))
        ]
    report = "\n".join(f"{f.request}\n  -> {f.problems}" for f in findings)
    assert len(bodies) >= 15 * OPERATION_CASES
    assert not findings, f"{len(findings)} of {len(bodies)} operations:\n{report}"


# Raw requests. JSON is written by the standard library, which writes what orjson
# refuses: integers past 64 bits, NaN and Infinity, lone surrogates (as invalid UTF-8).
def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# Values that have broken servers like this one, by the kind of argument they go to: IDs
# past bigint or not canonical, cursors holding such values, decimals past any column,
# NUL and lone surrogates in strings, page sizes past every bound.
IDS = [
    "", "Contract:1", "99999999999999999999",
    *(_b64(f"{kind}:{pk}") for kind in ("Contract", "Supplier", "Agency", "Procurement")
      for pk in ("99999999999999999999", "9223372036854775808", "-1", " 1", "01", "\u0661", "1_0")),
]  # fmt: skip
CURSORS = [
    "", "x", _b64("[]"),
    *(_b64(f'["{order}", {value}, {pk}]') for order, value, pk in (
        ("SIGNED_ON_DESC", '"2025-12-31"', 2**70), ("SIGNED_ON_DESC", '"2025-12-31"', -1),
        ("SIGNED_ON_DESC", '"99999-12-31"', 1), ("VALUE_DESC", '"1e999999"', 1),
        ("VALUE_DESC", '"NaN"', 1), ("VALUE_ASC", "null", 1))),
]  # fmt: skip
DECIMALS = [
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "1e-999999",
    "1" + "0" * 40,
    "",
    1e308,
    -1,
]
STRINGS = ["", "\x00", "a\x00b", "\ud800", "\ufffe", "diesel & (", "!", "a" * 2000]
INTEGERS = [-1, 0, 101, 2**31, 2**63, 2**70, None, "1"]
ORDERS = [{"field": "VALUE", "direction": "ASC"}, {"field": "X"}, {"direction": None}, []]
HOSTILE = [*IDS, *CURSORS, *DECIMALS, *STRINGS]
FILTER = st.fixed_dictionaries({}, optional={
    "agency": st.sampled_from(IDS), "supplier": st.sampled_from(IDS),
    "supplierDocument": st.sampled_from(STRINGS), "agencyCnpj": st.sampled_from(STRINGS),
    "signedFrom": st.sampled_from(["2024-13-45", "99999-01-01", "", "0001-01-01"]),
    "valueMin": st.sampled_from(DECIMALS), "valueMax": st.sampled_from(DECIMALS),
    "search": st.sampled_from(STRINGS), "uf": st.sampled_from(["XX", "sp", ""]),
})  # fmt: skip
BY_VARIABLE: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(IDS), "a": st.sampled_from(CURSORS), "v": st.sampled_from(DECIMALS),
    "w": st.sampled_from(DECIMALS), "s": st.sampled_from(STRINGS), "f": st.sampled_from(INTEGERS),
    "o": st.sampled_from(ORDERS), "filter": FILTER,
}  # fmt: skip
_hostile = st.sampled_from(HOSTILE)
_scalars = (
    _hostile
    | st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
# Documents, with the variables each reads: pages, cursors, IDs, decimals, search
# strings, enums and input objects; and documents that are refused whatever they hold.
DOCUMENTS = {
    "{ __typename }": (),
    "query($f: Int, $a: String, $o: ContractOrder) { contracts(first: $f, after: $a, orderBy: $o) { nodes { id } } }": ("f", "a", "o"),
    "query($s: String, $v: Decimal, $w: Decimal) { contracts(first: 2, filter: {search: $s, valueMin: $v, valueMax: $w}) { totalCount } }": ("s", "v", "w"),
    "query($filter: ContractFilter) { contracts(first: 1, filter: $filter) { nodes { id } } }": ("filter",),
    "query($id: ID!) { node(id: $id) { id } }": ("id",),
    "query($f: Int, $a: String, $s: String) { suppliers(first: $f, after: $a, filter: {search: $s}) { nodes { name } } }": ("f", "a", "s"),
    "query($f: Int, $a: String) { agencies(first: $f, after: $a) { nodes { name } } }": ("f", "a"),
    "query($f: Int, $a: String) { procurements(first: $f, after: $a) { nodes { number } } }": ("f", "a"),
    "query($id: ID!, $f: Int) { investigation(id: $id) { id } investigations(first: $f) { totalCount } }": ("id", "f"),
    "query A { __typename } query B { __typename }": (),
    'subscription { investigationEvents(id: "x") { __typename } }': (),
    'mutation { cancelInvestigation(id: "x") { status } }': (),
    "{ contracts(first: 1) { nodes { id ...F } } } fragment F on Contract { number }": (),
    "{": (),
}  # fmt: skip
_extensions = _values | st.fixed_dictionaries({"persistedQuery": _values})
_members = {
    "operationName": st.sampled_from(["A", "B"]) | _values,
    "variables": _values,
    "extensions": _extensions,
}
_anything = st.fixed_dictionaries({}, optional={"query": _values, **_members})


def _weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight says (st.one_of draws each
    branch equally, and dedups a branch given twice)."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda chosen: chosen
    )


def _with_document(document: str) -> st.SearchStrategy[Params]:
    """The document, with a value for each of its variables: mostly one aimed at the kind
    of argument it goes to, sometimes any JSON."""
    variables = st.fixed_dictionaries(
        {name: _weighted((3, BY_VARIABLE[name]), (1, _values)) for name in DOCUMENTS[document]}
    )
    return st.fixed_dictionaries({"query": st.just(document), "variables": variables})


# Mostly well-formed operations with hostile variables (they reach the resolvers), then
# any JSON in every member, batches of both, and JSON of any type.
_aimed = st.sampled_from([d for d in DOCUMENTS if DOCUMENTS[d]]).flatmap(_with_document)
_loose = st.sampled_from(list(DOCUMENTS)).flatmap(
    lambda document: st.fixed_dictionaries({"query": st.just(document)}, optional=_members)
)
_operation = _aimed | _loose | _anything
_body_values = _aimed | _operation | st.lists(_operation | _values, max_size=4) | _values


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


_bodies = st.one_of(
    _body_values.map(_json_bytes),
    st.binary(max_size=64),
    _body_values.map(_json_bytes).map(lambda b: b[: len(b) // 2]),  # cut short
)
_content_types = st.sampled_from(
    ["application/json", "APPLICATION/JSON; charset=UTF-8", "application/json; charset=latin-1",
     "text/plain", "application/graphql", "multipart/form-data", ""]
)  # fmt: skip
_accepts = st.sampled_from(
    ["", "*/*", "application/json", "application/graphql-response+json", "text/html",
     "application/json;q=0", "application/graphql-response+json;q=abc, */*;q=0.1",
     "application/*;q=0.5, text/csv", "foo, a/b/c, ;;;"]
)  # fmt: skip
_query_string = st.lists(
    st.tuples(
        st.sampled_from(["query", "variables", "operationName", "extensions", "x"]),
        st.sampled_from(list(DOCUMENTS)).map(str.encode)
        | _values.map(_json_bytes)
        | st.binary(max_size=16),
    ),
    max_size=4,
).map(lambda pairs: "&".join(f"{n}={quote_from_bytes(v)}" for n, v in pairs))  # fmt: skip


@dataclass
class Raw:
    method: str
    target: str
    body: bytes
    headers: dict[str, str]


_json_headers = st.fixed_dictionaries(
    {"content-type": st.just("application/json"), "accept": _accepts}
)
_aimed_raw = st.builds(
    Raw, st.just("POST"), st.just("/graphql"), _aimed.map(_json_bytes), _json_headers
)
_raw = _weighted(
    (3, _aimed_raw),
    (1, st.builds(Raw, st.just("POST"), st.just("/graphql"), _bodies, _json_headers)),
    (1, st.builds(Raw, st.just("POST"), st.just("/graphql"), _bodies,
                  st.fixed_dictionaries({"content-type": _content_types, "accept": _accepts}))),
    (1, st.builds(Raw, st.just("GET"), _query_string.map(lambda q: "/graphql?" + q), st.just(b""),
                  st.fixed_dictionaries({"accept": _accepts}))),
    (1, st.builds(Raw, st.sampled_from(["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "POST", "GET"]),
                  st.sampled_from(["/graphql", "/graphql/", "/", "/health", "/session", "/nowhere"]),
                  _bodies, st.fixed_dictionaries({"content-type": _content_types, "accept": _accepts}))),
)  # fmt: skip


def test_raw_requests_get_coded_json_answers(url: str) -> None:
    sent: list[Raw] = []
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        answers = []

        @hypothesis_settings(FUZZ, max_examples=RAW_CASES)
        @given(raw=_raw)
        def send(raw: Raw) -> None:
            sent.append(raw)
            headers = {k: v for k, v in raw.headers.items() if v}
            answers.append(
                pool.submit(
                    client.request, raw.method, raw.target, content=raw.body, headers=headers
                )
            )

        send()
        findings = [
            Finding(repr(raw), found)
            for raw, answer in zip(sent, answers, strict=True)
            if (found := problems(answer.result()))
        ]
    report = "\n".join(f"{f.request}\n  -> {f.problems}" for f in findings)
    assert len(sent) == RAW_CASES
    assert not findings, f"{len(findings)} of {len(sent)} requests:\n{report}"
