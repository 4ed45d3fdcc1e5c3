"""GraphiQL's worked examples (`cidadao_gql/web/graphiql_examples/`): each is a trusted
document once registered, asks for less than the default cost limit, and answers rows on
the data `serve` starts with and on any seeded data set (their variables name no CNPJ that
only one data set holds). The browser side is in test_graphiql.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest

from cidadao_gql.data.persisted import register_directory
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.settings import Settings
from cidadao_gql.web import graphiql
from cidadao_gql.web.app import create_app
from tests.conftest import DatabaseFactory, connect, live_server
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


@pytest.fixture(scope="module", params=[1, 7], ids=lambda seed: f"seed{seed}")
async def seeded(request: pytest.FixtureRequest, make_database: DatabaseFactory) -> Settings:
    """`db seed --contracts 10000 --seed N` without the PNCP sample: a journalist's data set."""
    url = await make_database()
    async with connect(url) as conn:
        scale = synthetic.Scale.for_contracts(10_000)
        dataset = synthetic.generate(scale, request.param, await loading.current_ids(conn))
        await loading.load_dataset(conn, dataset, lambda _: None)
    return Settings(database_url=url)


async def answer(settings: Settings, name: str) -> dict[str, Any]:
    document = EXAMPLES[name].read_text()
    async with live_server(create_app(settings)) as client:
        response = await client.post(
            "/graphql", json={"query": document, "variables": variables(name)}
        )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body


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


@pytest.mark.parametrize("name", QUESTIONS)
async def test_each_example_answers_rows_on_a_seeded_data_set(seeded: Settings, name: str) -> None:
    body = await answer(seeded, name)
    assert all(rows(value) > 0 for value in body["data"].values()), body["data"]


async def test_the_agency_example_s_keys_pick_one_agency(seeded: Settings) -> None:
    """Its comments say: copy a `key` of `largestAgencies` into "agency" and run it again."""
    name = "1-largest-suppliers"
    first = (await answer(seeded, name))["data"]
    largest = first["largestAgencies"]["nodes"][0]
    document = EXAMPLES[name].read_text()
    async with live_server(create_app(seeded)) as client:
        again = await client.post(
            "/graphql", json={"query": document, "variables": {"agency": largest["key"]}}
        )
    data = again.json()["data"]
    assert data["spending"]["nodes"] and data["contracts"]["nodes"]
    assert {c["agency"]["name"] for c in data["contracts"]["nodes"]} == {largest["label"]}
    spent = sum(Decimal(s["total"]) for s in data["spending"]["nodes"])
    assert spent <= Decimal(largest["total"])


async def test_the_state_example_s_keys_pick_one_state(seeded: Settings) -> None:
    """Its comments say: put a `key` of `states` into "uf" and run it again."""
    name = "4-spending-by-month"
    largest = (await answer(seeded, name))["data"]["states"]["nodes"][0]
    document = EXAMPLES[name].read_text()
    async with live_server(create_app(seeded)) as client:
        again = await client.post(
            "/graphql",
            json={"query": document, "variables": {**variables(name), "uf": largest["key"]}},
        )
    months = again.json()["data"]["spending"]["nodes"]
    assert months and sum(Decimal(m["total"]) for m in months) == Decimal(largest["total"])


async def test_the_price_example_s_code_picks_one_item(seeded: Settings) -> None:
    """Its comments say: copy a `catalogCode` and its `unit` into Variables and run it
    again; the awards are then that item's, priced within its summary's range."""
    name = "5-price-of-an-item"
    group = (await answer(seeded, name))["data"]["unitPrices"]["nodes"][0]
    document = EXAMPLES[name].read_text()
    chosen = {"code": group["catalogCode"], "unit": group["unit"]}
    async with live_server(create_app(seeded)) as client:
        again = await client.post("/graphql", json={"query": document, "variables": chosen})
    data = again.json()["data"]
    assert data["unitPrices"]["nodes"] == [group]
    awards = data["awards"]["nodes"]
    assert 0 < len(awards) <= group["awardCount"]
    for award in awards:
        assert (award["item"]["catalogCode"], award["item"]["unit"]) == tuple(chosen.values())
        low, price, high = (Decimal(v) for v in (group["minPrice"], award["unitPrice"],
                                                 group["maxPrice"]))  # fmt: skip
        assert low <= price <= high


async def sanctioned_suppliers_sell(settings: Settings) -> None:
    sanctions = (await answer(settings, "2-supplier-and-sanctions"))["data"]["sanctions"]["nodes"]
    suppliers = [s["supplier"] for s in sanctions if s["supplier"]]
    assert any(s["contracts"]["nodes"] for s in suppliers)
    assert any(s["awards"]["nodes"] for s in suppliers)


async def test_the_supplier_example_shows_sales_and_sanctions(trusted: Settings) -> None:
    await sanctioned_suppliers_sell(trusted)


async def test_the_supplier_example_shows_sales_and_sanctions_when_seeded(
    seeded: Settings,
) -> None:
    await sanctioned_suppliers_sell(seeded)


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
