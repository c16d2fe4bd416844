"""Cache-aside with versioned keys, for data every process reads often and rarely writes.

Lives on the "default" cache: Redis when REDIS_URL is set (shared by every web process and
worker), else this process's memory. Each namespace ("billing:plans", "billing:account:42",
"library:styles") has a version token under `<namespace>:version`; values are stored under
`<namespace>:<token>`. `invalidate` writes a new token when the transaction commits, so every
process misses at once and rebuilds from the database; superseded entries expire on their own.

Inside a database transaction the cache is bypassed: a transaction may see its own uncommitted
writes, which must never reach other processes. Cache faults never break a page: the value is
loaded from the database and the fault logged once per interval (core.redis_faults).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

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


def _version(namespace: str) -> str:
    cache = caches[CACHE_ALIAS]
    key = f"{namespace}:version"
    token = cache.get(key)
    if token is None:
        token = secrets.token_hex(6)
        if not cache.add(key, token, None):
            token = cache.get(key) or token
    return str(token)


def in_use() -> bool:
    """False inside a database transaction, where reads go straight to the database."""
    return not connection.in_atomic_block


def cached(namespace: str, load: Callable[[], T], *, timeout: int) -> T:
    """`namespace`'s current value from the cache, else `load()` stored for `timeout` seconds.
    Calls `load()` directly inside a transaction or when the cache fails."""
    if not in_use():
        return load()
    cache = caches[CACHE_ALIAS]
    family = _family(namespace)
    try:
        key = f"{namespace}:{_version(namespace)}"
        value = cache.get(key, _MISSING)
    except Exception:  # any cache fault: the database answers instead
        log_throttled(logger, "shared-cache-read", "shared cache read failed for %s", namespace)
        _stats[family, "errors"] += 1
        return load()
    if value is not _MISSING:
        _stats[family, "hits"] += 1
        return value  # type: ignore[return-value]
    _stats[family, "misses"] += 1
    value = load()
    try:
        cache.set(key, value, timeout)
    except Exception:
        log_throttled(logger, "shared-cache-write", "shared cache write failed for %s", namespace)
        _stats[family, "errors"] += 1
    return value


def _bump(namespace: str) -> None:
    try:
        caches[CACHE_ALIAS].set(f"{namespace}:version", secrets.token_hex(6), None)
    except Exception:  # entries then live until their timeout; that bounds the staleness
        log_throttled(
            logger, "shared-cache-invalidate", "shared cache invalidation failed for %s", namespace
        )


def invalidate(namespace: str) -> None:
    """Make every process reload `namespace`: a new version token once the current transaction
    commits (at once outside a transaction)."""
    transaction.on_commit(lambda: _bump(namespace))


def stats() -> dict[str, dict[str, int]]:
    """`{family: {"hits", "misses", "errors"}}` counted by this process since `reset_stats()`."""
    result: dict[str, dict[str, int]] = {}
    for (family, outcome), count in _stats.items():
        result.setdefault(family, {"hits": 0, "misses": 0, "errors": 0})[outcome] = count
    return result


def reset_stats() -> None:
    _stats.clear()
