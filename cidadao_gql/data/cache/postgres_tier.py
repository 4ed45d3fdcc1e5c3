"""L3: PostgreSQL, for results that are expensive to compute and must outlive restarts
and Redis flushes. Entries never expire; a newer version of their namespace replaces them."""

from __future__ import annotations

from collections.abc import Sequence

from cidadao_gql.data.cache import codec
from cidadao_gql.data.cache.memory import Entry
from cidadao_gql.data.db import Database


class PostgresTier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_many(
        self, namespace: str, version: int, keys: Sequence[str]
    ) -> list[Entry | None]:
        rows = await self.db.fetch_primary(
            """SELECT key, value, delta FROM cache_entries
                WHERE namespace = $1 AND version = $2 AND key = any($3::text[])""",
            namespace,
            version,
            list(keys),
        )
        found = {r["key"]: Entry(codec.loads(r["value"]), float("inf"), r["delta"]) for r in rows}
        return [found.get(k) for k in keys]

    async def set_many(
        self, namespace: str, version: int, items: Sequence[tuple[str, Entry]]
    ) -> None:
        if not items:
            return
        await self.db.execute(
            """INSERT INTO cache_entries (namespace, key, version, value, delta)
               SELECT $1, k, $2, v, d FROM unnest($3::text[], $4::bytea[], $5::real[]) AS u(k, v, d)
               ON CONFLICT (namespace, key) DO UPDATE
                  SET version = EXCLUDED.version, value = EXCLUDED.value, delta = EXCLUDED.delta,
                      computed_at = now()
                WHERE cache_entries.version <= EXCLUDED.version""",
            namespace,
            version,
            [k for k, _ in items],
            [codec.dumps(e.value) for _, e in items],
            [e.delta for _, e in items],
        )
