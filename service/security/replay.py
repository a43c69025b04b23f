"""Each CDS client token is good for one call: the `(iss, jti)` pairs already seen."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from service.security.jwt import TokenRejectedError


class ReplayCache:
    """`(iss, jti)` pairs seen, each kept until its token expires; thread-safe and bounded.

    When full of unexpired entries it refuses new tokens (fails closed) rather than forget
    one that could then be replayed.
    """

    def __init__(self, capacity: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            expires, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires:
                del self._expiry[key]

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the token; False when this `(iss, jti)` was already used and is unexpired."""
        key = (issuer, jti)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self.capacity:
                raise TokenRejectedError("too many tokens in flight; try again shortly")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True
