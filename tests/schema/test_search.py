"""Search speaks Portuguese as typed (issue 17): with or without accents, in any case, the
same rows, for contracts and procurements (full text) and agencies and suppliers (names)."""

from __future__ import annotations

import re
import unicodedata

import pytest

from cidadao_gql.data.db import Database
from tests.conftest import Run

CONTRACTS = """query($f: ContractFilter) {
  contracts(first: 100, filter: $f) { totalCount nodes { id } } }"""
PROCUREMENTS = """query($f: ProcurementFilter) {
  procurements(first: 100, filter: $f) { totalCount nodes { id } } }"""
AGENCIES = """query($f: AgencyFilter) {
  agencies(first: 100, filter: $f) { totalCount nodes { id } } }"""
SUPPLIERS = """query($f: SupplierFilter) {
  suppliers(first: 100, filter: $f) { totalCount nodes { id } } }"""


async def rows(run: Run, query: str, field: str, search: str) -> tuple[int, list[str]]:
    page = (await run.data(query, f={"search": search}))[field]
    return page["totalCount"], [n["id"] for n in page["nodes"]]


def plain(text: str) -> str:
    """Lower case without accents, by Unicode decomposition (not PostgreSQL's unaccent)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.mark.parametrize(
    ("query", "field", "spellings", "words"),
    [
        (CONTRACTS, "contracts", ['"óleo diesel"', '"oleo diesel"', '"ÓLEO DIESEL"'], "oleo diesel"),
        (CONTRACTS, "contracts", ["combustíveis", "combustiveis", "COMBUSTIVEIS"], "combustiveis"),
        (PROCUREMENTS, "procurements", ["combustíveis", "combustiveis"], "combustiveis"),
        (AGENCIES, "agencies", ["município de", "municipio de", "MUNICIPIO DE"], "municipio de"),
        (AGENCIES, "agencies", ["são", "SAO"], "sao"),
        (SUPPLIERS, "suppliers", ["Líder", "lider", "LIDER"], "lider"),
    ],
)  # fmt: skip
async def test_accents_and_case_do_not_change_the_rows(
    run: Run, db: Database, query: str, field: str, spellings: list[str], words: str
) -> None:
    # Objects are searched by word (full text), names by substring.
    column, pattern = (
        ("object", rf"\b{words}\b") if field in ("contracts", "procurements") else ("name", words)
    )
    texts = await db.fetch(f"SELECT {column} AS text FROM {field}")
    expected = sum(re.search(pattern, plain(r["text"])) is not None for r in texts)
    answers = [await rows(run, query, field, s) for s in spellings]
    assert expected > 0
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == expected
    assert len(answers[0][1]) == min(expected, 100)


@pytest.mark.parametrize(
    ("query", "field"),
    [(CONTRACTS, "contracts"), (PROCUREMENTS, "procurements"), (AGENCIES, "agencies"),
     (SUPPLIERS, "suppliers")],
)  # fmt: skip
async def test_a_blank_search_is_no_filter(run: Run, db: Database, query: str, field: str) -> None:
    everything = await db.fetchval(f"SELECT count(*) FROM {field}")
    for blank in ("", " ", "   ", "\t \n"):
        assert (await rows(run, query, field, blank))[0] == everything
