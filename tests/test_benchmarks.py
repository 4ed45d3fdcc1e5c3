"""The benchmarks ask what the schema answers, and the README's Performance tables are the
committed results (benchmarks/readme.py writes them). No server, no load: these run with
the suite."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import GraphQLError, OperationDefinitionNode, build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the benchmarks import each other as scripts do

import readme  # noqa: E402  # benchmarks/readme.py, found through the path above

# PostGraphile's own schema: benchmarks/compiled.py's PG_ constants, and the `postgraphile`
# field of benchmarks/peers.py's shapes (written for PostGraphile v4 and v5 alike).
PEER_QUERIES = ("PG_", "postgraphile")


def benchmark_queries() -> dict[str, str]:
    """Every GraphQL operation written in a benchmark, by `module.NAME`, `module.NAME[key]`
    inside a dict of them, or `module.NAME[name].field` for the fields of the dataclasses
    in a tuple of them (peers.SHAPES)."""
    found: dict[str, str] = {}
    for path in sorted(BENCHMARKS.glob("*.py")):
        module = importlib.import_module(path.stem)
        for name, value in vars(module).items():
            if name.startswith(PEER_QUERIES) or not name.isupper():
                continue
            for where, text in _texts(f"{path.stem}.{name}", value):
                if _is_operation(text):
                    found[where] = text
    for shape in json.loads((BENCHMARKS / "outside_shapes.json").read_text()):
        found[f"outside_shapes[{shape['name']}].ours"] = shape["ours"]  # peers.py --shapes-file
    return found


def _texts(where: str, value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(f"{where}[{key}]", item)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                label = getattr(item, "name", index)
                for field in dataclasses.fields(item):
                    if not field.name.startswith(PEER_QUERIES):
                        yield from _texts(
                            f"{where}[{label}].{field.name}", getattr(item, field.name)
                        )


def _is_operation(text: str) -> bool:
    try:
        document = parse(text)
    except GraphQLError:
        return False
    return any(isinstance(d, OperationDefinitionNode) for d in document.definitions)


QUERIES = benchmark_queries()
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())


def test_the_benchmarks_queries_are_all_found() -> None:
    """The search above finds what it must (a benchmark query it misses goes unchecked)."""
    assert {"suite.NESTED", "suite.SPENDING", "compiled.FLAT", "cache_zipf.PAGE"} <= set(QUERIES)
    assert "in_process.PAGES[nested]" in QUERIES
    peers = importlib.import_module("peers")
    assert {f"peers.SHAPES[{s.name}].ours" for s in peers.SHAPES} <= set(QUERIES)
    assert {f"peers.EXTRA[{s.name}].ours" for s in peers.EXTRA} <= set(QUERIES)
    assert len(peers.EXTRA) == 19 and not {s.name for s in peers.EXTRA} & {
        s.name for s in peers.SHAPES
    }
    assert {f"filters.MIXED[{name}]" for name in importlib.import_module("filters").MIXED} <= set(
        QUERIES
    )
    assert len(peers.SHAPES) == 9 and not [q for q in QUERIES if "postgraphile" in q]
    assert len([q for q in QUERIES if q.startswith("outside_shapes[")]) == 22  # three testers


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_benchmark_query_is_valid_against_the_schema(name: str) -> None:
    errors = validate(SCHEMA, parse(QUERIES[name]))
    assert not errors, f"{name}: {[e.message for e in errors]}"


def test_the_readme_tables_are_the_committed_results() -> None:
    text = (ROOT / "README.md").read_text()
    assert readme.rendered(text) == text, "run .venv/bin/python benchmarks/readme.py"


def test_every_results_table_is_in_the_readme_with_its_raw_figures() -> None:
    shown = set(readme.sections((ROOT / "README.md").read_text()))
    tables = {path.stem for path in (BENCHMARKS / "results").glob("*.md")}
    assert tables <= shown
    scripts = {name: name.partition("-")[0] for name in shown}  # NAME-SET: NAME.py --shapes SET
    assert {name for name in shown if (BENCHMARKS / f"{scripts[name]}.py").exists()} == shown
    for name in tables:
        raw = json.loads((BENCHMARKS / "results" / f"{name}.json").read_text())
        assert raw["benchmark"] == name
        assert len(raw["commit"]["sha"]) == 40 and raw["date"] and raw["machine"]["cores"]
        assert raw["figures"]


def test_a_readme_that_differs_from_the_results_is_caught(tmp_path: Path) -> None:
    (tmp_path / "demo.md").write_text("| a |\n|---|\n| 1 |\n")
    stale = "before\n<!-- results: demo -->\n\n| a |\n|---|\n| 2 |\n\n<!-- /results -->\nafter\n"
    fresh = readme.rendered(stale, tmp_path)
    assert fresh != stale and "| 1 |" in fresh and "| 2 |" not in fresh
    assert readme.rendered(fresh, tmp_path) == fresh


def test_the_filter_results_keep_every_count_and_mode(tmp_path: Path) -> None:
    """benchmarks/filters.py: a run on 1,000,000 contracts keeps the 100,000-contract
    figures (a results file of the older layout, one count, read too), and the tables show
    the largest count first."""
    filters = importlib.import_module("filters")
    path = tmp_path / "filters.json"
    cases = [{"list": "contracts", "field": "uf", "strength": "selective",
              "ordering": "SIGNED_ON_DESC", "returned": 21, "read": 42, "read_per_row": 2.0,
              "statement_ms": 0.1, "call_ms": 0.2, "statements": 1}]  # fmt: skip
    stamp = {"date": "2026-12-07 08:11 UTC", "commit": "0" * 40}
    older = {"contracts": 100_000, "statements": {**stamp, "cases": cases}}
    path.write_text(json.dumps({"figures": older}))
    runs = filters.kept_runs(path)
    assert list(runs) == ["100000"] and runs["100000"]["statements"]["cases"] == cases
    runs.setdefault("1000000", {})["statements"] = {**stamp, "seconds": 300, "cases": cases}
    path.write_text(json.dumps({"figures": {"runs": runs}}))
    assert filters.kept_runs(path) == runs
    table = filters.markdown(runs)
    assert table.index("#### 1,000,000 contracts") < table.index("#### 100,000 contracts")
    assert "The run took 300 s." in table
