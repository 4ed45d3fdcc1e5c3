"""The batch query client: paging to the end, CSV and NDJSON, and an export killed midway
that resumes without losing or repeating rows."""

from __future__ import annotations

import asyncio
import base64
import csv
import re
import signal
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from cidadao_gql.cli.client import named_operation, without_total
from cidadao_gql.data import apikeys
from cidadao_gql.data.db import Database
from cidadao_gql.data.ratelimit import Allowance
from cidadao_gql.errors import QueryFailed
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, connect, live_server

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
        counted = orjson.loads(checkpoint.read_bytes())
        # What the checkpoint's bytes hold: pages written since its last save are cut back
        partial = (tmp_path / "cut.ndjson").read_bytes()[: counted["size"]].count(b"\n")
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


EVERYTHING = """query Everything($first: Int!, $after: String) {
  contracts(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id number finalValue supplier { document name } agency { cnpj name } }
  }
}"""


def test_pages_after_the_first_ask_no_total() -> None:
    lean = without_total(EVERYTHING, "contracts")
    assert "totalCount" not in lean and "endCursor" in lean and "query Everything(" in lean
    # Through an alias and an inline fragment; a total of another list stays.
    aliased = "query Q { agencies { totalCount } x: contracts { ... on ContractConnection { totalCount nodes { id } } } }"  # fmt: skip
    assert without_total(aliased, "x").count("totalCount") == 1
    assert "agencies {\n    totalCount" in without_total(aliased, "x")
    # Where a named fragment holds the connection, the document goes as it is.
    spread = "query Q { ...F } fragment F on Query { contracts { totalCount } }"
    assert without_total(spread, "contracts") == spread


def last_bar(stderr: str) -> str:
    """The progress bar's last state (tqdm redraws it after a carriage return)."""
    return [s for s in re.split(r"[\r\n]", stderr) if re.search(r"\d+/\d+", s)][-1]


async def test_a_bulk_export_killed_midway_resumes_to_every_contract_once(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """Every contract with a bulk key, pages of 120 (over the 100 only such a key may
    ask), SIGKILLed once a few pages are checkpointed, resumed: each contract id once,
    as SQL has them, and the resumed bar at N/N 100%."""
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        bulk = await apikeys.create_key(
            conn, f"export-{uuid.uuid4()}", allowance=Allowance(100_000, 50_000)
        )
    expected = sorted(r["id"] for r in await db.fetch("SELECT id FROM contracts"))
    n = len(expected)
    (tmp_path / "export.graphql").write_text(EVERYTHING)
    out, checkpoint = tmp_path / "all.ndjson", tmp_path / "all.ndjson.checkpoint"

    async def export(base: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cidadao_gql.cli", "query", str(tmp_path / "export.graphql"),
            "--url", base, "--path", "contracts", "--out", str(out), "--page-size", "120",
            "--save-every", "0", "--token", bulk.key,
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async with live_server(create_app(settings)) as client:
        cut = await export(str(client.base_url))
        await until_written(checkpoint, cut, 3 * 120 * 100)  # three pages or so
        cut.send_signal(signal.SIGKILL)
        await cut.wait()
        counted = orjson.loads(checkpoint.read_bytes())["rows"]
        resumed = await export(str(client.base_url))
        _, stderr = await resumed.communicate()
        scraped = (await client.get("/metrics")).text
    assert resumed.returncode == 0, stderr.decode()
    assert 0 < counted < n  # it really was cut midway
    ids = [
        int(base64.b64decode(orjson.loads(line)["id"]).partition(b":")[2])
        for line in out.read_bytes().splitlines()
    ]
    assert len(ids) == len(set(ids)) == n  # none repeated, none lost
    assert sorted(ids) == expected
    bar = last_bar(stderr.decode())
    assert f"{n}/{n}" in bar and "100%" in bar, bar
    assert 'operation="Everything"' in scraped
