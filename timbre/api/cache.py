"""Cached responses: in this process by default, in Redis when ``TIMBRE_REDIS_URL`` is set.

Entries are response bodies (bytes) under a key made of everything the answer depends on: the
run, the person and the marks of their rows (``Store.interaction_marks``: feedback and new plays
change them), the store's profiles, the weights, the filters and the size. A new active run,
feedback or new interactions for that person therefore miss at once; stale entries expire
after the TTL (default 24 h).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from timbre.errors import StorageError

#: Environment variable naming the Redis server of the cache.
ENV_REDIS_URL = "TIMBRE_REDIS_URL"
#: How long an entry lives (the Big Five design's 24 h).
DEFAULT_TTL_S = 24 * 3600.0
#: Entries the in-process cache keeps at most (the oldest go first).
MAX_ENTRIES = 20_000
#: Prefix of every key this cache writes in Redis.
REDIS_PREFIX = "timbre:api:v1:"


class ResponseCache(Protocol):
    """What the API asks of a cache."""

    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def clear(self) -> None: ...


def cache_key(**parts: Any) -> str:
    """A stable key for the parts an answer depends on (SHA-256 of their sorted JSON)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MemoryCache:
    """An LRU dictionary with a TTL, safe across the server's threads."""

    name = "memory"

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= self.clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisCache:
    """Entries in a Redis server (shared by every server process), expiring after the TTL."""

    name = "redis"

    def __init__(self, url: str, ttl: float = DEFAULT_TTL_S, prefix: str = REDIS_PREFIX) -> None:
        import redis

        self.ttl = ttl
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        try:
            self.client.ping()
        except redis.RedisError as exc:
            shown = url.split("@")[-1]  # never a password
            raise StorageError(f"cannot reach the Redis cache at {shown}: {exc}") from None

    def get(self, key: str) -> bytes | None:
        value = self.client.get(self.prefix + key)
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        self.client.set(self.prefix + key, value, ex=max(1, int(self.ttl)))

    def clear(self) -> None:
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            self.client.delete(key)


def open_cache(redis_url: str | None = None, ttl: float = DEFAULT_TTL_S) -> ResponseCache:
    """Redis at ``redis_url`` (else ``TIMBRE_REDIS_URL``) when one is given, else in-process."""
    url = redis_url or os.environ.get(ENV_REDIS_URL) or None
    return RedisCache(url, ttl) if url else MemoryCache(ttl)
