"""schema.graphql is the exported SDL of the code, and must stay equal to it."""

from __future__ import annotations

from cidadao_gql.execution.executable_schema import build_schema, sdl
from cidadao_gql.settings import Settings
from tests.conftest import ROOT


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(build_schema(Settings())), (
        "schema.graphql is stale: run `cidadao-gql export-schema --output schema.graphql`"
    )


def test_schema_names_the_fields_frontends_code_against() -> None:
    text = sdl(build_schema(Settings()))
    for name in (
        "agencies(",
        "suppliers(",
        "procurements(",
        "contracts(",
        "sanctions(",
        "spending(",
        "node(",
    ):
        assert f"  {name}" in text
    for type_name in ("Agency", "Supplier", "Procurement", "Item", "Award", "Contract", "Sanction"):
        assert f"type {type_name} implements Node" in text
