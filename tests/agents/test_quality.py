"""Each agent against the synthetic generator's planted anomalies: precision and recall
(`pytest tests/agents -s -p no:randomly` prints the table the README shows)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from decimal import Decimal

import pytest

from cidadao_gql.agents import AGENTS, Agent, Finding, Target
from cidadao_gql.agents.patterns import SplitPurchase
from cidadao_gql.agents.statistics import Concentration, benford_deviation, first_digit
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.settings import Settings
from tests.conftest import DatabaseFactory, connect

CONTRACTS = 20_000
SEED = 11


@pytest.fixture(scope="module")
async def seeded(make_database: DatabaseFactory) -> AsyncIterator[Database]:
    url = await make_database()
    async with connect(url) as conn:
        data = synthetic.generate(synthetic.Scale.for_contracts(CONTRACTS), SEED, {})
        await loading.load_dataset(conn, data, lambda _: None)
    async with open_database(Settings(database_url=url)) as db:
        yield db


def flagged(agent: Agent, findings: Iterable[Finding]) -> set[object]:
    """What the findings point at, in the units the ground truth uses."""
    if agent.kind == "near_duplicate":
        return {frozenset(f.contract_ids) for f in findings}
    if agent.kind == "new_supplier":
        return {s for f in findings for s in f.supplier_ids}
    if agent.kind == "price_outlier":
        return {a for f in findings for a in f.award_ids}
    if agent.kind in ("concentration", "benford"):
        return {a for f in findings for a in f.agency_ids}
    return {c for f in findings for c in f.contract_ids}


async def planted(db: Database, kind: str) -> set[object]:
    rows = await db.fetch("SELECT entity_id, details FROM planted_anomalies WHERE kind = $1", kind)
    if kind == "near_duplicate":
        return {frozenset((r["entity_id"], r["details"]["duplicate_of"])) for r in rows}
    return {r["entity_id"] for r in rows}


@pytest.mark.parametrize("agent", AGENTS, ids=lambda a: a.name)
async def test_precision_and_recall_are_at_least_ninety_five_percent(
    seeded: Database, agent: Agent
) -> None:
    findings = await agent.run(seeded, Target())
    found, truth = flagged(agent, findings), await planted(seeded, agent.kind)
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth)
    print(f"\n| {agent.name} | {len(truth)} | {len(found)} | {precision:.3f} | {recall:.3f} |")
    assert len(truth) >= 3
    assert precision >= 0.95, (precision, sorted(map(str, found - truth))[:10])
    assert recall >= 0.95, (recall, sorted(map(str, truth - found))[:10])


async def test_findings_explain_themselves(seeded: Database) -> None:
    for agent in AGENTS:
        for finding in (await agent.run(seeded, Target()))[:5]:
            assert finding.summary and finding.evidence
            assert 0.0 <= finding.score <= 1.0
            assert finding.severity in ("low", "medium", "high", "critical")


async def test_concentration_targeting_a_supplier_reports_its_share_of_the_agency(
    seeded: Database,
) -> None:
    """Targeting one supplier once reported "100 % of the agency's N contracts" for every
    agency it sold to; the share is of all the agency's contracts."""
    supplier = await seeded.fetchval(
        """SELECT supplier_id FROM contracts GROUP BY 1
            ORDER BY count(DISTINCT agency_id) DESC, 1 LIMIT 1"""
    )
    findings = await Concentration().run(seeded, Target(supplier_ids=(supplier,)))
    shares = {
        r["agency_id"]: r["share"]
        for r in await seeded.fetch(
            """SELECT agency_id, avg((supplier_id = $1)::int)::float AS share FROM contracts
                GROUP BY 1 HAVING count(*) >= 50""",
            supplier,
        )
    }
    assert {f.agency_ids[0] for f in findings} == {a for a, s in shares.items() if s >= 0.5}
    for f in findings:
        assert f.evidence["value"] == round(shares[f.agency_ids[0]], 4)


def test_first_digits_come_from_the_decimal_value() -> None:
    assert first_digit(Decimal("999999.99")) == 9
    assert first_digit(Decimal("9999999.99")) == 9
    assert first_digit(Decimal("0.05")) == 5
    assert first_digit(Decimal("100.00")) == 1
    _, _, counts = benford_deviation([Decimal("999999.99"), Decimal("1.00")])
    assert counts == [1, 0, 0, 0, 0, 0, 0, 0, 1]


async def test_every_planted_split_cluster_is_found_whole(seeded: Database) -> None:
    """Clusters "para a Secretaria de Obras" were once judged against the works limit: one
    of R$ 98,746.74 against the R$ 50,000 limit went unflagged."""
    findings = await SplitPurchase().run(seeded, Target())
    clusters: dict[int, set[int]] = {}
    for r in await seeded.fetch(
        "SELECT entity_id, details FROM planted_anomalies WHERE kind = 'split_purchase'"
    ):
        clusters.setdefault(r["details"]["cluster"], set()).add(r["entity_id"])
    found = [set(f.contract_ids) for f in findings]
    assert all(any(cluster <= f for f in found) for cluster in clusters.values())
