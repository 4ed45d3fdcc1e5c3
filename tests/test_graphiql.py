"""GraphiQL in a real headless browser (Debian's chromium, driven by Playwright): the page
loads with no network beyond 127.0.0.1, runs a query and shows the answer."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.async_api import Route, async_playwright

from cidadao_gql import graphiql
from cidadao_gql.app import create_app
from cidadao_gql.settings import Settings
from tests.conftest import ROOT, live_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUERY = "{ agencies(first: 2) { totalCount nodes { name } } }"


@pytest.fixture(scope="session")
def graphiql_files() -> Path:
    directory = ROOT / ".cache" / "graphiql"
    if not graphiql.installed(directory, graphiql.PAGE):
        graphiql.install(directory, graphiql.PAGE)
    return directory


def test_the_page_points_at_our_copies_of_unpkg_s_files() -> None:
    local = graphiql.served_locally(graphiql.PAGE)
    assert "unpkg.com" not in local
    assert f'src="{graphiql.MOUNT}/graphiql/graphiql.min.js"' in local
    assert "integrity=" in local  # the same bytes as unpkg's, so the same hashes
    assert {"react", "react-dom", "graphiql"} <= set(graphiql.packages(graphiql.PAGE))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/test installs it)")
async def test_graphiql_runs_a_query_in_a_headless_browser(
    settings: Settings, graphiql_files: Path
) -> None:
    settings = replace(settings, graphiql_assets_dir=graphiql_files)
    outside: list[str] = []

    async def local_only(route: Route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1")):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async with live_server(create_app(settings)) as client, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", local_only)
            await page.goto(f"{client.base_url}/graphql")
            await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
            editor = page.locator(".graphiql-query-editor .CodeMirror").first
            await editor.click()
            await page.evaluate(
                "q => document.querySelector('.graphiql-query-editor .CodeMirror')"
                ".CodeMirror.setValue(q)",
                QUERY,
            )
            await page.click(".graphiql-execute-button")
            await page.wait_for_function(
                "document.querySelector('.result-window')?.innerText.includes('totalCount')",
                timeout=30_000,
            )
            shown = await page.locator(".result-window").inner_text()
        finally:
            await browser.close()
    assert '"totalCount"' in shown and '"name"' in shown
    assert outside == []  # every file came from us
