"""L1: an in-process LRU bounded in entries, each entry with its own expiry."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    expires_at: float  # on the cache's clock
    delta: float  # seconds the value took to compute (XFetch)


class MemoryTier:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def get(self, key: Hashable, now: float) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry

    def set(self, key: Hashable, entry: Entry) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)
