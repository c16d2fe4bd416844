"""Redis faults that cost milliseconds: a per-server circuit breaker, fail-open caching and
log lines rate-limited per fault.

A hung Redis (a paused server, a saturated host) accepts TCP connections and never answers, so
every command waits out its read timeout. Short timeouts alone make each command cost that
timeout; a page issuing five cache commands would still take seconds. So every short-timeout
client of ViewBait (the general cache, the rate-limit store, the Dramatiq broker, progress
publishing) shares one breaker per Redis server and process:

- closed: commands run; a connection error or timeout opens it (the first fault: one timeout is
  what a request may spend on Redis);
- open for `REDIS_BREAKER_COOLDOWN_SECONDS`: commands to that server raise `RedisUnavailable`
  (a `redis.ConnectionError`) at once, without touching the network;
- then one thread probes with its next command: an answer closes the breaker, a fault opens it
  again. Other threads keep failing fast until the probe ends.

The websocket channel layer's receive path does not use it: its blocking reads (channels_redis,
BZPOPMIN, 5 s) need a long read timeout, and a stalled websocket costs no page.

Repeated fault messages go through `log_throttled`: one line per key and
`REDIS_FAULT_LOG_INTERVAL_SECONDS`, with a count of what was held back since.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from dramatiq.brokers.redis import RedisBroker as _DramatiqRedisBroker
from redis.connection import (
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)

logger = logging.getLogger(__name__)

DEFAULT_COOLDOWN_SECONDS = 2.0
DEFAULT_LOG_INTERVAL_SECONDS = 60.0
# How long one thread owns the half-open probe before another may try: longer than a command
# with its connect and read timeouts (0.5 s each by default).
PROBE_SECONDS = 5.0


# --- log throttle -----------------------------------------------------------------------------


class LogThrottle:
    """At most one log line per key and `interval` seconds; the next line that gets through
    says how many were held back."""

    def __init__(self, interval: float | None = None) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    @property
    def interval(self) -> float:
        if self._interval is not None:
            return self._interval
        return float(
            getattr(settings, "REDIS_FAULT_LOG_INTERVAL_SECONDS", DEFAULT_LOG_INTERVAL_SECONDS)
        )

    def log(
        self,
        log: logging.Logger,
        level: int,
        key: str,
        message: str,
        *args: Any,
        exc_info: Any = None,
    ) -> bool:
        """Log `message % args` at `level` unless `key` was logged in the last interval.
        Returns whether it was logged."""
        held = self.admit(key)
        if held is None:
            return False
        if held:
            message += " (%d similar messages held back in the last %.0f s)"
            args = (*args, held, self.interval)
        log.log(level, message, *args, exc_info=exc_info)
        return True

    def admit(self, key: str) -> int | None:
        """None when `key` had a line in the last interval (this one is held back, counted);
        else how many were held back since its last line (0: none)."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] += 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)

    def reset(self) -> None:
        with self._lock:
            self._last.clear()
            self._held.clear()


_throttle = LogThrottle()


def log_throttled(
    log: logging.Logger,
    key: str,
    message: str,
    *args: Any,
    level: int = logging.WARNING,
    exc_info: Any = None,
) -> bool:
    """Log a fault once per `REDIS_FAULT_LOG_INTERVAL_SECONDS` per `key` (process-wide), e.g.
    `log_throttled(logger, "ratelimit:login", "store failed; letting %s through", route)`.
    Returns whether the line was written."""
    return _throttle.log(log, level, key, message, *args, exc_info=exc_info)


# --- breaker ----------------------------------------------------------------------------------


class RedisUnavailable(redis.ConnectionError):
    """Raised without a network call while a server's breaker is open."""


class RedisTimedOut(redis.TimeoutError, redis.ConnectionError):
    """A read or write that timed out, raised as both: callers catching TimeoutError still do,
    and those that treat only ConnectionError as the server being away do too. Dramatiq's
    consumers take a bare TimeoutError (a hung server) for an unexpected error, logged CRITICAL
    with its traceback every 20 s per consumer (fault test: 701 tracebacks in ten minutes)."""


FAULTS = (redis.ConnectionError, redis.TimeoutError)


def _as_fault(exc: Exception) -> Exception:
    """`exc`, or a RedisTimedOut from it for a TimeoutError that is not a ConnectionError."""
    if isinstance(exc, redis.TimeoutError) and not isinstance(exc, redis.ConnectionError):
        timed_out = RedisTimedOut(*exc.args)
        timed_out.__cause__ = exc
        return timed_out
    return exc


class RedisBreaker:
    """The breaker of one server in this process (see the module docstring): a Redis server,
    or another service whose client gates on it (core.rabbitmq: `service="RabbitMQ"`, raising
    its own `unavailable` error)."""

    def __init__(
        self,
        address: str,
        *,
        service: str = "Redis",
        unavailable: type[Exception] | None = None,
    ) -> None:
        self.address = address
        self.service = service
        self.unavailable: type[Exception] = unavailable or RedisUnavailable
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._opened_at = 0.0
        self._prober: int | None = None
        self._probe_until = 0.0
        self.last_error = ""

    @property
    def cooldown(self) -> float:
        return float(getattr(settings, "REDIS_BREAKER_COOLDOWN_SECONDS", DEFAULT_COOLDOWN_SECONDS))

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    @property
    def retry_in(self) -> float:
        """Seconds (monotonic clock) until a thread may probe the server again: 0 while closed
        or once the cooldown since the last fault (`REDIS_BREAKER_COOLDOWN_SECONDS`) is over."""
        open_until = self._open_until
        return 0.0 if open_until is None else max(0.0, open_until - time.monotonic())

    def allow(self) -> bool:
        """May this thread send a command now? True while closed, and for the one probing
        thread once the cooldown is over."""
        if self._open_until is None:
            return True
        me = threading.get_ident()
        with self._lock:
            if self._open_until is None:
                return True
            now = time.monotonic()
            if self._prober == me and now < self._probe_until:
                return True
            if now >= self._open_until and (self._prober is None or now >= self._probe_until):
                self._prober, self._probe_until = me, now + PROBE_SECONDS
                return True
            return False

    def check(self) -> None:
        """Raise `self.unavailable` (RedisUnavailable for Redis) unless `allow()`."""
        if not self.allow():
            raise self.unavailable(
                f"{self.service} at {self.address} is failing fast after a fault "
                f"({self.last_error}); next try in {self.retry_in:.1f} s"
            )

    def record_failure(self, exc: BaseException) -> None:
        """Open (or re-open) the breaker for a fault `exc`; each exception counts once (a
        connect fails inside its handshake's read, and both report it)."""
        if isinstance(exc, self.unavailable) or getattr(exc, "_redis_breaker_seen", False):
            return
        with contextlib.suppress(AttributeError):
            exc._redis_breaker_seen = True  # type: ignore[attr-defined]
        now = time.monotonic()
        with self._lock:
            if self._open_until is None:
                self._opened_at = now
            self._open_until = now + self.cooldown
            self._prober = None
            self.last_error = f"{type(exc).__name__}: {exc}"
        log_throttled(
            logger,
            f"redis-down:{self.address}",
            "%s at %s failed (%s); its clients fail fast, retrying every %.0f s",
            self.service,
            self.address,
            self.last_error,
            self.cooldown,
        )

    def record_success(self) -> None:
        if self._open_until is None:
            return
        with self._lock:
            if self._open_until is None:
                return
            down_for = time.monotonic() - self._opened_at
            self._open_until, self._prober = None, None
        logger.warning("%s at %s answers again after %.1f s", self.service, self.address, down_for)

    def reset(self) -> None:
        with self._lock:
            self._open_until, self._prober, self.last_error = None, None, ""


_breakers: dict[str, RedisBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(
    address: str, *, service: str = "Redis", unavailable: type[Exception] | None = None
) -> RedisBreaker:
    """The process's breaker for the server at `address` ("host:port" or a socket path; see
    `server_address`; another service's addresses carry its scheme, "amqp://host:port")."""
    breaker = _breakers.get(address)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(
                address, RedisBreaker(address, service=service, unavailable=unavailable)
            )
    return breaker


def reset_breakers() -> None:
    """Close every breaker and forget which faults were logged when (tests)."""
    for breaker in list(_breakers.values()):
        breaker.reset()
    _throttle.reset()


def server_address(url: str) -> str:
    """The server a Redis URL names, without database or credentials: "host:port" for
    redis:// and rediss:// (port 6379 by default), the socket path for unix://."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class _BreakerMixin:
    """Gates a redis-py connection's connect, send and read on its server's breaker."""

    _breaker: RedisBreaker | None = None

    def _server(self) -> str:
        path = getattr(self, "path", None)
        if path:
            return str(path)
        return f"{getattr(self, 'host', 'localhost')}:{getattr(self, 'port', 6379)}"

    @property
    def breaker(self) -> RedisBreaker:
        if self._breaker is None:
            self._breaker = breaker_for(self._server())
        return self._breaker

    def connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
        self.breaker.check()
        try:
            return super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        except FAULTS as exc:
            if isinstance(exc, RedisTimedOut):  # recorded where it was raised (a nested call)
                raise
            self.breaker.record_failure(exc)
            fault = _as_fault(exc)
            if fault is exc:
                raise
            raise fault from exc

    def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
        self.breaker.check()
        try:
            return super().send_packed_command(*args, **kwargs)  # type: ignore[misc]
        except FAULTS as exc:
            if isinstance(exc, RedisTimedOut):  # recorded where it was raised (a nested call)
                raise
            self.breaker.record_failure(exc)
            fault = _as_fault(exc)
            if fault is exc:
                raise
            raise fault from exc

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().read_response(*args, **kwargs)  # type: ignore[misc]
        except FAULTS as exc:
            if isinstance(exc, RedisTimedOut):  # recorded where it was raised (a nested call)
                raise
            self.breaker.record_failure(exc)
            fault = _as_fault(exc)
            if fault is exc:
                raise
            raise fault from exc
        self.breaker.record_success()
        return response


class BreakerConnection(_BreakerMixin, Connection):
    pass


class BreakerSSLConnection(_BreakerMixin, SSLConnection):
    pass


class BreakerUnixConnection(_BreakerMixin, UnixDomainSocketConnection):
    pass


_WITH_BREAKER: dict[type, type] = {
    Connection: BreakerConnection,
    SSLConnection: BreakerSSLConnection,
    UnixDomainSocketConnection: BreakerUnixConnection,
}


class BreakerConnectionPool(ConnectionPool):
    """A redis-py pool whose connections use their server's breaker; `from_url` works as
    redis-py's (redis://, rediss://, unix://). For django-redis: OPTIONS
    `CONNECTION_POOL_CLASS = "core.redis_faults.BreakerConnectionPool"`."""

    def __init__(self, connection_class: type = Connection, **kwargs: Any) -> None:
        super().__init__(
            connection_class=_WITH_BREAKER.get(connection_class, connection_class), **kwargs
        )


def redis_client(url: str, *, timeout: float, **kwargs: Any) -> redis.Redis:
    """A redis-py client for `url` behind its server's breaker, with `timeout` seconds to
    connect and to read, and no retries (redis-py's own default retries ten times)."""
    pool = BreakerConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, **kwargs
    )
    return redis.Redis(connection_pool=pool)


# --- clients ----------------------------------------------------------------------------------


class FailOpenRedisCache(RedisCache):
    """django-redis's cache for the "default" alias, that never raises a Redis fault.

    As with IGNORE_EXCEPTIONS, a read misses and a write is dropped; in addition `add` answers
    True, as though this caller were alone. Callers that use `add` as a lock (django-allauth's
    rate limits, which otherwise spin for a second and then refuse the log-in; the result
    cache; the sweeper) then proceed unlocked while Redis is down, instead of refusing.
    Faults are logged by the breaker, once per interval."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._ignore_exceptions = True

    def add(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return bool(self.client.add(*args, **kwargs))
        except ConnectionInterrupted:
            return True

    def add_unless_down(self, *args: Any, **kwargs: Any) -> bool:
        """`add` answering False while Redis is down, for callers that count with it (share
        clicks): `add`'s True would count every reload of an outage."""
        try:
            return bool(self.client.add(*args, **kwargs))
        except ConnectionInterrupted:
            return False


class RedisBroker(_DramatiqRedisBroker):
    """Dramatiq's Redis broker with connect and read timeouts of `timeout` seconds, no
    retries, behind the server's breaker: a hung Redis costs a `send` one timeout, then
    RedisUnavailable at once. (Dramatiq's own `url=` makes a pool that takes no timeouts;
    redis-py's default read timeout is 5 s, retried ten times.) The worker's fetches are Lua
    scripts, not blocking reads, so a short read timeout suits them too."""

    def __init__(self, *, url: str, timeout: float = 0.5, **options: Any) -> None:
        pool = BreakerConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        super().__init__(connection_pool=pool, **options)
        self.server = server_address(url)
