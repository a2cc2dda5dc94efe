"""Per-key rate limits: at most ``limit`` requests in any window of ``window`` seconds."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

#: The window of a key's limit (its limit is requests per minute).
WINDOW_S = 60.0


class RateLimiter:
    """A sliding log per key: exact, so a key with limit N gets exactly N requests through in
    any window, and the rest are told when the oldest of those N leaves it.

    Parameters
    ----------
    window
        Seconds of the window.
    clock
        Monotonic seconds (tests may pass their own).
    """

    def __init__(
        self, window: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key_id: int, limit: int) -> int | None:
        """Count one request of a key; ``None`` when it may go on, else the whole seconds to
        wait (``Retry-After``, at least 1). A refused request is not counted."""
        with self._lock:
            now = self.clock()
            log = self._hits.setdefault(key_id, deque())
            while log and log[0] <= now - self.window:
                log.popleft()
            if len(log) >= limit:
                return max(1, math.ceil(log[0] + self.window - now))
            log.append(now)
            return None

    def reset(self) -> None:
        """Forget every key's requests."""
        with self._lock:
            self._hits.clear()
