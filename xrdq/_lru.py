"""A small thread-safe LRU store: what the per-process caches of computed arrays share (background bases,
phase profiles). A notebook or a threaded dask worker may fit in several threads at once."""

from __future__ import annotations

import threading
from collections import OrderedDict


class LRUStore:
    """The last ``size`` values put, by key; ``get`` of an absent key (or of None) returns None."""

    def __init__(self, size: int):
        self.size, self.store, self.lock = int(size), OrderedDict(), threading.Lock()

    def get(self, key):
        if key is None:
            return None
        with self.lock:
            hit = self.store.get(key)
            if hit is not None:
                self.store.move_to_end(key)
            return hit

    def put(self, key, value):
        if key is None:
            return
        with self.lock:
            self.store[key] = value
            self.store.move_to_end(key)
            while len(self.store) > self.size:
                self.store.popitem(last=False)

    def clear(self):
        with self.lock:
            self.store.clear()

    def __len__(self):
        return len(self.store)
