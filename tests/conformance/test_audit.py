"""graphql-http's server audits (the GraphQL over HTTP spec's MUSTs, SHOULDs and MAYs, as
the spec's own reference implementation checks them) against a live server: every one ok.
The audit is pinned in package.json and package-lock.json; node_modules is installed by this
test with `npm ci` on first use."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import orjson
import pytest

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import live_server

HERE = Path(__file__).parent
NODE, NPM = shutil.which("node"), shutil.which("npm")
AUDITS = 61  # in graphql-http 1.23.1


async def _installed() -> None:
    """`npm ci` unless node_modules holds the pinned graphql-http already."""
    assert NPM is not None
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["graphql-http"]
    installed = HERE / "node_modules" / "graphql-http" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == pinned:
        return
    npm = await asyncio.create_subprocess_exec(
        NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=HERE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await npm.communicate()
    assert npm.returncode == 0, output.decode()


@pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm run graphql-http's audit")
async def test_graphql_http_audits_all_pass(settings: Settings) -> None:
    assert NODE is not None
    await _installed()
    async with live_server(create_app(settings)) as client:
        audit = await asyncio.create_subprocess_exec(
            NODE, str(HERE / "audit.mjs"), str(client.base_url.join("/graphql")),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, errors = await audit.communicate()
    assert audit.returncode == 0, errors.decode()
    results = [orjson.loads(line) for line in output.splitlines()]
    failures = [r for r in results if r["status"] != "ok"]
    for failure in failures:
        print(orjson.dumps(failure, option=orjson.OPT_INDENT_2).decode())
    assert (len(results), failures) == (AUDITS, [])
