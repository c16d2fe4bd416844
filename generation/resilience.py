"""Calling a provider safely: retries with jittered backoff that honour Google's RetryInfo, a
circuit breaker per (provider, model) and a cap on concurrent calls per model, both shared by
every process through Redis.

Why our own rather than pybreaker / tenacity: the breaker's half-open probe must be one caller
across all web and worker processes (an atomic `add` on the shared cache does that; pybreaker's
Redis storage lets every process probe at once), and a long RetryInfo delay must leave the
worker thread (the unit is re-queued with a Dramatiq delay), which a retry decorator cannot do.

Settings: GEMINI_RETRY_ATTEMPTS (attempts per unit per run), GEMINI_RETRY_INITIAL_DELAY
(seconds; doubles per attempt, full jitter), PROVIDER_INLINE_RETRY_MAX_SECONDS (longer delays
re-queue the unit), CIRCUIT_BREAKER_FAILURES / _WINDOW_SECONDS / _COOLDOWN_SECONDS,
PROVIDER_MAX_CONCURRENT_CALLS (per model, across all workers).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string
from django_redis.cache import RedisCache

from generation.errors import ProviderCircuitOpen
from generation.providers.base import ProviderError, QuotaExceeded

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RequeueUnit(Exception):
    """The unit should run again after `delay` seconds, on a later run of the job."""

    def __init__(self, delay: float, cause: ProviderError) -> None:
        super().__init__(f"re-queue in {delay:.0f} s: {cause.code}")
        self.delay = delay
        self.cause = cause


class Stopped(Exception):
    """The job was cancelled or its lease lost while waiting to retry."""


# --- circuit breaker ---------------------------------------------------------------------------


class CircuitBreaker:
    """Per (provider, model): after CIRCUIT_BREAKER_FAILURES service faults (5xx, timeouts, bad
    key, retired model) within CIRCUIT_BREAKER_WINDOW_SECONDS, calls are refused for
    CIRCUIT_BREAKER_COOLDOWN_SECONDS; then one caller (in any process) is let through as a
    probe: its success closes the breaker, its failure opens it again.

    State lives in the default cache (Redis in production); a cache fault reads as "closed".
    """

    def __init__(self, provider: str, model: str) -> None:
        base = f"breaker:{provider}:{model}"
        self.model = model
        self._fails = f"{base}:fails"
        self._open = f"{base}:open-until"
        self._probe = f"{base}:probe"

    def check(self) -> None:
        """Raises ProviderCircuitOpen while open (or while another caller probes)."""
        open_until = cache.get(self._open)
        if open_until is None:
            return
        now = time.time()
        if now < open_until:
            raise ProviderCircuitOpen(self.model, max(1, math.ceil(open_until - now)))
        # Half-open: exactly one probe at a time, across processes.
        probe_ttl = max(5, int(settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS))
        if not cache.add(self._probe, 1, probe_ttl):
            raise ProviderCircuitOpen(self.model, probe_ttl)

    def refuse_if_open(self) -> None:
        """For a request about to be charged: raises ProviderCircuitOpen while open. Half-open
        lets requests in; the first worker call is the probe."""
        open_until = cache.get(self._open)
        now = time.time()
        if open_until is not None and now < open_until:
            raise ProviderCircuitOpen(self.model, max(1, math.ceil(open_until - now)))

    def record_success(self) -> None:
        if cache.get(self._open) is not None:
            cache.delete_many([self._open, self._probe, self._fails])
            logger.info("circuit for %s closed", self.model)

    def record_failure(self) -> None:
        now = time.time()
        cooldown = settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS
        open_until = cache.get(self._open)
        if open_until is not None and now >= open_until:  # the probe failed
            self._trip(now + cooldown)
            return
        cache.add(self._fails, 0, settings.CIRCUIT_BREAKER_WINDOW_SECONDS)
        try:
            failures = cache.incr(self._fails)
        except ValueError:  # expired between add and incr
            cache.add(self._fails, 1, settings.CIRCUIT_BREAKER_WINDOW_SECONDS)
            failures = 1
        if failures is not None and failures >= settings.CIRCUIT_BREAKER_FAILURES:
            self._trip(now + cooldown)

    def _trip(self, until: float) -> None:
        cache.set(self._open, until, 24 * 3600)
        cache.delete_many([self._probe, self._fails])
        logger.warning("circuit for %s open until %s", self.model, time.ctime(until))


# --- concurrency cap ---------------------------------------------------------------------------

# KEYS[1] the holders' sorted set; ARGV: stale-before, now, limit, token, ttl.
_ACQUIRE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('zadd', KEYS[1], ARGV[2], ARGV[4])
  redis.call('expire', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

_local_semaphores: dict[str, threading.BoundedSemaphore] = {}
_local_lock = threading.Lock()


def _uses_redis() -> bool:
    """Whether the default cache is django-redis's (or a subclass, such as
    core.redis_faults.FailOpenRedisCache): then slots are counted in Redis across workers."""
    return issubclass(import_string(settings.CACHES["default"]["BACKEND"]), RedisCache)


@contextmanager
def model_slot(model: str, *, hold_seconds: float, stop: threading.Event) -> Iterator[None]:
    """Hold one of PROVIDER_MAX_CONCURRENT_CALLS slots for `model` across every worker (a Redis
    sorted set of holders; a holder older than `hold_seconds` is presumed dead and dropped).
    Without Redis, or while Redis fails (a restart, an outage: the call then counts against
    this process's semaphore, with a warning, instead of crashing the unit as internal_error),
    a per-process semaphore. Waits up to PROVIDER_SLOT_WAIT_SECONDS, then raises
    QuotaExceeded (retryable) so the unit is retried or re-queued; raises Stopped if `stop` is
    set while waiting."""
    acquire, release = _redis_slot(model, hold_seconds) if _uses_redis() else _local_slot(model)

    def acquire_or_local() -> bool:
        nonlocal acquire, release
        try:
            return acquire()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning(
                "provider slots for %s: Redis is failing (%s); counting in this process",
                model,
                type(exc).__name__,
            )
            acquire, release = _local_slot(model)
            return acquire()

    deadline = time.monotonic() + settings.PROVIDER_SLOT_WAIT_SECONDS
    while not acquire_or_local():
        if stop.wait(0.1 + random.random() * 0.2):
            raise Stopped
        if time.monotonic() > deadline:
            raise QuotaExceeded("no free provider slot", retry_after=30)
    try:
        yield
    finally:
        try:
            release()
        except Exception:
            logger.warning("could not release provider slot for %s", model, exc_info=True)


def _local_slot(model: str) -> tuple[Callable[[], bool], Callable[[], None]]:
    with _local_lock:
        semaphore = _local_semaphores.setdefault(
            model, threading.BoundedSemaphore(settings.PROVIDER_MAX_CONCURRENT_CALLS)
        )
    return (lambda: semaphore.acquire(blocking=False)), semaphore.release


def _redis_slot(model: str, hold_seconds: float) -> tuple[Callable[[], bool], Callable[[], None]]:
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'vb')}:slots:{model}"
    token = uuid.uuid4().hex
    script = client.register_script(_ACQUIRE)
    limit = settings.PROVIDER_MAX_CONCURRENT_CALLS
    ttl = int(hold_seconds) + 60

    def acquire() -> bool:
        now = time.time()
        return bool(script(keys=[key], args=[now - hold_seconds, now, limit, token, ttl]))

    return acquire, lambda: client.zrem(key, token)


# --- retries -----------------------------------------------------------------------------------


def backoff_delay(attempt: int, error: ProviderError) -> float:
    """Seconds before retry number `attempt` (1-based): Google's RetryInfo delay plus up to 10%
    jitter when the answer carried one (never less than asked), else exponential backoff from
    GEMINI_RETRY_INITIAL_DELAY with full jitter (AWS Architecture Blog, "Exponential Backoff
    and Jitter", 2015)."""
    if error.retry_after is not None:
        return error.retry_after * (1 + random.random() * 0.1)
    ceiling = settings.GEMINI_RETRY_INITIAL_DELAY * (2 ** (attempt - 1))
    return ceiling / 2 + random.random() * ceiling / 2


def call_with_retries(
    call: Callable[[], T],
    *,
    provider: str,
    model: str,
    hold_seconds: float,
    stop: threading.Event,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`call()` with the breaker, the per-model slot and retries of transient faults;
    `on_retry()` runs before each wait for a retry (a job's card then says it is retrying).

    Raises the last ProviderError (not retryable, or attempts spent), ProviderCircuitOpen,
    RequeueUnit (the next delay is longer than PROVIDER_INLINE_RETRY_MAX_SECONDS, so the worker
    thread is freed), or Stopped.
    """
    breaker = CircuitBreaker(provider, model)
    attempts = max(1, settings.GEMINI_RETRY_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        breaker.check()
        try:
            with model_slot(model, hold_seconds=hold_seconds, stop=stop):
                value = call()
        except ProviderError as exc:
            if exc.trips_breaker:
                breaker.record_failure()
            if not exc.retryable:
                raise
            delay = backoff_delay(attempt, exc)
            if delay > settings.PROVIDER_INLINE_RETRY_MAX_SECONDS:
                raise RequeueUnit(delay, exc) from exc
            if attempt == attempts:
                raise
            logger.info("retrying %s in %.1f s after %s", model, delay, exc.code)
            if on_retry is not None:
                on_retry()
            if stop.wait(delay):
                raise Stopped from exc
            continue
        breaker.record_success()
        return value
    raise AssertionError("unreachable")
