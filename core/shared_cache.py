"""Cache-aside with versioned keys, for data every process reads often and rarely writes.

Lives on the "default" cache: Redis when REDIS_URL is set (shared by every web process and
worker), else this process's memory. Each namespace ("billing:plans", "billing:account:42",
"library:styles") has a version token under `<namespace>:version` and its value, stored with the
token it was loaded under, at `<namespace>:data`; both are read in one round trip (`get_many`),
and the value counts only while its token is the current one. `invalidate` writes a new token
when the transaction commits, so every process misses at once and rebuilds from the database.

Within one request (`request_scope`, opened by core.middleware.SharedCacheScopeMiddleware) each
namespace is read from the cache at most once, and `warm` reads several in one round trip: the
studio page needs five, which cost 19 Redis round trips per request before (two per read, and
the plan read three times).

Inside a database transaction the cache is bypassed: a transaction may see its own uncommitted
writes, which must never reach other processes. Cache faults never break a page: the value is
loaded from the database and the fault logged once per interval (core.redis_faults).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import caches
from django.db import connection, transaction

from core.redis_faults import log_throttled

logger = logging.getLogger(__name__)

T = TypeVar("T")
CACHE_ALIAS = "default"
_MISSING = object()
# Hits, misses and faults per namespace family ("billing:account:42" counts as "billing:account"),
# for benchmarks/cache_hit_ratio.py. Per process; approximate under threads.
_stats: Counter[tuple[str, str]] = Counter()


def _family(namespace: str) -> str:
    head, _, tail = namespace.rpartition(":")
    return head if tail.isdigit() else namespace


# The values read so far in the current request: {namespace: value, or a _Miss when `warm`
# found none}; None outside a request.
_request_memo: ContextVar[dict[str, Any] | None] = ContextVar("shared_cache_memo", default=None)
# The version token each of those values was read under ({namespace: token}; None when the cache
# held none), for `read_versions`.
_request_tokens: ContextVar[dict[str, str | None] | None] = ContextVar(
    "shared_cache_tokens", default=None
)


@dataclass(frozen=True)
class _Miss:
    """`warm` found no current value: `cached` loads it without asking the cache again, storing
    it under `token` (the version token `warm` read, None when there was none)."""

    token: str | None


@contextmanager
def request_scope() -> Iterator[None]:
    """Within the block, each namespace is read from the cache once (later reads get the same
    value) until `invalidate` drops it. Threads started by sync_to_async inherit the scope."""
    token = _request_memo.set({})
    tokens = _request_tokens.set({})
    try:
        yield
    finally:
        _request_tokens.reset(tokens)
        _request_memo.reset(token)


def _keys(namespace: str) -> tuple[str, str]:
    return f"{namespace}:version", f"{namespace}:data"


def _current(namespace: str, found: dict[str, Any]) -> Any:
    """The value in `found` (a get_many answer) if it was stored under the current token."""
    version_key, data_key = _keys(namespace)
    token, entry = found.get(version_key), found.get(data_key)
    if token is not None and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == token:
        return entry[1]
    return _MISSING


def _note_token(namespace: str, token: str | None) -> None:
    tokens = _request_tokens.get()
    if tokens is not None:
        tokens[namespace] = token


def read_versions(namespaces: Iterable[str]) -> tuple[str, ...] | None:
    """The version tokens under which this request read `namespaces` (by `warm` or `cached`),
    in order: together they name what the request saw of them, for a per-process memo of
    something made from them (studio.page_memo). None when any of them was not read in this
    request, the cache had no token for it, or it was invalidated since (a request that wrote)."""
    tokens = _request_tokens.get()
    if tokens is None:
        return None
    found = tuple(tokens.get(namespace) for namespace in namespaces)
    return None if None in found else found  # type: ignore[return-value]


def namespaces_read() -> frozenset[str]:
    """The namespaces this request has read so far (empty outside `request_scope`)."""
    memo = _request_memo.get()
    return frozenset(memo) if memo is not None else frozenset()


def in_use() -> bool:
    """False inside a database transaction, where reads go straight to the database."""
    return not connection.in_atomic_block


def warm(*namespaces: str) -> None:
    """Read `namespaces` in one round trip into the current request's memo (a no-op outside
    `request_scope`, inside a transaction, or when the cache fails: `cached` then reads them)."""
    memo = _request_memo.get()
    if memo is None or not in_use():
        return
    wanted = [ns for ns in namespaces if ns not in memo]
    if not wanted:
        return
    try:
        found = caches[CACHE_ALIAS].get_many([key for ns in wanted for key in _keys(ns)])
    except Exception:
        log_throttled(logger, "shared-cache-read", "shared cache read failed for %s", wanted)
        return
    for namespace in wanted:
        _note_token(namespace, found.get(_keys(namespace)[0]))
        value = _current(namespace, found)
        if value is not _MISSING:
            _stats[_family(namespace), "hits"] += 1
            memo[namespace] = value
        else:  # a later warm skips it, and `cached` loads it with no second read
            memo[namespace] = _Miss(found.get(_keys(namespace)[0]))


def cached(
    namespace: str,
    load: Callable[[], T],
    *,
    timeout: int,
    valid: Callable[[T], bool] | None = None,
) -> T:
    """`namespace`'s current value from the cache, else `load()` stored for `timeout` seconds.
    A cached value for which `valid(value)` is false counts as a miss (e.g. a rendered fragment
    whose signed URLs belong to an earlier expiry step). Calls `load()` directly inside a
    transaction or when the cache fails."""
    if not in_use():
        return load()
    memo = _request_memo.get()
    known: Any = memo.get(namespace, _MISSING) if memo is not None else _MISSING
    fresh = known is not _MISSING and not isinstance(known, _Miss)
    if fresh and (valid is None or valid(known)):
        return known  # type: ignore[no-any-return]
    cache = caches[CACHE_ALIAS]
    family = _family(namespace)
    version_key, data_key = _keys(namespace)
    value: Any
    try:
        if isinstance(known, _Miss):  # read by this request's warm: nothing current
            value, token = _MISSING, known.token
        else:
            found = cache.get_many([version_key, data_key])
            value = _current(namespace, found)
            if value is not _MISSING and valid is not None and not valid(value):
                value = _MISSING
            token = found.get(version_key)
        if value is _MISSING and token is None:
            token = secrets.token_hex(6)
            if not cache.add(version_key, token, None):
                token = cache.get(version_key) or token
    except Exception:  # any cache fault: the database answers instead
        log_throttled(logger, "shared-cache-read", "shared cache read failed for %s", namespace)
        _stats[family, "errors"] += 1
        return load()
    if value is not _MISSING:
        _stats[family, "hits"] += 1
    else:
        _stats[family, "misses"] += 1
        value = load()
        try:
            # Stored with the token read before loading: if an invalidation lands meanwhile,
            # the token no longer matches and the next read loads again.
            cache.set(data_key, (token, value), timeout)
        except Exception:
            log_throttled(
                logger, "shared-cache-write", "shared cache write failed for %s", namespace
            )
            _stats[family, "errors"] += 1
    if memo is not None:
        memo[namespace] = value
        _note_token(namespace, token)
    return value  # type: ignore[no-any-return]


def _bump(namespaces: list[str]) -> None:
    """New version tokens for `namespaces`, in one round trip (a SET, or one pipeline)."""
    tokens = {f"{namespace}:version": secrets.token_hex(6) for namespace in namespaces}
    try:
        cache = caches[CACHE_ALIAS]
        if len(tokens) == 1:
            [(key, token)] = tokens.items()
            cache.set(key, token, None)
        else:
            cache.set_many(tokens, None)
    except Exception:  # entries then live until their timeout; that bounds the staleness
        log_throttled(
            logger, "shared-cache-invalidate", "shared cache invalidation failed for %s", namespaces
        )


def _forget(namespace: str) -> None:
    memo = _request_memo.get()
    if memo is not None:
        memo.pop(namespace, None)
    tokens = _request_tokens.get()
    if tokens is not None:
        tokens.pop(namespace, None)


class _Invalidations:
    """The namespaces one transaction invalidates, bumped together when it commits (one
    `transaction.on_commit` hook, so a generate's credits and jobs-in-flight or a finished job's
    credits, gallery and jobs-in-flight cost one Redis round trip, not one each)."""

    def __init__(self) -> None:
        self.namespaces: list[str] = []

    def add(self, namespace: str) -> None:
        if namespace not in self.namespaces:
            self.namespaces.append(namespace)

    def __call__(self) -> None:
        for namespace in self.namespaces:
            _forget(namespace)
        _bump(self.namespaces)


def invalidate(namespace: str) -> None:
    """Make every process reload `namespace`: a new version token once the current transaction
    commits (at once outside a transaction); the current request forgets its copy.

    Within one transaction the namespaces join the batch its first invalidation registered.
    Joining is safe under savepoints: Django drops a hook only when a savepoint that was active
    at its registration rolls back, and every later write joining it was then inside that
    savepoint too, so rolled back with it; a namespace added inside a savepoint that rolls back
    on its own is still bumped, which costs a reload, never a stale read."""
    _forget(namespace)
    if connection.in_atomic_block:
        for entry in connection.run_on_commit:  # (savepoint ids, callable, robust)
            hook = entry[1]
            if isinstance(hook, _Invalidations):
                hook.add(namespace)
                return
    batch = _Invalidations()
    batch.add(namespace)
    transaction.on_commit(batch)


def stats() -> dict[str, dict[str, int]]:
    """`{family: {"hits", "misses", "errors"}}` counted by this process since `reset_stats()`."""
    result: dict[str, dict[str, int]] = {}
    for (family, outcome), count in _stats.items():
        result.setdefault(family, {"hits": 0, "misses": 0, "errors": 0})[outcome] = count
    return result


def reset_stats() -> None:
    _stats.clear()
