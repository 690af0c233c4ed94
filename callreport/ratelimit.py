"""Request rates (§9 Rates): per user after authentication, per client address before it.

Fixed one-minute windows. With `CALLREPORT_REDIS_URL` the counts live in Redis and every process
shares them (one atomic INCR+EXPIRE script per hit); without it each process counts alone, in a
bounded in-memory table. If Redis cannot be reached the process counts alone for a while and logs
a warning: a broken Redis must not take the API down, and local counts still bound each process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from callreport import errors

log = logging.getLogger("callreport.ratelimit")

WINDOW = 60  # seconds: the contract's limit is per minute
MAX_KEYS = 100_000  # in-memory table: ~10 MB at most, oldest windows dropped first
REDIS_PAUSE = 5.0  # after a Redis failure, count locally this long before trying again
REDIS_TIMEOUT = 0.25  # seconds per Redis call: a slow Redis must not slow every request much

# KEYS[1] the window's counter; ARGV[1] the increment (0 only reads), ARGV[2] its lifetime in ms.
HIT_SCRIPT = """
if ARGV[1] == '0' then return tonumber(redis.call('GET', KEYS[1]) or '0') end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) and n > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
"""


def _window(now: float) -> tuple[int, int]:
    """(window number, whole seconds until it ends) for a time."""
    number = int(now // WINDOW)
    return number, max(1, math.ceil((number + 1) * WINDOW - now))


class LocalCounts:
    """Counts per key and window in this process: thread-safe, at most MAX_KEYS entries."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._counts: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, window: int, n: int) -> int:
        """Add n to the key's count in the window; the new count."""
        with self._lock:
            slot = (key, window)
            count = self._counts.get(slot, 0) + n
            if n:
                self._counts[slot] = count
                self._counts.move_to_end(slot)
                while len(self._counts) > self.max_keys:  # oldest first: past windows go before current
                    self._counts.popitem(last=False)
            return count


class RateLimiter:
    """The limit per minute, counted locally or in Redis; raises 1050 when a key is over it."""

    def __init__(self, per_minute: int, redis_url: str | None = None, prefix: str = "callreport:rate") -> None:
        self.per_minute = per_minute
        self.prefix = prefix
        self.local = LocalCounts()
        self._async: Any = None
        self._paused_until = 0.0
        if redis_url and per_minute > 0:
            import redis.asyncio

            opts = {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
            self._async = redis.asyncio.Redis.from_url(redis_url, **opts).register_script(HIT_SCRIPT)

    @property
    def enabled(self) -> bool:
        """Whether any limit applies (0 or less turns it off)."""
        return self.per_minute > 0

    async def check_user(self, user_id: str) -> None:
        """Count one request of an authenticated user; 1050 if it is over the limit."""
        if not self.enabled:
            return
        number, left = _window(time.time())
        key = f"{self.prefix}:user:{user_id}:{number}"
        count = await self._shared_async(key, 1)
        if count is None:
            count = self.local.add(key, number, 1)
        self._refuse_over(count, left, "this user")

    async def check_address(self, address: str) -> None:
        """1050 if the address is already over the limit (read only: counted by count_address)."""
        if self.enabled:
            await self._address(address, 0)

    async def count_address(self, address: str) -> None:
        """Count one request that was not authenticated against its client address."""
        if self.enabled:
            try:
                await self._address(address, 1)
            except errors.TooManyRequests:
                pass  # this request is already answered; the next one is refused

    async def _address(self, address: str, n: int) -> None:
        number, left = _window(time.time())
        key = f"{self.prefix}:addr:{address}:{number}"
        count = await self._shared_async(key, n)
        if count is None:
            count = self.local.add(key, number, n)
        # Counted after the fact, so a read (n=0) refuses once the limit is reached.
        self._refuse_over(count + (1 if n == 0 else 0), left, "this client address")

    def _refuse_over(self, count: int, left: int, who: str) -> None:
        if count > self.per_minute:
            raise errors.TooManyRequests(
                f"More than {self.per_minute} requests a minute from {who}; retry after {left} s.", retry_after=left
            )

    async def _shared_async(self, key: str, n: int) -> int | None:
        if self._async is None or time.monotonic() < self._paused_until:
            return None
        try:
            return int(await self._async(keys=[key], args=[n, WINDOW * 1000 + 1000]))
        except Exception as exc:  # any Redis failure: count locally (fail open to per-process limits)
            self._redis_failed(exc)
            return None

    def _redis_failed(self, exc: Exception) -> None:
        self._paused_until = time.monotonic() + REDIS_PAUSE
        log.warning(
            "Redis unreachable for rate limits (%s); counting in this process for %.0f s",
            exc.__class__.__name__,
            REDIS_PAUSE,
        )

    async def aclose(self) -> None:
        """Close the Redis connections (lifespan end)."""
        if self._async is not None:
            await self._async.registered_client.aclose()
