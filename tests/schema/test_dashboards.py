"""Dashboard and analyst pages (tests/dashboards.py) on the seeded database: each answers
what plain SQL answers, under the default cost limit, with a requested cost that bounds
the actual one; and shapes that multiply to far more rows than any of them reads stay
refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from tests.conftest import Run
from tests.dashboards import DASHBOARDS, Dashboard

ANALYST = User(id="dashboards", scopes=frozenset({"read"}))


@pytest.fixture(scope="module")
async def investigation(db: Database) -> AsyncIterator[str]:
    """A finished investigation of the analyst's, with findings on real contracts (the
    agents' own runs are tested in test_investigations; here only reading them)."""
    planted = uuid.uuid4()
    await db.execute(
        """INSERT INTO investigations (id, user_id, status, target, progress, created_at,
                                       finished_at, agents, summary, attempts)
           VALUES ($1, $2, 'completed', '{}', 1, now(), now(), '{}', 'planted', 1)""",
        planted,
        ANALYST.id,
    )
    await db.execute(
        """INSERT INTO findings (investigation_id, agent, kind, severity, score, evidence,
                                 summary, contract_ids, supplier_ids, agency_ids, award_ids)
           SELECT $1, 'price_outlier', 'kind' || n % 3, 'high', 1.0 / (1 + n % 7), '{"n": 1}',
                  'planted', ARRAY(SELECT id FROM contracts ORDER BY id OFFSET n
                                    LIMIT 1 + n % 12), '{}', '{}', '{}'
             FROM generate_series(0, 54) n""",
        planted,
    )
    yield str(planted)
    await db.execute("DELETE FROM findings WHERE investigation_id = $1", planted)
    await db.execute("DELETE FROM investigations WHERE id = $1", planted)


async def run_as_analyst(run: Run, query: str, variables: dict[str, Any]) -> Any:
    context = Context(run.db, run.settings, Loaders(run.db), ANALYST, "test")
    return await run.schema.execute(query, variable_values=variables, context_value=context)


def objects(value: Any) -> int:
    """The objects an answer holds: rows and the objects they name."""
    if isinstance(value, dict):
        return 1 + sum(objects(v) for v in value.values())
    if isinstance(value, list):
        return sum(objects(v) for v in value)
    return 0


async def answer(run: Run, dashboard: Dashboard, investigation: str) -> tuple[Any, dict[str, Any]]:
    variables = await dashboard.pick(run.db)
    if dashboard.name == "investigation findings":
        variables = {"id": investigation}
    result = await run_as_analyst(run, dashboard.query, variables)
    assert result.errors is None, (dashboard.name, result.errors)
    return result, variables


def test_there_are_at_least_twenty_dashboards() -> None:
    assert len(DASHBOARDS) >= 20
    assert len({d.name for d in DASHBOARDS}) == len(DASHBOARDS)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.name for d in DASHBOARDS])
async def test_a_dashboard_answers_what_sql_answers_under_the_limit(
    run: Run, investigation: str, dashboard: Dashboard
) -> None:
    result, variables = await answer(run, dashboard, investigation)
    await dashboard.check(run.db, result.data, variables)
    cost = result.extensions["cost"]
    assert cost["requestedQueryCost"] <= Settings().max_query_cost
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.name for d in DASHBOARDS])
async def test_a_dashboard_answers_the_same_on_the_ordinary_path(
    run: Run, investigation: str, dashboard: Dashboard
) -> None:
    """The compiled executor's answer and actual cost are the ordinary path's."""
    variables = await dashboard.pick(run.db)
    if dashboard.name == "investigation findings":
        variables = {"id": investigation}
    compiled = await run(dashboard.query, **variables)
    ordinary = await run.execute(dashboard.query, variables, compiled=False)
    assert compiled.extensions["cost"] == ordinary.extensions["cost"]


# Shapes that multiply: each nested page is read once per parent.
HURTFUL = {
    "contracts of contracts' suppliers": """{ agencies(first: 100) { nodes {
        contracts(first: 100) { nodes { supplier { contracts(first: 100) { nodes { number } } } } } } } }""",
    "every item of every procurement": """{ agencies(first: 100) { nodes {
        procurements(first: 100) { nodes { items(first: 100) { nodes { description } } } } } } }""",
    "100 agencies' 100 contracts": """{ agencies(first: 100) { nodes {
        contracts(first: 100) { nodes { number finalValue } } } } }""",
    "100 suppliers' totals": """{ suppliers(first: 100) { nodes { totals { totalValue } } } }""",
    "100 agencies' counts": """{ agencies(first: 100) { nodes { contracts { totalCount } } } }""",
}
# Rows each would read on the seeded database: its pages, per parent.
HURTFUL_ROWS = {
    "100 agencies' 100 contracts": """SELECT count(*) FROM (SELECT id FROM agencies ORDER BY id
        LIMIT 100) a CROSS JOIN LATERAL (SELECT 1 FROM contracts c WHERE c.agency_id = a.id
        LIMIT 100) c""",
    "100 suppliers' totals": """SELECT count(*) FROM contracts WHERE supplier_id IN
        (SELECT id FROM suppliers ORDER BY id LIMIT 100)""",
    "100 agencies' counts": """SELECT count(*) FROM contracts WHERE agency_id IN
        (SELECT id FROM agencies ORDER BY id LIMIT 100)""",
}


@pytest.mark.parametrize("name", sorted(HURTFUL))
async def test_shapes_that_multiply_stay_refused(run: Run, name: str) -> None:
    before = await run.db.round_trips.settled()
    error = await run.error(HURTFUL[name])
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"]
    assert await run.db.round_trips.settled() == before  # refused before any SQL


async def test_what_is_refused_reads_more_than_any_dashboard(run: Run, investigation: str) -> None:
    """The refused shapes whose reads the seeded data can show read more rows than the
    largest dashboard answer holds objects (on 1,000,000 contracts, far more: the seed
    holds 3,000)."""
    largest = 0
    for dashboard in DASHBOARDS:
        result, _ = await answer(run, dashboard, investigation)
        largest = max(largest, objects(result.data))
    for name, sql in HURTFUL_ROWS.items():
        rows = await run.db.fetchval(sql)
        assert rows > largest, (name, rows, largest)
