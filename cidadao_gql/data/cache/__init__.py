"""Tiered caching: L1 in-process, L2 Redis, L3 PostgreSQL, with versioned invalidation."""

from cidadao_gql.data.cache.tiered import L1, L2, L3, Policy, TieredCache
from cidadao_gql.data.cache.versions import announce, bump_version

__all__ = ["L1", "L2", "L3", "Policy", "TieredCache", "announce", "bump_version"]
