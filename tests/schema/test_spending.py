"""Spending: every group, page by page, equals one SQL GROUP BY, in each order."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date
from typing import Any

import orjson
import pytest

from cidadao_gql.data import aggregates, loaders
from cidadao_gql.data.aggregates import GroupPage
from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.data.filters import ContractWhere
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.ingestion.derived import refresh_derived
from cidadao_gql.schema.enums import Modality, Sphere
from cidadao_gql.schema.relay import MAX_PAGE, encode_id
from cidadao_gql.settings import Settings
from tests.conftest import DatabaseFactory, Run, connect
from tests.filter_plans import Recording

SPENDING = """query($group: SpendingGroupBy!, $filter: ContractFilter, $first: Int,
                    $after: String, $order: SpendingOrder) {
  spending(groupBy: $group, filter: $filter, first: $first, after: $after, orderBy: $order) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { key label contractCount total } }
  }
}"""
# Each group's key in SQL (of contracts `c`, agencies `a`), and as the API shows it.
KEYS: dict[str, tuple[str, Any]] = {
    "AGENCY": ("c.agency_id", lambda k: encode_id("Agency", k)),
    "SUPPLIER": ("c.supplier_id", lambda k: encode_id("Supplier", k)),
    "MONTH": ("date_trunc('month', c.signed_on)::date", lambda k: k.strftime("%Y-%m")),
    "YEAR": ("date_trunc('year', c.signed_on)::date", lambda k: k.strftime("%Y")),
    "MODALITY": ("c.modality", lambda k: Modality(k).name),
    "UF": ("coalesce(c.uf, '??')", str),
    "SPHERE": ("a.sphere", lambda k: Sphere(k).name),
}
SORTS = {"TOTAL": "total", "COUNT": "n", "KEY": "key"}
EVERY_GROUP_BY_KEY = GroupPage(100, "KEY", True)


async def expected(
    db: Database, group: str, sort: str, direction: str, where: str = "TRUE"
) -> list[tuple[Any, int, str]]:
    """The groups as one GROUP BY orders them (ties by key): (shown key, count, total)."""
    key, show = KEYS[group]
    order = f"{SORTS[sort]} {direction}" + ("" if sort == "KEY" else f", key {direction}")
    rows = await db.fetch(
        f"""SELECT {key} AS key, count(*) AS n, sum(c.final_value) AS total
              FROM contracts c JOIN agencies a ON a.id = c.agency_id WHERE {where}
             GROUP BY 1 ORDER BY {order}"""
    )
    return [(show(r["key"]), r["n"], str(r["total"])) for r in rows]


async def walk(run: Run, first: int, **variables: Any) -> list[tuple[Any, int, str]]:
    """Every page, following endCursor; each page's totalCount and pageInfo checked."""
    shown: list[tuple[Any, int, str]] = []
    after = None
    while True:
        page = (await run.data(SPENDING, first=first, after=after, **variables))["spending"]
        edges = page["edges"]
        shown += [(e["node"]["key"], e["node"]["contractCount"], e["node"]["total"]) for e in edges]
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        assert page["pageInfo"]["endCursor"] == (edges[-1]["cursor"] if edges else None)
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(shown)
            return shown
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("group", list(KEYS))
async def test_every_page_of_every_group_equals_one_group_by(
    run: Run, db: Database, group: str
) -> None:
    """Past the 100 groups the list stopped at before (SUPPLIER has about 1,400)."""
    orders = [("TOTAL", "DESC"), ("COUNT", "ASC"), ("KEY", "DESC"), ("KEY", "ASC")]
    for sort, direction in orders:
        want = await expected(db, group, sort, direction)
        first = max(2, min(100, len(want) // 3))  # three pages or more, where there are
        order = {"field": sort, "direction": direction}
        assert await walk(run, first, group=group, order=order) == want, (sort, direction)


async def test_page_sizes_share_one_aggregate_in_the_cache(
    db: Database, settings: Settings
) -> None:
    """Issue 23: the mixed workload asks spending by supplier in one UF `first` 5 to 50,
    each size a cold aggregate of the same contracts while the cache held the others. Up
    to the largest page (`loaders.SHARED_PAGE`), every size is the first rows of one
    cached page: one GROUP BY for all of them (and one after a cursor), each page the
    GROUP BY's own rows."""
    assert loaders.SHARED_PAGE == MAX_PAGE
    uf = await db.fetchval("SELECT uf FROM contracts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    want = [(r["key"], r["n"], r["total"]) for r in await db.fetch(
        "SELECT supplier_id::text AS key, count(*) AS n, sum(final_value) AS total"
        " FROM contracts WHERE uf = $1 GROUP BY supplier_id ORDER BY 3 DESC, supplier_id DESC", uf)]  # fmt: skip
    assert len(want) > MAX_PAGE + 2
    recording = Recording(db)
    cached = loaders.Loaders(recording, TieredCache(replace(settings, cache_strategy="memory"),
                                                    db, None))  # fmt: skip
    where = ContractWhere(uf=uf)
    for first in [*range(5, 51), MAX_PAGE]:
        rows = await cached.spending("SUPPLIER", where, GroupPage(first, "TOTAL", True))
        assert [(r["raw_key"], r["contract_count"], r["total"]) for r in rows] == want[: first + 1]
    cursor = (want[9][2], int(want[9][0]))
    for first in (3, 30):
        page = GroupPage(first, "TOTAL", True, cursor)
        rows = await cached.spending("SUPPLIER", where, page)
        assert [r["raw_key"] for r in rows] == [k for k, _, _ in want[10 : 11 + first]]
    assert len(recording.sent) == 2, recording.sent


async def test_supplier_groups_go_past_a_hundred(run: Run, db: Database) -> None:
    want = await expected(db, "SUPPLIER", "TOTAL", "DESC")
    assert len(want) > 100
    assert await walk(run, 100, group="SUPPLIER") == want


@pytest.mark.parametrize(("group", "sort"), [("MONTH", "KEY"), ("YEAR", "KEY"), ("UF", "TOTAL")])
async def test_the_default_order_is_the_latest_period_or_the_largest_total(
    run: Run, db: Database, group: str, sort: str
) -> None:
    want = await expected(db, group, sort, "DESC")
    page = (await run.data(SPENDING, group=group))["spending"]
    assert [(e["node"]["key"], e["node"]["contractCount"], e["node"]["total"])
            for e in page["edges"]] == want[:20]  # fmt: skip
    if group == "MONTH":
        latest = await db.fetchval("SELECT to_char(max(signed_on), 'YYYY-MM') FROM contracts")
        assert page["edges"][0]["node"]["key"] == latest


async def test_a_filter_is_walked_as_the_contracts_it_matches(run: Run, db: Database) -> None:
    where = "c.signed_on >= '2023-01-01' AND c.modality = 8"
    want = await expected(db, "AGENCY", "TOTAL", "DESC", where)
    shown = await walk(
        run, 7, group="AGENCY", filter={"signedFrom": "2023-01-01", "modality": "DISPENSA"}
    )
    assert shown == want and len(want) > 7
    agency = await db.fetchval("SELECT name FROM agencies WHERE id = $1", 1)
    labels = await run.data(SPENDING, group="AGENCY", filter={"agency": encode_id("Agency", 1)})
    assert [e["node"]["label"] for e in labels["spending"]["edges"]] == [agency]


async def test_a_month_past_a_cursor_starts_where_the_last_page_ended(run: Run) -> None:
    first = (await run.data(SPENDING, group="MONTH", first=2))["spending"]
    ascending = {"field": "KEY", "direction": "ASC"}
    second = (
        await run.data(SPENDING, group="MONTH", first=2, after=first["pageInfo"]["endCursor"])
    )["spending"]
    keys = [e["node"]["key"] for e in first["edges"] + second["edges"]]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 4
    oldest = (await run.data(SPENDING, group="MONTH", first=1, order=ascending))["spending"]
    assert oldest["edges"][0]["node"]["key"] < keys[-1]


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode()


@pytest.mark.parametrize(
    ("after", "code"),
    [
        ("nonsense", "INVALID_CURSOR"),
        (_cursor("TOTAL_DESC", "UF", "10.00", "SP"), "INVALID_CURSOR"),  # another grouping's
        (_cursor("KEY_DESC", "MONTH", "2024-01-01", "2024-01-01"), "INVALID_CURSOR"),  # order
        (_cursor("TOTAL_DESC", "MONTH", "1e3", "2024-01-01"), "INVALID_CURSOR"),
        (_cursor("TOTAL_DESC", "MONTH", "10.00", "2024-13-01"), "INVALID_CURSOR"),
        (_cursor("TOTAL_DESC", "MONTH", "10.00", 1), "INVALID_CURSOR"),
        (_cursor("TOTAL_DESC", "MONTH", "10.00"), "INVALID_CURSOR"),
    ],
)
async def test_a_cursor_not_written_for_this_list_is_refused(
    run: Run, after: str, code: str
) -> None:
    order = {"field": "TOTAL", "direction": "DESC"}
    error = await run.error(SPENDING, group="MONTH", after=after, order=order)
    assert error["extensions"]["code"] == code
    assert error["path"] == ["spending"]


@pytest.mark.parametrize(
    ("group", "order", "value", "key"),
    [
        ("MONTH", "TOTAL_DESC", "10.00", "2024-01-15"),  # not a month's first day
        ("YEAR", "TOTAL_DESC", "10.00", "2024-03-01"),  # not a year's
        ("MONTH", "KEY_DESC", "2024-02-01", "2024-01-01"),  # by key: the value is the key
        ("UF", "KEY_ASC", "SP", "RJ"),
        ("MONTH", "KEY_ASC", "2024-01-15", "2024-01-15"),
    ],
)
async def test_a_cursor_of_this_list_naming_no_group_it_writes_is_refused(
    run: Run, group: str, order: str, value: str, key: str
) -> None:
    field, direction = order.rsplit("_", 1)
    given = {"field": field, "direction": direction}
    after = _cursor(order, group, value, key)
    error = await run.error(SPENDING, group=group, after=after, order=given)
    assert error["extensions"]["code"] == "INVALID_CURSOR"


async def test_a_cursor_as_written_is_taken(run: Run) -> None:
    order = {"field": "TOTAL", "direction": "DESC"}
    after = _cursor("TOTAL_DESC", "MONTH", "10.00", "2024-01-01")
    await run.data(SPENDING, group="MONTH", after=after, order=order)


@pytest.mark.parametrize("first", [0, 101, -1])
async def test_a_page_is_1_to_100_groups(run: Run, first: int) -> None:
    error = await run.error(SPENDING, group="UF", first=first)
    assert error["extensions"]["code"] == "INVALID_PAGE_SIZE"


def relations_read(node: dict[str, Any]) -> set[str]:
    """The tables and views a plan (`EXPLAIN (ANALYZE, FORMAT JSON)`) scanned: the nodes
    that ran, not those a one-time filter left never executed."""
    own = {node["Relation Name"]} if "Relation Name" in node and node["Actual Loops"] else set()
    return own.union(*(relations_read(child) for child in node.get("Plans", ())))


async def test_overviews_add_up_the_cells_until_a_write_goes_around_the_writers(
    make_database: DatabaseFactory,
) -> None:
    """Months, years, UFs, modalities and spheres under no filter are read from the cells'
    rollups (migration 0021), under UF, modality and whole years (but months) added up
    from the cells per year (0021), under UF, modality and whole months from spending's
    cells (migration 0013), while they are current; any other filter, or a write since the
    last refresh, reads the contracts: one statement, which reads the mark and runs one
    way. All answer the same, page by page."""
    url = await make_database()
    async with connect(url) as conn:
        dataset = synthetic.generate(synthetic.Scale.for_contracts(600), 3, {})
        await loading.load_dataset(conn, dataset, lambda _: None)
    async with open_database(replace(Settings(), database_url=url)) as db:

        async def page(
            group: str, where: ContractWhere, request: GroupPage = EVERY_GROUP_BY_KEY
        ) -> tuple[str, list[Any]]:
            recording = Recording(db)
            got = await aggregates.fetch_spending(recording, group, where, request)
            ((sent, args),) = recording.sent  # the mark is read by the page's statement
            plan = await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sent}", *args)
            read = relations_read(orjson.loads(plan)[0]["Plan"])
            kept = ("rollups", "year_cells", "cells")
            source = next((s for s in kept if f"spending_{s}" in read), "")
            assert source or read >= {"contracts"}
            return source or "contracts", [
                (r["raw_key"], r["contract_count"], r["total"]) for r in got
            ]

        async def truth(group: str, where: str = "TRUE") -> list[Any]:
            rows = await db.fetch(f"""SELECT g.key::text AS key, g.n, g.total FROM (
                SELECT {KEYS[group][0]} AS key, count(*) AS n, sum(c.final_value) AS total
                  FROM contracts c JOIN agencies a ON a.id = c.agency_id
                 WHERE {where} GROUP BY 1) g ORDER BY g.key DESC""")  # fmt: skip
            return [(r["key"], r["n"], r["total"]) for r in rows]

        async def walked(group: str, first: int, descending: bool) -> tuple[set[str], list[Any]]:
            """Every page of `first` groups by key, each from where the last one ended."""
            sources: set[str] = set()
            found: list[Any] = []
            after: tuple[Any, Any] | None = None
            while True:
                request = GroupPage(first, "KEY", descending, after)
                source, rows = await page(group, ContractWhere(), request)
                sources.add(source)
                found += rows[:first]
                if len(rows) <= first:
                    return sources, found
                key = rows[first - 1][0]
                after = aggregates.read_position(group, "KEY", key, key)

        async def counted(group: str) -> int:
            return await aggregates.count_spending_groups(db, group, ContractWhere())

        months = ContractWhere(uf="SP", signed_from=date(2023, 2, 1), signed_to=date(2024, 2, 29))
        spot = "c.uf = 'SP' AND c.signed_on BETWEEN '2023-02-01' AND '2024-02-29'"
        for group in ("MONTH", "YEAR", "UF", "MODALITY", "SPHERE"):
            everything = await truth(group)
            assert await page(group, ContractWhere()) == ("rollups", everything)
            assert await counted(group) == len(everything) > 1
            for descending in (True, False):
                ordered = everything if descending else everything[::-1]
                assert await walked(group, 2, descending) == ({"rollups"}, ordered)
        assert await db.fetchval("SELECT count(*) FROM spending_rollups") == sum(
            [len(await truth(g)) for g in ("MONTH", "YEAR", "UF", "MODALITY", "SPHERE")]
        )
        assert await page("MONTH", months) == ("cells", await truth("MONTH", spot))
        years = ContractWhere(
            modality=6, signed_from=date(2023, 1, 1), signed_to=date(2024, 12, 31)
        )
        within = "c.modality = 6 AND c.signed_on BETWEEN '2023-01-01' AND '2024-12-31'"
        assert len(await truth("YEAR", within)) == 2 and len(await truth("UF", within)) > 2
        for group in ("YEAR", "UF", "MODALITY", "SPHERE"):
            assert await page(group, years) == ("year_cells", await truth(group, within))
            assert await page(group, months) == ("cells", await truth(group, spot))
        assert await page("MONTH", years) == ("cells", await truth("MONTH", within))
        assert await page("UF", ContractWhere(uf="RJ")) == (
            "year_cells", await truth("UF", "c.uf = 'RJ'"))  # fmt: skip
        for other in (ContractWhere(signed_from=date(2023, 2, 2)), ContractWhere(agency_ids=(1,))):
            assert (await page("MONTH", other))[0] == "contracts"
        assert (await page("AGENCY", ContractWhere()))[0] == "contracts"
        await db.execute(
            """INSERT INTO contracts (agency_id, supplier_id, number, object, modality, uf,
                                      initial_value, final_value, signed_on)
               SELECT agency_id, supplier_id, 'x', 'x', modality, uf, 1, 1000000, '2020-01-15'
                 FROM contracts LIMIT 1"""
        )
        stale = await page("MONTH", ContractWhere())
        assert stale == ("contracts", await truth("MONTH")) and stale[1][-1][0] == "2020-01-01"
        assert await page("UF", months) == ("contracts", await truth("UF", spot))
        async with connect(url) as conn:
            await refresh_derived(conn)
        assert await page("MONTH", ContractWhere()) == ("rollups", stale[1])
        await db.execute(
            """UPDATE agencies SET sphere = CASE sphere WHEN 'F' THEN 'M' ELSE 'F' END
                WHERE id = (SELECT min(agency_id) FROM contracts)"""
        )
        assert await page("SPHERE", ContractWhere()) == ("contracts", await truth("SPHERE"))
        async with connect(url) as conn:
            await refresh_derived(conn)
        for group in ("YEAR", "SPHERE"):
            assert await page(group, ContractWhere()) == ("rollups", await truth(group))
