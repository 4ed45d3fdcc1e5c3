"""The batch query client: paging to the end, CSV and NDJSON, and an export killed midway
that resumes without losing or repeating rows."""

from __future__ import annotations

import asyncio
import csv
import signal
import sys
from pathlib import Path

import orjson
import pytest

from cidadao_gql.cli.client import named_operation
from cidadao_gql.data.db import Database
from cidadao_gql.errors import QueryFailed
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, live_server

DOCUMENT = """query Export($agency: ID, $first: Int!, $after: String) {
  contracts(first: $first, after: $after, filter: {agency: $agency}) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id number finalValue agency { name } } }
  }
}"""


async def export(base: str, tmp: Path, out: str, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cidadao_gql.cli", "query", str(tmp / "export.graphql"), "--url", base,
        "--path", "contracts", "--variables", str(tmp / "agencies.ndjson"), "--out", str(tmp / out), *extra,
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def written(checkpoint: Path) -> int:
    size: int = orjson.loads(checkpoint.read_bytes())["size"] if checkpoint.exists() else 0
    return size


async def until_written(checkpoint: Path, export: asyncio.subprocess.Process, size: int) -> None:
    """Wait until the export's checkpoint says more than `size` bytes are written (polled:
    the file is all there is to watch), failing if the export ends first."""
    for _ in range(6000):  # a deadline only a stuck export reaches
        if written(checkpoint) > size:
            return
        assert export.returncode is None, "the export ended before it could be cut"
        await asyncio.sleep(0.01)
    raise AssertionError("the export wrote nothing for a minute")


def test_the_operation_is_named_for_the_server() -> None:
    assert named_operation(DOCUMENT, "any") == (DOCUMENT, "Export")
    document, name = named_operation("{ contracts { totalCount } }", "2024 exports-SP")
    assert name == "_2024_exports_SP"
    assert document.startswith("query _2024_exports_SP {")
    for bad, reason in (("{ a", "does not parse"), ("query A { a } query B { b }", "not 2")):
        with pytest.raises(QueryFailed, match=reason):
            named_operation(bad, "x")


async def test_an_interrupted_export_resumes_to_the_same_rows(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    rows = await db.fetch(
        "SELECT agency_id, count(*) AS n FROM contracts GROUP BY 1 ORDER BY 2 DESC LIMIT 2"
    )
    expected = sum(r["n"] for r in rows)
    (tmp_path / "export.graphql").write_text(DOCUMENT)
    (tmp_path / "agencies.ndjson").write_text(
        "".join(
            orjson.dumps({"agency": encode_id("Agency", r["agency_id"])}).decode() + "\n"
            for r in rows
        )
    )
    async with live_server(create_app(settings)) as client:
        base = str(client.base_url)
        whole = await export(
            base, tmp_path, "whole.ndjson", "--page-size", "25", "--concurrency", "1"
        )
        assert await whole.wait() == 0, (await whole.stderr.read()).decode() if whole.stderr else ""

        cut = await export(base, tmp_path, "cut.ndjson", "--page-size", "25", "--concurrency", "1")
        checkpoint = tmp_path / "cut.ndjson.checkpoint"
        await until_written(checkpoint, cut, 3000)  # a few pages landed: kill it, no warning
        cut.send_signal(signal.SIGKILL)
        await cut.wait()
        partial = (tmp_path / "cut.ndjson").read_text().count("\n")
        counted = orjson.loads(checkpoint.read_bytes())
        resumed = await export(
            base, tmp_path, "cut.ndjson", "--page-size", "25", "--concurrency", "1"
        )
        assert await resumed.wait() == 0
        assert resumed.stderr is not None
        resumed_output = (await resumed.stderr.read()).decode()
        scraped = (await client.get("/metrics")).text

        as_csv = await export(base, tmp_path, "whole.csv", "--format", "csv", "--page-size", "50")
        assert await as_csv.wait() == 0
    whole_lines = (tmp_path / "whole.ndjson").read_text().splitlines()
    assert len(whole_lines) == expected
    assert 0 < partial < expected  # it really was cut midway
    assert counted["rows"] == partial  # the checkpoint counts what its bytes hold
    # The bar goes on from there to the total, not from 0 to `expected - partial`.
    assert f"{expected}/{expected}" in resumed_output
    # Operations are named in metrics by the name the client now sends.
    assert 'operation="Export"' in scraped
    assert (tmp_path / "cut.ndjson").read_text().splitlines() == whole_lines
    with (tmp_path / "whole.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == expected
    assert set(table[0]) == {"id", "number", "finalValue", "agency.name"}
    assert {r["id"] for r in table} == {orjson.loads(line)["id"] for line in whole_lines}
