"""Data access: pools, SQL, per-request loaders, the cache tiers, and the stores of keys, rate buckets and persisted documents."""
