"""The AI result cache with single-flight, for job types with deterministic inputs.

A result is stored under `cache_key(job type, policy version, model id, normalized input, owner)`
in the default cache (Redis in production, so shared by every process); the owner is the
creator's id, left out only for a `shared` CachePolicy (`JobType.result_cache_key`).
`single_flight` makes N concurrent identical computations, in any processes, one: the first
caller takes a lock key (atomic `add`), computes and stores; the others wait for the stored
result. Image generation is never cached (its job types have no CachePolicy).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

LOCK_SECONDS = 300  # default lock length; a crashed holder's lock expires after it
POLL_SECONDS = 0.1


def cache_key(
    *, job_type: str, version: str, model: str, normalized_input: Any, owner: int | None
) -> str:
    """`ai:<type>:<sha256>` of the canonical JSON of (version, model, input), with the owner's id
    after them unless `owner` is None (a result any creator may be served)."""
    parts = [version, model, normalized_input]
    if owner is not None:
        parts.append({"owner": owner})
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"ai:{job_type}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def get(key: str, usable: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
    """The result cached under `key`, or None: nothing cached, or what is cached fails `usable`
    (the job type's `cached_result_usable`: a result naming a stored file since deleted)."""
    value = cache.get(key)
    if not isinstance(value, dict):
        return None
    return value if usable is None or usable(value) else None


def single_flight(
    key: str,
    compute: Callable[[], dict[str, Any]],
    *,
    ttl_seconds: int,
    stop: threading.Event | None = None,
    lock_seconds: int = LOCK_SECONDS,
    usable: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[dict[str, Any], bool]:
    """(result, from_cache). Computes at most once per key across processes while a result
    is cached; a caller that finds another computing waits for its result (and computes itself
    if that one fails and releases the lock). Errors of `compute` propagate to its caller only.
    `lock_seconds` must outlast the longest computation (the job's time limit): a lock that
    expired under a computation still running let an identical job compute again. A cached
    result that fails `usable` counts as none (see `get`). With the cache unreachable, computes
    directly."""
    token = uuid.uuid4().hex
    lock = f"{key}:lock"
    while True:
        found = get(key, usable)
        if found is not None:
            return found, True
        acquired = cache.add(lock, token, lock_seconds)
        if acquired is None:  # django-redis with IGNORE_EXCEPTIONS: the cache is down
            return compute(), False
        if acquired:
            try:
                found = get(key, usable)  # stored between our look-up and the lock
                if found is not None:
                    return found, True
                result = compute()
                cache.set(key, result, ttl_seconds)
                return result, False
            finally:
                if cache.get(lock) == token:
                    cache.delete(lock)
        while cache.get(lock) is not None and get(key, usable) is None:
            if stop is not None and stop.is_set():
                raise InterruptedError("stopped while waiting for a shared result")
            time.sleep(POLL_SECONDS)
