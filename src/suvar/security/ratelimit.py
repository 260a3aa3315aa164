"""Per-identity request rate limits: one token bucket per API token, user or client address.

A bucket holds up to ``capacity`` requests and refills at ``rate_per_min / 60`` per second; a request takes one
(the classic token-bucket shaper, e.g. RFC 2697's single-rate meter). An empty bucket answers 429 with
``Retry-After`` (RFC 6585 section 4): the whole seconds until the next request would pass.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Token buckets keyed by identity; ``rate_per_min <= 0`` disables the limit."""

    def __init__(self, rate_per_min: float, capacity: float | None = None, clock=time.monotonic) -> None:  # noqa: ANN001
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = float(capacity if capacity is not None else max(rate_per_min, 1.0))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0 when it passes, else the seconds to wait."""
        if self.rate_per_s <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle buckets rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 3600}
            return (1.0 - tokens) / self.rate_per_s

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
