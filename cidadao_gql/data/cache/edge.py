"""The edge: HTTP caches (Varnish) in front of the API, told to drop the answers tagged with
a namespace when a write bumps its version.

Every public answer names what it read in `Surrogate-Key` (`tags`): the namespace and the
namespace at its version (`data data:v7`). A purge is `PURGE /` with `xkey-purge: data`
to each configured edge (EDGE_PURGE_URL), with the shared secret in `edge-purge-token`
(EDGE_PURGE_TOKEN: the VCL refuses a purge without it), which the VCL in docker/varnish
hands to vmod xkey; retried on failure, logged, counted in `cidadao_ai_edge_purges_total`. A purge that
fails for good leaves answers at most `s-maxage` seconds old (EDGE_MAX_AGE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from cidadao_gql import metrics
from cidadao_gql.errors import EdgeRefused

log = logging.getLogger("cidadao_gql.edge")
SCHEMA = "schema"  # answers that read the schema only (introspection), no data
PURGE_HEADER = "xkey-purge"
TOKEN_HEADER = "edge-purge-token"
ATTEMPTS = 4  # 0.1 + 0.2 + 0.4 s between them: an edge restarting has time to come back
TIMEOUT_S = 2.0


def tags(namespaces: Iterable[tuple[str, int | None]]) -> str:
    """The Surrogate-Key of an answer that read these (namespace, version) pairs (None: a
    namespace without versions, such as SCHEMA)."""
    return " ".join(
        name if version is None else f"{name} {name}:v{version}" for name, version in namespaces
    )


class EdgePurger:
    """The edge caches to purge; with no URL, purging does nothing."""

    def __init__(
        self, urls: tuple[str, ...], token: str | None = None, attempts: int = ATTEMPTS
    ) -> None:
        self.urls = urls
        self.headers = {TOKEN_HEADER: token} if token else {}
        self.attempts = attempts

    async def purge(self, namespace: str) -> int:
        """Tell every edge to drop the answers tagged `namespace`; how many edges did."""
        if not self.urls:
            return 0
        purged = 0
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            for url in self.urls:
                purged += await self._purge_one(client, url, namespace)
        return purged

    async def _purge_one(self, client: httpx.AsyncClient, url: str, namespace: str) -> int:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception_type((httpx.TransportError, EdgeRefused)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    answer = await client.request(
                        "PURGE", url, headers={PURGE_HEADER: namespace, **self.headers}
                    )
                    if answer.status_code != 200:
                        raise EdgeRefused(f"{answer.status_code} {answer.text[:200]!r}")
        except (httpx.TransportError, EdgeRefused) as exc:
            metrics.EDGE_PURGES.labels("failed").inc()
            log.warning(
                "edge: could not purge %s at %s after %d attempts (%s: %s); its answers "
                "stay until their s-maxage",
                namespace, url, self.attempts, type(exc).__name__, exc,
            )  # fmt: skip
            return 0
        metrics.EDGE_PURGES.labels("purged").inc()
        log.info("edge: purged %s at %s (%s)", namespace, url, answer.text.strip()[:80])
        return 1
