"""GraphiQL's worked examples (`cidadao_gql/web/graphiql_examples/`): each is a trusted
document once registered, asks for less than the default cost limit, and answers rows on
the data `serve` starts with. The browser side is in test_graphiql.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

import orjson
import pytest

from cidadao_gql.data.persisted import register_directory
from cidadao_gql.settings import Settings
from cidadao_gql.web import graphiql
from cidadao_gql.web.app import create_app
from tests.conftest import connect, live_server
from tests.test_subscriptions import init, new_key, socket

EXAMPLES = {
    path.stem: path for path in sorted(graphiql.EXAMPLES_DIR.glob("*.graphql"))
}  # fmt: skip
INVESTIGATION = "6-investigation"
QUESTIONS = [name for name in EXAMPLES if name != INVESTIGATION]


@pytest.fixture
async def trusted(default_data_url: str) -> Settings:
    """The examples' data, serving only the registered documents (the examples among them)."""
    async with connect(default_data_url) as conn:
        await register_directory(conn, graphiql.EXAMPLES_DIR)
    return Settings(database_url=default_data_url, persisted_queries_only=True)


def variables(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLES[name].with_suffix(".json").read_text())
    return loaded


def rows(answer: Any) -> int:
    """Rows in a root field's answer: a list's elements, or a connection's nodes."""
    return len(answer if isinstance(answer, list) else answer["nodes"])


def test_the_page_is_ours_and_opens_every_example_as_a_tab() -> None:
    assert "<title>cidadão-gql" in graphiql.PAGE and "Strawberry" not in graphiql.PAGE
    tabs = graphiql.examples()
    assert [tab["query"] for tab in tabs] == [p.read_text() for p in EXAMPLES.values()]
    assert all(json.loads(tab["variables"]) for tab in tabs)
    embedded = json.dumps(tabs, ensure_ascii=False).replace("<", "\\u003c")
    assert embedded in graphiql.PAGE  # as JSON no `</script>` in an example can end early
    assert {"react", "react-dom", "graphiql", "@graphiql/plugin-explorer"} == set(
        graphiql.packages(graphiql.PAGE)
    )


@pytest.mark.parametrize("name", QUESTIONS)
async def test_each_example_is_trusted_costs_under_the_limit_and_answers_rows(
    trusted: Settings, name: str
) -> None:
    document = EXAMPLES[name].read_text()
    async with live_server(create_app(trusted)) as client:
        answer = await client.post(
            "/graphql", json={"query": document, "variables": variables(name)}
        )
    body = answer.json()
    assert "errors" not in body, body["errors"]
    assert body["extensions"]["cost"]["requestedQueryCost"] <= Settings().max_query_cost
    assert all(rows(value) > 0 for value in body["data"].values()), body["data"]


async def test_the_supplier_example_shows_sales_and_sanctions(trusted: Settings) -> None:
    name = "2-supplier-and-sanctions"
    async with live_server(create_app(trusted)) as client:
        answer = await client.post(
            "/graphql", json={"query": EXAMPLES[name].read_text(), "variables": variables(name)}
        )
    (supplier,) = answer.json()["data"]["suppliers"]["nodes"]
    assert supplier["sanctions"] and supplier["contracts"]["nodes"] and supplier["awards"]["nodes"]


async def test_the_item_example_s_hint_finds_real_pncp_purchases(trusted: Settings) -> None:
    """Its comments suggest "reagentes": procurements of the PNCP sample, of several
    agencies, whose items carry catalogue codes and awarded unit prices."""
    name = "5-price-of-an-item"
    document = EXAMPLES[name].read_text()
    assert '"reagentes"' in document
    async with live_server(create_app(trusted)) as client:
        answer = await client.post(
            "/graphql", json={"query": document, "variables": {"product": "reagentes"}}
        )
    procurements = answer.json()["data"]["procurements"]["nodes"]
    assert len({p["agency"]["name"] for p in procurements}) > 1
    items = [i for p in procurements for i in p["items"]["nodes"]]
    assert all(i["catalogCode"] for i in items)
    assert any(a["unitPrice"] for i in items for a in i["awards"]["nodes"])


async def test_the_investigation_example_starts_one_and_follows_it_live(
    trusted: Settings, redis_url: str
) -> None:
    settings = replace(trusted, redis_url=redis_url)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    document = EXAMPLES[INVESTIGATION].read_text()
    given = variables(INVESTIGATION)
    async with live_server(create_app(settings)) as client, socket(client) as ws:
        started = await client.post(
            "/graphql",
            json={"query": document, "variables": given, "operationName": "StartAnInvestigation"},
            headers={"authorization": f"Bearer {key}"},
        )
        body = started.json()
        assert "errors" not in body, body["errors"]
        assert body["extensions"]["cost"]["requestedQueryCost"] <= Settings().max_query_cost
        given["id"] = body["data"]["startInvestigation"]["id"]
        assert (await init(ws, key))["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": document, "variables": given, "operationName": "FollowItLive"}}).decode())  # fmt: skip
        kinds = []
        while (message := orjson.loads(await asyncio.wait_for(ws.recv(), 60)))["type"] == "next":
            assert "errors" not in message["payload"], message
            kinds += [
                e["kind"] for e in message["payload"]["data"]["investigationEvents"]["events"]
            ]
    assert message["type"] == "complete"
    assert kinds[0] == "CREATED" and kinds[-1] == "FINISHED"
