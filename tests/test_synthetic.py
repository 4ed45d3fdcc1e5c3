"""The synthetic generator: deterministic, shaped like the real thing, ground truth exact."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np

from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.ingestion.vocabulary import CATALOGUE, CATALOGUE_CODES, CATEGORIES
from cidadao_gql.law import direct_purchase_limits
from cidadao_gql.taxids import is_valid_cnpj, is_valid_cpf
from tests.conftest import DatabaseFactory, connect

SCALE = synthetic.Scale.for_contracts(20_000)


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = synthetic.generate(SCALE, 11)
    again = synthetic.generate(SCALE, 11)
    other = synthetic.generate(SCALE, 12)
    for name, table in first.tables.items():
        assert list(table.records(0, len(table))) == list(again.tables[name].records(0, len(table)))
    assert first.planted == again.planted
    assert first.tables["contracts"].data[8] != other.tables["contracts"].data[8]


def test_shapes_are_realistic() -> None:
    data = synthetic.generate(SCALE, 3)
    contracts = data.tables["contracts"]
    values = np.array(contracts.data[8])
    logs = np.log(values[values > 0])
    # log-normal: the log is symmetric and the mean far above the median
    assert abs(float(np.mean(logs) - np.median(logs))) < 0.3
    assert float(np.mean(values)) > 2 * float(np.median(values))
    # Zipf-like suppliers: the busiest 1 % hold far more than 1 % of contracts
    per_supplier = sorted(Counter(contracts.data[2]).values(), reverse=True)
    top = per_supplier[: max(1, SCALE.suppliers // 100)]
    assert sum(top) > 0.15 * len(values)
    # seasonal: December busier than January
    months = Counter(d.month for d in contracts.data[10])
    assert months[12] > 1.8 * months[1]
    suppliers = data.tables["suppliers"]
    assert all(
        is_valid_cpf(doc) if kind == "PF" else is_valid_cnpj(doc)
        for doc, kind in zip(suppliers.data[1], suppliers.data[2], strict=True)
    )
    assert len(set(suppliers.data[1])) == len(suppliers.data[1])
    assert all(is_valid_cnpj(c) for c in data.tables["agencies"].data[1])


async def test_loaded_ground_truth_matches_its_definitions(make_database: DatabaseFactory) -> None:
    url = await make_database()
    data = synthetic.generate(SCALE, 5)
    async with connect(url) as conn:
        await loading.load_dataset(conn, data, lambda _: None)
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in loading.LOAD_ORDER}
        planted = Counter(r["kind"] for r in await conn.fetch("SELECT kind FROM planted_anomalies"))
        over_ceiling = await conn.fetch(
            "SELECT id FROM contracts WHERE final_value > initial_value * 1.25 ORDER BY id"
        )
        planted_over = await conn.fetch(
            "SELECT entity_id AS id FROM planted_anomalies WHERE kind = 'amendment_over_ceiling' ORDER BY 1"
        )
        sanctioned = await conn.fetchval(
            """SELECT count(*) FROM contracts c JOIN suppliers s ON s.id = c.supplier_id
                 JOIN sanctions x ON x.supplier_document = s.document
                WHERE c.signed_on BETWEEN x.starts_on AND coalesce(x.ends_on, 'infinity')"""
        )
        splits = await conn.fetch(
            """SELECT p.details->>'cluster' AS cluster, min(c.signed_on) AS first,
                      max(c.signed_on) - min(c.signed_on) AS span, count(DISTINCT c.agency_id) AS agencies,
                      bool_and(c.modality = 8) AS dispensa, max(c.final_value) AS largest,
                      sum(c.final_value) AS total
                 FROM planted_anomalies p JOIN contracts c ON c.id = p.entity_id
                WHERE p.kind = 'split_purchase' GROUP BY 1"""
        )
        new_suppliers = await conn.fetchval(
            """SELECT bool_and(first - s.registered_on BETWEEN 1 AND 30) FROM planted_anomalies p
                 JOIN suppliers s ON s.id = p.entity_id
                 JOIN LATERAL (SELECT min(signed_on) AS first FROM contracts WHERE supplier_id = s.id) f ON true
                WHERE p.kind = 'new_supplier'"""
        )
    assert counts["contracts"] == 20_000
    assert counts["agencies"] == SCALE.agencies and counts["suppliers"] == SCALE.suppliers
    assert set(planted) == {
        "amendment_over_ceiling", "near_duplicate", "split_purchase", "sanctioned_supplier",
        "new_supplier", "price_outlier", "concentration", "benford",
    }  # fmt: skip
    assert [r["id"] for r in over_ceiling] == [r["id"] for r in planted_over]
    assert sanctioned == planted["sanctioned_supplier"]
    for cluster in splits:
        limit = direct_purchase_limits(cluster["first"]).other_services_and_purchases
        assert cluster["agencies"] == 1 and cluster["dispensa"] and cluster["span"] <= 25
        assert cluster["largest"] < limit < cluster["total"]
    assert new_suppliers is True
    assert isinstance(splits[0]["total"], Decimal)


async def test_items_are_what_their_procurement_buys(make_database: DatabaseFactory) -> None:
    """A domain reader's checks, in SQL on the loaded set: each item is a catalogue product
    of its procurement's category, in that product's unit, its first item the product the
    object names ("gasolina comum" is bought in litres, not ampoules); no item is named
    by its code alone."""
    url = await make_database()
    async with connect(url) as conn:
        dataset = synthetic.generate(synthetic.Scale.for_contracts(3000), 11)
        await loading.load_dataset(conn, dataset, lambda _: None)
        rows = await conn.fetch(
            """SELECT p.object, i.number, i.description, i.unit, i.catalog_code
                 FROM items i JOIN procurements p ON p.id = i.procurement_id"""
        )
        fuel_units = await conn.fetch(
            """SELECT DISTINCT i.unit FROM items i JOIN procurements p ON p.id = i.procurement_id
                WHERE p.object LIKE '%gasolina comum%'"""
        )
    by_description = {entry[0]: (product, entry) for product, entry in CATALOGUE.items()}
    assert rows
    for row in rows:
        verb, _, rest = row["object"].partition(": ")
        product, entry = by_description[row["description"]]
        category = dict(CATEGORIES)[verb]
        assert product in category, (row["object"], row["description"])
        assert (row["unit"], row["catalog_code"]) == (entry[1], CATALOGUE_CODES[product])
        if row["number"] == 1:
            assert rest.startswith(f"{product} para "), (row["object"], product)
    assert [r["unit"] for r in fuel_units] == ["Litro"]


def test_unrelated_agencies_do_not_share_values() -> None:
    """Direct purchases drawn above half the art. 75 II limit were set to it: hundreds of
    contracts of unrelated agencies at exactly R$ 31,362.80. No value is now shared by more
    than a couple of agencies (the planted near-duplicates share one agency)."""
    dataset = synthetic.generate(synthetic.Scale.for_contracts(20_000), 20_261_129)
    table = dataset.tables["contracts"]
    values = table.data[table.columns.index("initial_value")]
    agencies = table.data[table.columns.index("agency_id")]
    seen: dict[float, set[int]] = {}
    for value, agency in zip(values, agencies, strict=True):
        seen.setdefault(value, set()).add(agency)
    assert max(len(a) for a in seen.values()) <= 2
    assert 31_362.80 not in seen and 29_953.01 not in seen
