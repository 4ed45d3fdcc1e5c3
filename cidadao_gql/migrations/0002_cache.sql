-- Cache bookkeeping. A namespace's version is bumped by every write to the data it covers;
-- cached values carry the version they were computed under, so a bump makes them misses.
CREATE TABLE cache_versions (
    namespace  text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 1
);

-- L3: expensive computed results (aggregates, agent outputs) that must survive restarts
-- and Redis flushes. No TTL: versions invalidate them.
CREATE TABLE cache_entries (
    namespace    text NOT NULL,
    key          text NOT NULL,
    version      bigint NOT NULL,
    value        bytea NOT NULL,
    delta        real NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, key)
);
