"""GraphiQL in a real headless browser (Debian's chromium, driven by Playwright): the page
loads with no network beyond 127.0.0.1, runs a query and shows the answer, builds one in
the explorer, runs every worked example in its tab, and follows an investigation over a
subscription."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from playwright.async_api import Browser, Page, Route, WebSocket, async_playwright

from cidadao_gql.settings import Settings
from cidadao_gql.web import graphiql
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, live_server, needs
from tests.test_clients import START_ALL, stream_ids
from tests.test_subscriptions import EVENTS, new_key

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUERY = "{ agencies(first: 2) { totalCount nodes { name } } }"


@pytest.fixture(scope="session")
def graphiql_files() -> Path:
    """GraphiQL's files, for the browser tests (which need chromium, and npm to fetch them)."""
    needs(CHROMIUM, "Debian's chromium")
    directory = ROOT / ".cache" / "graphiql"
    if not graphiql.installed(directory, graphiql.PAGE):
        needs(shutil.which("npm"), "npm")
        graphiql.install(directory, graphiql.PAGE)
    return directory


def test_the_page_points_at_our_copies_of_unpkg_s_files() -> None:
    local = graphiql.served_locally(graphiql.PAGE)
    assert "unpkg.com" not in local
    assert f'src="{graphiql.MOUNT}/graphiql/graphiql.min.js"' in local
    # the same bytes as unpkg's, so the same hashes: one per file
    assert local.count("integrity=") == local.count("crossorigin") == 6
    assert {"react", "react-dom", "graphiql"} <= set(graphiql.packages(graphiql.PAGE))


@asynccontextmanager
async def headless_page(outside: list[str]) -> AsyncIterator[Page]:
    """A page in headless chromium that may reach 127.0.0.1 only; anything else it asks
    for is refused and noted in `outside`."""

    async def local_only(route: Route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1")):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", local_only)
            yield page
        finally:
            await browser.close()


RESULT = "document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue()"
EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
# The variables editor, then the headers editor, under the query editor.
TOOLS = "document.querySelectorAll('.graphiql-editor-tool .CodeMirror')"


async def operations_parsed(page: Page) -> None:
    """GraphiQL parses the editor's operations a moment after it changes (debounced): ▶
    within it ran the previous document's (its name; one operation, not the menu of two).
    People type slower."""
    await page.wait_for_timeout(500)


async def run_in_graphiql(page: Page, until: str) -> str:
    """Clicks GraphiQL's run button and waits until the result holds `until`; the result."""
    await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(f"({RESULT} || '').includes({until!r})", timeout=60_000)
    shown: str = await page.evaluate(RESULT)
    return shown


async def test_graphiql_runs_a_query_in_a_headless_browser(
    settings: Settings, graphiql_files: Path
) -> None:
    settings = replace(settings, graphiql_assets_dir=graphiql_files)
    outside: list[str] = []
    async with live_server(create_app(settings)) as client, headless_page(outside) as page:
        await page.goto(f"{client.base_url}/graphql")
        await page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        await page.evaluate(
            "q => document.querySelector('.graphiql-query-editor .CodeMirror')"
            ".CodeMirror.setValue(q)",
            QUERY,
        )
        await operations_parsed(page)
        shown = await run_in_graphiql(page, "totalCount")
    assert '"totalCount"' in shown and '"name"' in shown
    assert outside == []  # every file came from us


async def test_graphiql_follows_an_investigation_over_a_subscription(
    settings: Settings, redis_url: str, graphiql_files: Path
) -> None:
    """The key goes in GraphiQL's headers editor; GraphiQL sends those headers as the
    payload of connection_init, where the server reads the credentials."""
    settings = replace(settings, graphiql_assets_dir=graphiql_files, redis_url=redis_url)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    outside: list[str] = []
    frames: list[str | bytes] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: frames.append(frame))

    async with live_server(create_app(settings)) as client, headless_page(outside) as page:
        answer = await client.post(
            "/graphql", json={"query": START_ALL}, headers={"authorization": f"Bearer {key}"}
        )
        investigation = answer.json()["data"]["startInvestigation"]["id"]
        page.on("websocket", watch)
        opened = urlencode({
            "q": EVENTS,
            "variables": json.dumps({"id": investigation}),
            "headers": json.dumps({"authorization": f"Bearer {key}"}),
        }, quote_via=quote)  # fmt: skip  # the page decodes with decodeURIComponent: no "+"
        await page.goto(f"{client.base_url}/graphql?{opened}")
        shown = await run_in_graphiql(page, "FINISHED")
        announced = await stream_ids(redis_url, investigation)
    messages: list[dict[str, Any]] = [json.loads(f) for f in frames if isinstance(f, str)]
    assert len(messages) == len(frames)  # text frames only
    assert [m["type"] for m in messages][:1] == ["connection_ack"]
    events = [
        e
        for m in messages
        if m["type"] == "next"
        for e in m["payload"]["data"]["investigationEvents"]["events"]
    ]
    assert [e["id"] for e in events] == announced  # every event reached the page
    assert messages[-1]["type"] == "complete"
    last = json.loads(shown)["data"]["investigationEvents"]["events"]  # the last batch
    assert last[-1]["kind"] == "FINISHED" and last[-1]["payload"]["status"] == "completed"
    assert outside == []


async def test_the_explorer_is_open_and_builds_a_question_that_runs(
    settings: Settings, graphiql_files: Path
) -> None:
    """A newcomer's path: the explorer is open beside the editor on arrival; in a new tab,
    ticking fields in it writes the query, and ▶ answers it."""
    settings = replace(settings, graphiql_assets_dir=graphiql_files)
    outside: list[str] = []
    async with live_server(create_app(settings)) as client, headless_page(outside) as page:
        await page.goto(f"{client.base_url}/graphql")
        explorer = page.locator(".graphiql-explorer-root")
        await explorer.wait_for(timeout=30_000)  # open, without a click on its icon
        await page.click(".graphiql-tab-add")
        await page.wait_for_function(f"{EDITOR}.getValue().includes('MyQuestion')")
        for path, written in [
            ("suppliers", "suppliers"),
            ("suppliers nodes", "nodes"),
            ("suppliers nodes totals", "totals"),
            ("suppliers nodes totals totalValue", "totalValue"),
        ]:
            field = " ".join(f".graphiql-explorer-{name}" for name in path.split())
            before = await page.evaluate(f"{EDITOR}.getValue()")
            await explorer.locator(field).first.locator("span").first.click()
            # a person's next click comes after the editor shows this one
            await page.wait_for_function(
                f"{EDITOR}.getValue() !== {before!r} && {EDITOR}.getValue().includes({written!r})"
            )
        built = await page.evaluate(f"{EDITOR}.getValue()")
        shown = json.loads(await run_in_graphiql(page, "totalValue"))
    assert "suppliers {" in built and "totalValue" in built
    assert "errors" not in shown
    assert shown["data"]["suppliers"]["nodes"][0]["totals"]["totalValue"]
    assert outside == []


async def test_every_example_tab_runs_without_an_error(
    default_data_url: str, redis_url: str, graphiql_files: Path
) -> None:
    """On a first visit the worked examples are open as tabs; each runs from its tab with
    the variables it came with and answers rows, the investigation with a key in Headers,
    started and then followed live with its id pasted into Variables."""
    settings = Settings(
        database_url=default_data_url, graphiql_assets_dir=graphiql_files, redis_url=redis_url
    )
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    outside: list[str] = []
    errors: list[str] = []
    answers: dict[str, Any] = {}
    async with live_server(create_app(settings)) as client, headless_page(outside) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{client.base_url}/graphql")
        await page.wait_for_selector(".graphiql-explorer-root", timeout=30_000)
        titles = [t.strip() for t in await page.locator(".graphiql-tab").all_inner_texts()]
        for title in titles:
            await page.locator(".graphiql-tab", has_text=title).first.click()
            await page.wait_for_function(f"{EDITOR}.getValue().includes({title!r})")
            await operations_parsed(page)
            if title == "StartAnInvestigation":
                answers[title] = await run_investigation(page, key)
            else:
                answers[title] = json.loads(await run_in_graphiql(page, '"data"'))
        errors += await page.locator(".graphiql-container .error, [role=alert]").all_inner_texts()
    assert titles == [
        "LargestSuppliers", "SupplierAndSanctions", "DirectPurchasesInAMonth",
        "SpendingByMonth", "PriceOfAnItem", "StartAnInvestigation",
    ]  # fmt: skip
    for title, answer in answers.items():
        assert "errors" not in answer, (title, answer)
        assert all(value for value in answer["data"].values()), (title, answer)
    last = answers["StartAnInvestigation"]["data"]["investigationEvents"]["events"]
    assert last[-1]["kind"] == "FINISHED"
    assert errors == [] and outside == []


async def run_investigation(page: Page, key: str) -> dict[str, Any]:
    """Runs the investigation tab as its comments tell a person to: the key in Headers,
    ▶ and the mutation, its id into Variables, ▶ and the subscription; the last answer."""
    await page.evaluate(
        f"h => {TOOLS}[1].CodeMirror.setValue(h)", json.dumps({"authorization": f"Bearer {key}"})
    )
    started = json.loads(await run_operation(page, "StartAnInvestigation", "startInvestigation"))
    variables = json.loads(await page.evaluate(f"{TOOLS}[0].CodeMirror.getValue()"))
    variables["id"] = started["data"]["startInvestigation"]["id"]
    await page.evaluate(f"v => {TOOLS}[0].CodeMirror.setValue(v)", json.dumps(variables))
    answer: dict[str, Any] = json.loads(await run_operation(page, "FollowItLive", "FINISHED"))
    return answer


async def run_operation(page: Page, operation: str, until: str) -> str:
    """With two operations in the editor, ▶ asks which to run: this one."""
    await page.click(".graphiql-execute-button")
    await page.get_by_role("menuitem", name=operation).click()
    await page.wait_for_function(f"({RESULT} || '').includes({until!r})", timeout=60_000)
    shown: str = await page.evaluate(RESULT)
    return shown


async def test_arrival_focuses_the_editor_and_a_key_in_headers_is_neither_kept_nor_duplicated(
    settings: Settings, graphiql_files: Path
) -> None:
    """An outside tester found the focus in the explorer's `first: 10` (typing changed the
    query), and a key typed under Headers kept in localStorage and its tab opened again on
    each reload."""
    settings = replace(settings, graphiql_assets_dir=graphiql_files)
    outside: list[str] = []
    async with live_server(create_app(settings)) as client, headless_page(outside) as page:
        await page.goto(f"{client.base_url}/graphql")
        await page.wait_for_selector(".graphiql-explorer-root", timeout=30_000)
        await page.wait_for_timeout(1500)  # the explorer has rendered, and took focus before
        focused = "document.activeElement.closest('.graphiql-query-editor') !== null"
        assert await page.evaluate(focused)
        await page.locator(".graphiql-tab", has_text="StartAnInvestigation").first.click()
        await page.evaluate(
            f"h => {TOOLS}[1].CodeMirror.setValue(h)", '{"authorization": "Bearer cgk_not_to_keep"}'
        )
        await page.wait_for_timeout(1000)  # GraphiQL stores its tabs after a pause
        for _ in range(2):
            await page.reload()
            await page.wait_for_selector(".graphiql-explorer-root", timeout=30_000)
            assert await page.locator(".graphiql-tab").count() == 6
        stored = await page.evaluate("JSON.stringify(Object.entries(localStorage))")
        assert "cgk_not_to_keep" not in stored  # (the example's comments name the header)
    assert outside == []
