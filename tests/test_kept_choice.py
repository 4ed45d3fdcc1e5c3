"""A root page whose filter the ordering's index does not serve keeps the read the data layer
chose for it (compiled/sources.py) while the data version holds: later runs send the one
statement, and a write makes the next run choose again, never answer the old rows. Values of
closed sets are written into that statement (statement.literal)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.data.statement import literal
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from tests.conftest import Run, answer_bytes, statements_sent

# An agency named by its CNPJ (a key looked up by the choice) and a value range its walk by
# date does not serve (the choice: the walk, or the matches first).
QUERY = """query Kept($cnpj: String!) { contracts(first: 4, filter: {agencyCnpj: $cnpj,
  valueMin: "1000"}, orderBy: {field: SIGNED_ON, direction: DESC}) { totalCount
  nodes { id number finalValue signedOn } } }"""


async def _two_agencies(db: Database) -> tuple[tuple[int, str], tuple[int, str]]:
    rows = await db.fetch(
        """SELECT a.id, a.cnpj FROM agencies a WHERE a.contract_count > 10
            ORDER BY a.contract_count DESC, a.id LIMIT 2"""
    )
    return (rows[0]["id"], rows[0]["cnpj"]), (rows[1]["id"], rows[1]["cnpj"])


async def test_a_kept_choice_sends_one_statement_and_a_write_makes_it_choose_again(
    run: Run, db: Database, settings: Settings
) -> None:
    cache = TieredCache(replace(settings, cache_strategy="none"), db, None)
    await cache.versions.refresh()  # this instance's view of the versions, not polled after

    async def compiled(cnpj: str) -> tuple[bytes, int]:
        before = await db.round_trips.settled()
        context = Context(db, settings, Loaders(db, cache), None, "test")
        result = await run.schema.execute(
            QUERY, variable_values={"cnpj": cnpj}, context_value=context
        )
        assert result.errors is None, result.errors
        return answer_bytes(result), await db.round_trips.settled() - before

    async def ordinary(cnpj: str) -> bytes:
        return answer_bytes(await run.execute(QUERY, {"cnpj": cnpj}, compiled=False))

    (first_id, first), (second_id, second) = await _two_agencies(db)
    answers = [await compiled(first) for _ in range(3)]
    assert {a for a, _ in answers} == {await ordinary(first)}
    assert answers[0][1] >= 2  # the CNPJ looked up, then the statement
    assert [n for _, n in answers[1:]] == [1, 1]  # the choice kept: the statement alone
    # The CNPJ now names the other agency: the kept choice looked up the first one's id.
    swap = "UPDATE agencies SET cnpj = $2 WHERE id = $1"

    async def named(conn: Any, *pairs: tuple[int, str]) -> None:
        for pair in pairs:
            await conn.execute(swap, *pair)

    try:
        await db.write(lambda conn: named(conn, (first_id, "00000000000000"), (second_id, first)))
        moved, trips = await compiled(first)
        assert moved == await ordinary(first) != answers[0][0]
        assert trips >= 3  # the kept choice's statement, seen stale; chosen and answered again
        assert (await compiled(first))[1] >= 2  # not kept: made before this instance heard
        await cache.versions.refresh()  # of the write (its poll, or Redis)
        assert [(await compiled(first))[1] for _ in range(2)][1] == 1  # now kept
    finally:
        await db.write(lambda conn: named(conn, (second_id, second), (first_id, first)))
    assert (await compiled(first))[0] == answers[0][0]


async def test_without_a_cache_the_choice_is_made_on_every_run(run: Run) -> None:
    """No versions known (no cache: the tests' Run): nothing says when the data changed."""
    agency: Any = await run.db.fetchval(
        "SELECT cnpj FROM agencies WHERE contract_count > 10 ORDER BY id LIMIT 1"
    )
    assert await run.round_trips(QUERY, cnpj=agency) >= 2


async def test_values_of_closed_sets_are_written_in(run: Run, monkeypatch: Any) -> None:
    """A state, a modality and the page's size as literals (statement.literal): the
    statement passes no parameter, so PostgreSQL plans it once and keeps the plan."""
    sent = statements_sent(monkeypatch, run.db)
    query = """{ contracts(first: 5, filter: {uf: RJ, modality: DISPENSA},
      orderBy: {field: VALUE, direction: DESC}) { nodes { number supplier { name } } } }"""
    await run.data(query)
    ((text, args),) = [(t, a) for t, a in sent if "convert_to" in t]
    assert args == () and "'RJ'" in text and "= 8" in text and "LIMIT 6" in text
    # its first five of the six read, without numbering them all in a window
    assert "LIMIT 5" in text and "OVER (" not in text


def test_a_literal_is_quoted_and_only_of_ints_and_texts() -> None:
    assert [literal(8), literal("RJ"), literal("d'Oeste")] == ["8", "'RJ'", "'d''Oeste'"]
    for value in (True, 1.5, None):
        with pytest.raises(TypeError):
            literal(value)
