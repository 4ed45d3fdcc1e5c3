"""The edge: Debian's varnishd, with the repository's VCL, in front of a real server. A
repeated persisted GET is Varnish's hit; private answers and credentialed requests are never
stored; `db seed` and `import pncp`, run as commands, purge the data answers and leave the
schema's."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cidadao_gql.data.apikeys import create_key
from cidadao_gql.data.cache import TieredCache, announce, bump_version
from cidadao_gql.data.cache.edge import PURGE_HEADER, TOKEN_HEADER, EdgePurger
from cidadao_gql.data.db import open_database
from cidadao_gql.settings import Settings
from cidadao_gql.web import encodings
from cidadao_gql.web.sessions import COOKIE
from tests.conftest import (
    ROOT,
    SAMPLE_DIR,
    DatabaseFactory,
    connect,
    free_port,
    live_server,
    needs,
    server_process,
)

VARNISH = ROOT / "docker" / "varnish"
COUNT = "query Count { procurements(first: 1) { totalCount } contracts(first: 1) { totalCount } }"
SCHEMA = "query Root { __schema { queryType { name } } }"
TOKEN = "edge-test-token-0123456789abcdef0123456789"


def varnishd() -> str | None:
    """Debian's varnishd, when it and vmod xkey (varnish-modules) are installed."""
    binary = shutil.which("varnishd") or (
        "/usr/sbin/varnishd" if os.access("/usr/sbin/varnishd", os.X_OK) else None
    )
    return binary if binary and glob.glob("/usr/lib/*/varnish/vmods/libvmod_xkey.so") else None


def purge_token_vcl(token: str, workdir: Path) -> str:
    """purge_token.vcl as docker/varnish/entrypoint.sh writes it for EDGE_PURGE_TOKEN (run
    with a `varnishd` that does nothing)."""
    bin_dir, out = workdir / "bin", workdir / "entrypoint"
    bin_dir.mkdir()
    (bin_dir / "varnishd").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "varnishd").chmod(0o755)
    subprocess.run(
        ["sh", str(VARNISH / "entrypoint.sh")],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "API_HOST": "127.0.0.1",
             "BACKENDS_DIR": str(out), "EDGE_PURGE_TOKEN": token},
        capture_output=True, check=True,
    )  # fmt: skip
    return (out / "purge_token.vcl").read_text()


@contextmanager
def edge(backend: str, workdir: Path) -> Iterator[str]:
    """varnishd from Debian's package, with docker/varnish/default.vcl, in front of
    `backend` (http://host:port); its URL."""
    binary = varnishd()
    needs(binary, "Debian's varnish and varnish-modules (vmod xkey)")
    assert binary is not None
    host, port = backend.removeprefix("http://").split(":")
    (workdir / "backends.vcl").write_text(
        f'backend api_0 {{ .host = "{host}"; .port = "{port}"; }}\n'
        "sub vcl_init { new api = directors.round_robin(); api.add_backend(api_0); }\n"
    )
    (workdir / "purge_token.vcl").write_text(purge_token_vcl(TOKEN, workdir))
    listen = free_port()
    process = subprocess.Popen(
        # `-j none`: no jail, so the compiler reads backends.vcl in the test's own directory
        [binary, "-F", "-j", "none", "-n", str(workdir / "instance"), "-a", f"127.0.0.1:{listen}",
         "-T", "none", "-s", "malloc,64m", "-p", f"vcl_path={workdir}:{VARNISH}",
         "-p", "http_gzip_support=off", "-f", str(VARNISH / "default.vcl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{listen}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                assert process.stderr is not None
                raise AssertionError(f"varnishd exited: {process.stderr.read()!r}")
            try:
                httpx.get(f"{url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def stored(answer: httpx.Response) -> bool:
    """Whether Varnish answered from its store: two transaction ids, this one and the one
    that stored it, and an Age."""
    return len(answer.headers["x-varnish"].split()) == 2 and answer.headers["x-edge"] == "hit"


def counts(answer: httpx.Response) -> tuple[int, int]:
    data = answer.json()["data"]
    return data["procurements"]["totalCount"], data["contracts"]["totalCount"]


async def test_a_repeated_persisted_get_is_an_edge_hit(settings: Settings, tmp_path: Path) -> None:
    digest = hashlib.sha256(COUNT.encode()).hexdigest()
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:
            extensions = f'{{"persistedQuery":{{"version":1,"sha256Hash":"{digest}"}}}}'
            sent = await client.get("/graphql", params={"query": COUNT, "extensions": extensions})
            assert sent.status_code == 200 and "errors" not in sent.json()
            first = await client.get(f"/q/{digest}")
            await asyncio.sleep(1.1)  # for an Age of at least 1
            again = await client.get(f"/q/{digest}")
            head = await client.head(f"/q/{digest}")
    assert first.json() == sent.json() and not stored(first)
    assert stored(again) and int(again.headers["age"]) >= 1 and again.content == first.content
    assert again.headers["surrogate-key"].split()[0] == "data"
    assert "xkey" not in again.headers
    assert again.headers["cache-control"].startswith("public, max-age=")
    assert stored(head) and head.content == b""
    assert head.headers["content-length"] == again.headers["content-length"]


async def test_private_answers_and_credentialed_requests_are_never_stored(
    settings: Settings, make_database: DatabaseFactory, tmp_path: Path
) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = (await create_key(conn, "edge-test")).key
    bearer = {"authorization": f"Bearer {key}"}
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:
            viewer = [await client.get("/graphql", params={"query": "{ viewer { id } }"},
                                       headers=bearer) for _ in range(2)]  # fmt: skip
            anonymous_viewer = [
                await client.get("/graphql", params={"query": "{ viewer { id } }"})
                for _ in range(2)
            ]
            public = [
                await client.get("/graphql", params={"query": COUNT}, headers=bearer)
                for _ in range(2)
            ]
            cookie = [
                await client.get("/graphql", params={"query": COUNT},
                                 headers={"cookie": "cgql_session=x"}) for _ in range(2)
            ]  # fmt: skip
    for answer in (*viewer, *anonymous_viewer, *public, *cookie):
        assert not stored(answer), answer.headers
        assert answer.headers["cache-control"] == "private, no-store", answer.headers
        assert "surrogate-key" not in answer.headers
    assert viewer[1].json()["data"]["viewer"]["id"] == "edge-test"
    assert public[1].headers["etag"]  # a public body, not the caller's: still not shared


async def _cli(url: str, env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cidadao_gql.cli", *args,
        env={**os.environ, "DATABASE_URL": url, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode()
    return err.decode()


async def test_seed_and_import_purge_data_answers_and_leave_the_schemas(
    make_database: DatabaseFactory, redis_url: str, tmp_path: Path
) -> None:
    url = await make_database()
    settings = Settings(database_url=url)
    with (
        server_process(settings, REDIS_URL=redis_url, EDGE_MAX_AGE="3600") as api,
        edge(api, tmp_path) as front,
    ):
        purge = {"REDIS_URL": redis_url, "EDGE_PURGE_URL": front, "EDGE_PURGE_TOKEN": TOKEN,
                 "LOG_LEVEL": "INFO"}  # fmt: skip
        async with httpx.AsyncClient(base_url=front) as client:

            async def ask(query: str) -> httpx.Response:
                return await client.get("/graphql", params={"query": query})

            empty, schema = await ask(COUNT), await ask(SCHEMA)
            assert counts(empty) == (0, 0) and not stored(empty)
            assert stored(await ask(COUNT)) and stored(await ask(SCHEMA))
            assert schema.headers["surrogate-key"] == "schema"

            logged = await _cli(url, purge, "db", "seed", "--contracts", "200", "--seed", "3")
            assert f"purged data at {front}" in logged
            seeded = await ask(COUNT)
            assert not stored(seeded) and counts(seeded)[1] > 0
            assert stored(await ask(SCHEMA))
            assert stored(await ask(COUNT))

            await _cli(url, purge, "import", "pncp", str(SAMPLE_DIR))
            imported = await ask(COUNT)
            assert not stored(imported) and counts(imported)[0] > counts(seeded)[0]
            assert counts(imported)[1] >= counts(seeded)[1]
            after = await ask(SCHEMA)
            assert stored(after) and after.json() == schema.json()


def test_the_vcl_passes_the_session_cookie_and_purges_by_our_header() -> None:
    """What the VCL must agree on with the code, checked where no varnishd runs too."""
    vcl = (VARNISH / "default.vcl").read_text()
    assert f"{COOKIE}=" in vcl and f"req.http.{PURGE_HEADER}" in vcl
    assert "Surrogate-Key" in vcl


def purges(outcome: str) -> float:
    value = REGISTRY.get_sample_value("cidadao_ai_edge_purges_total", {"outcome": outcome})
    return value or 0.0


async def test_a_purge_that_cannot_reach_the_edge_is_retried_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    failed = purges("failed")
    assert await EdgePurger((nowhere,), None, attempts=2).purge("data") == 0
    assert purges("failed") - failed == 1
    assert any("could not purge data" in r.getMessage() for r in caplog.records)
    assert await EdgePurger(()).purge("data") == 0  # no edge configured: nothing to tell


async def test_an_instance_purges_when_it_hears_of_a_write_not_when_it_starts(
    make_database: DatabaseFactory, redis_url: str
) -> None:
    """The writer's purge can come before an instance drops its old L1; the instance purges
    again once it has. Reading the versions at start-up is no write: no purge then."""
    heard: list[str] = []
    refusals = [503]  # the first attempt fails: the purge is retried

    async def purge(request: Request) -> Response:
        heard.append(f"{request.method} {request.headers['xkey-purge']}")
        return Response(status_code=refusals.pop() if refusals else 200)

    app = Starlette(routes=[Route("/", purge, methods=["PURGE"])])
    url = await make_database()
    async with connect(url) as conn:
        await bump_version(conn, "data")  # a version from before the instance started
    async with live_server(app) as receiver, open_database(Settings(database_url=url)) as db:
        redis = aioredis.Redis.from_url(redis_url)
        settings = Settings(database_url=url, edge_purge_urls=(str(receiver.base_url) + "/",))
        cache = TieredCache(settings, db, redis)
        await cache.start()
        purged = purges("purged")
        try:
            assert heard == []
            await cache.versions.subscribed.wait()
            async with connect(url) as conn:
                await announce(redis, "data", await bump_version(conn, "data"))
            for _ in range(200):
                if purges("purged") > purged:
                    break
                await asyncio.sleep(0.02)
        finally:
            await cache.close()
            await redis.aclose()
    assert heard == ["PURGE data", "PURGE data"]  # refused once, then taken
    assert purges("purged") - purged == 1


TYPES = "query Types { __schema { types { name kind description } } }"  # public, over 1 KB
CODINGS = (
    "gzip, deflate, br", "zstd", "br;q=1, zstd;q=0.1", "gzip;q=0.5, br;q=0.4", "identity",
    "*", "*;q=0, gzip", "br;q=0, *;q=0.5", "zstd;q=0", "gzip;q=2, br;q=0.1", "identity, br",
    "identity;q=1, gzip;q=0.5", "GZIP ; Q = 0.7 , br;q=0.3", "deflate", "br;level=4;q=0.9",
)  # fmt: skip


async def test_the_edge_keeps_one_variant_per_coding_the_api_would_choose(
    settings: Settings, tmp_path: Path
) -> None:
    """Two Accept-Encoding headers are one list at the edge as at the API, and each is
    reduced to the one coding the API chooses: no variant holds bytes its key does not name
    (`gzip, deflate, br` + `zstd` once stored zstd under `gzip, deflate, br`)."""
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:

            async def ask(*accept_encoding: str) -> httpx.Response:
                request = client.build_request("GET", "/graphql", params={"query": TYPES})
                kept = [(k, v) for k, v in request.headers.multi_items() if k != "accept-encoding"]
                given = [("accept-encoding", value) for value in accept_encoding]
                request.headers = httpx.Headers(kept + given)
                return await client.send(request)  # decoded as its Content-Encoding says

            two = await ask("gzip, deflate, br", "zstd")
            also = await ask("identity", "br")
            after = {coding: await ask(coding) for coding in CODINGS}
            plain = await ask()
    assert two.headers["content-encoding"] == "zstd" and also.headers["content-encoding"] == "br"
    for coding, answer in after.items():
        expected = encodings.chosen(coding)
        got = answer.headers.get("content-encoding", encodings.IDENTITY)
        assert got == expected, (coding, answer.headers)
    assert after["gzip, deflate, br"].headers["content-encoding"] == "br"
    assert stored(after["gzip, deflate, br"]) and stored(after["br;q=1, zstd;q=0.1"])
    assert "content-encoding" not in plain.headers and stored(plain)
    assert len(plain.content) > 1024
    assert all(answer.json() == plain.json() for answer in (two, also, *after.values()))


async def test_forged_forwarded_for_through_the_edge_shares_one_bucket(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    """The edge sends the caller's address, not what the caller says it forwards: two
    requests with different forged X-Forwarded-For are charged to one bucket. Straight to
    the API (which trusts 127.0.0.1's X-Forwarded-For), the forged address has its own."""
    with (
        server_process(settings, REDIS_URL=redis_url, RATE_LIMIT_RESTORE_RATE="1") as api,
        edge(api, tmp_path) as front,
    ):

        async def available(url: str, forged: str) -> float:
            async with httpx.AsyncClient(base_url=url) as client:
                query = COUNT.replace("query Count", f"query C{forged.replace('.', '_')}")  # no hit
                answer = await client.post(
                    "/graphql", json={"query": query}, headers={"x-forwarded-for": forged}
                )
            status = answer.json()["extensions"]["cost"]["throttleStatus"]
            left: float = status["currentlyAvailable"]
            return left

        redis = aioredis.Redis.from_url(redis_url)
        # full buckets for the edge's address and the forged one (other tests spend them)
        await redis.delete("cidadao:bucket:ip:127.0.0.1", "cidadao:bucket:ip:198.51.100.3")
        await redis.aclose()
        first = await available(front, "198.51.100.1")
        second = await available(front, "198.51.100.2")
        direct = await available(api, "198.51.100.3")
    assert second < first  # one bucket: the second request found the first's charge
    assert direct == first  # a bucket of its own, as full as the edge's was at first


async def test_a_purge_without_the_token_is_refused_and_the_cache_still_serves(
    settings: Settings, tmp_path: Path
) -> None:
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:
            await client.get("/graphql", params={"query": SCHEMA})
            anyone = await client.request("PURGE", "/", headers={PURGE_HEADER: "schema"})
            wrong = await client.request(
                "PURGE", "/", headers={PURGE_HEADER: "schema", TOKEN_HEADER: "x" * 40}
            )
            still = await client.get("/graphql", params={"query": SCHEMA})
            purged = await EdgePurger((front + "/",), TOKEN).purge("schema")
            after = await client.get("/graphql", params={"query": SCHEMA})
    assert anyone.status_code == 403 and wrong.status_code == 403
    assert stored(still)
    assert purged == 1 and not stored(after)


async def test_health_metrics_and_errors_are_never_edge_hits(
    settings: Settings, tmp_path: Path
) -> None:
    paths = ("/health", "/health/live", "/metrics", "/nowhere", "/graphql/", "/q/nothing")
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:
            answers = {path: [await client.get(path) for _ in range(3)] for path in paths}
            refused = [await client.get("/graphql", params={"query": "{ nope }"}) for _ in range(2)]
    for path, tries in answers.items():
        for answer in tries:
            assert not stored(answer), (path, answer.headers)
            assert "no-store" in answer.headers["cache-control"], (path, answer.headers)
    for answer in refused:
        assert not stored(answer) and "no-store" in answer.headers["cache-control"]


async def test_if_none_match_lists_and_star_get_the_apis_answer_at_the_edge(
    settings: Settings, tmp_path: Path
) -> None:
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient() as client:

            async def ask(url: str, if_none_match: str | None = None) -> httpx.Response:
                headers = {"if-none-match": if_none_match} if if_none_match else {}
                return await client.get(f"{url}/graphql", params={"query": SCHEMA}, headers=headers)

            etag = (await ask(front)).headers["etag"]
            weak = f"W/{etag}"
            cases = (etag, f'"zzz", {etag}', f'"zzz",{weak}', "*", '"zzz"', '"zzz", "yyy"')
            at_edge = {case: await ask(front, case) for case in cases}
            at_api = {case: await ask(api, case) for case in cases}
    for case in cases:
        assert at_edge[case].status_code == at_api[case].status_code, case
        assert stored(at_edge[case]), case
    assert [at_edge[case].status_code for case in cases] == [304, 304, 304, 304, 200, 200]
    assert at_edge["*"].headers["etag"] == etag


async def test_a_callers_request_id_is_never_replayed_to_another(
    settings: Settings, tmp_path: Path
) -> None:
    with server_process(settings) as api, edge(api, tmp_path) as front:
        async with httpx.AsyncClient(base_url=front) as client:

            async def ask(request_id: str | None = None) -> httpx.Response:
                headers = {"x-request-id": request_id} if request_id else {}
                return await client.get("/graphql", params={"query": SCHEMA}, headers=headers)

            mine, anyone, theirs, odd = (
                await ask("mine-1"), await ask(), await ask("theirs-2"), await ask("bad id!")
            )  # fmt: skip
    assert not stored(mine) and mine.headers["x-request-id"] == "mine-1"
    assert stored(anyone) and anyone.headers["x-request-id"].startswith("edge-")
    assert stored(theirs) and theirs.headers["x-request-id"] == "theirs-2"
    assert stored(odd) and odd.headers["x-request-id"].startswith("edge-")
    assert len({anyone.headers["x-request-id"], odd.headers["x-request-id"]}) == 2


def test_the_edge_stores_only_public_answers_of_graphql(tmp_path: Path) -> None:
    """Whatever a backend forgets: an answer without Cache-Control is not kept for
    Varnish's default TTL, and nothing outside /graphql and /q/ is looked up."""
    fetched: list[str] = []

    class Backend(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(200)
            if self.path != "/graphql":
                self.send_header("cache-control", "public, max-age=60")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with edge(f"http://127.0.0.1:{server.server_port}", tmp_path) as front:
            fetched.clear()  # edge()'s own readiness request
            for path in ("/graphql", "/other", "/q/x"):
                for _ in range(2):
                    httpx.get(f"{front}{path}")
            kept = httpx.get(f"{front}/q/x")
    finally:
        server.shutdown()
        server.server_close()
    assert fetched == ["/graphql", "/graphql", "/other", "/other", "/q/x"]
    assert stored(kept)
