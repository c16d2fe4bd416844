"""Job payloads and their publication to the owner's websocket group.

Publishing runs no database query for a running job's progress (`with_result=False`); the
result (thumbnails or JSON) is added once the job has finished. It never makes its caller wait
on Redis: a background thread sends the events (`_Publisher`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import queue
import threading
import time
from typing import Any, TypedDict

import redis
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from core.redis_faults import FAULTS, RedisBreaker, breaker_for, log_throttled, server_address
from generation.models import Job
from generation.registry import get_job_type

logger = logging.getLogger(__name__)


class JobPayload(TypedDict, total=False):
    id: str
    type: str
    status: str
    stage: str
    progress: int
    error: str | None
    error_code: str | None
    cost: int
    units: int
    units_succeeded: int
    units_failed: int
    created_at: str
    finished_at: str | None
    model: str
    cached: bool
    result: dict[str, Any] | None
    thumbnails: list[dict[str, Any]]


def user_group(user_id: int) -> str:
    """The Channels group of one user's job events; only that user's sockets join it."""
    return f"jobs.user.{user_id}"


def job_payload(job: Job, *, with_result: bool = True) -> JobPayload:
    """The job as the API and websocket show it: no prompt, no internal fields. The job
    type's result fields (`thumbnails`, `result`) only with `with_result` (a query for some)."""
    payload: JobPayload = {
        "id": str(job.id),
        "type": job.type,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "error": job.error or None,
        "error_code": job.error_code or None,
        "cost": job.cost,
        "units": job.units,
        "units_succeeded": job.units_succeeded,
        "units_failed": job.units_failed,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "model": job.model,
        "cached": job.cached,
        "result": None,
        "thumbnails": [],
    }
    if with_result:
        with contextlib.suppress(KeyError):  # a job type no longer registered shows no result
            payload.update(get_job_type(job.type).result(job))  # type: ignore[typeddict-item]
    return payload


# One publication may take this long (s) before it is dropped: the "publish" layer's own
# socket timeouts (settings.REDIS_TIMEOUT_SECONDS) normally end it first.
PUBLISH_TIMEOUT_SECONDS = 1.0
# Publications waiting for the publisher thread; past this, new ones are dropped (and logged).
PUBLISH_QUEUE_SIZE = 256
# The channel layer alias publications go to: "publish" (short socket timeouts, no blocking
# reads) when configured, else "default".
PUBLISH_LAYER = "publish"


class _Publisher:
    """One thread per process that sends job events, in order, from a bounded queue.

    Callers (the worker's job threads, the web process's on-commit hooks) never wait on Redis:
    `submit` returns at once, and a full queue drops the event (the job row and the polling
    endpoint stay right, and the next event carries the latest state). The thread runs every
    publication on one long-lived event loop, so channels_redis's per-loop connection pool is
    reused instead of a connection per call (django/channels_redis#125, #130). A publication
    is skipped while the server's breaker is open (core.redis_faults), and one that fails
    or outlasts PUBLISH_TIMEOUT_SECONDS opens it. Made again in a forked child (Dramatiq).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Any, str, dict[str, Any]]] | None = None
        self._pid = 0

    def _ensure(self) -> queue.Queue[tuple[Any, str, dict[str, Any]]]:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue = queue.Queue(PUBLISH_QUEUE_SIZE)
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run,
                    args=(self._queue,),
                    name="channel-layer-publisher",
                    daemon=True,
                ).start()
            return self._queue

    def submit(self, layer: Any, group: str, message: dict[str, Any]) -> bool:
        """Queue `message` for `group` on `layer`. False when the queue is full (dropped)."""
        try:
            self._ensure().put_nowait((layer, group, message))
        except queue.Full:
            log_throttled(
                logger, "publish-queue-full", "job event publishing is behind; dropping events"
            )
            return False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` s until every queued publication was sent or dropped."""
        pending = self._queue
        deadline = time.monotonic() + timeout
        while pending is not None and pending.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _run(self, pending: queue.Queue[tuple[Any, str, dict[str, Any]]]) -> None:
        loop = asyncio.new_event_loop()
        while True:
            layer, group, message = pending.get()
            try:
                self._send(loop, layer, group, message)
            finally:
                pending.task_done()

    @staticmethod
    def _send(
        loop: asyncio.AbstractEventLoop, layer: Any, group: str, message: dict[str, Any]
    ) -> None:
        breaker = _breaker(layer)
        if breaker is not None and not breaker.allow():
            log_throttled(logger, "publish-skipped", "Redis is failing; dropping job events")
            return
        try:
            loop.run_until_complete(
                asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT_SECONDS)
            )
        except Exception as exc:
            if breaker is not None and isinstance(exc, (*FAULTS, TimeoutError, OSError)):
                # A fault of the server (not, say, a full channel) fails fast for a while.
                breaker.record_failure(
                    exc if isinstance(exc, FAULTS) else redis.TimeoutError(repr(exc))
                )
            log_throttled(logger, "publish-failed", "could not publish a job event: %r", exc)
        else:
            if breaker is not None:
                breaker.record_success()


def _breaker(layer: Any) -> RedisBreaker | None:
    """The breaker of the Redis server a channels_redis layer sends to (its first host)."""
    hosts = getattr(layer, "hosts", None)
    address = hosts[0].get("address") if hosts else None
    return breaker_for(server_address(address)) if address else None


_publisher = _Publisher()
atexit.register(_publisher.flush, 2.0)  # a management command's last events


def flush_publications(timeout: float = 5.0) -> bool:
    """Wait up to `timeout` s for queued job events to be sent (or dropped). Returns False on
    timeout. Tests and short-lived commands use it; the worker never needs to."""
    return _publisher.flush(timeout)


def publication_layer() -> Any:
    """The channel layer job events go to: "publish" when configured, else "default"."""
    alias = PUBLISH_LAYER if PUBLISH_LAYER in settings.CHANNEL_LAYERS else DEFAULT_CHANNEL_LAYER
    return get_channel_layer(alias)


def publish_job(job: Job, *, with_result: bool = True) -> None:
    """Send `{"type": "job.updated", "job": payload}` to the owner's sockets, without waiting on
    Redis: queued for the publisher thread (see `_Publisher`). A channel-layer fault is logged
    (once per interval), never raised: the job and the polling endpoint stay correct without
    it."""
    layer = publication_layer()
    if layer is None:
        return
    message = {"type": "job.updated", "job": job_payload(job, with_result=with_result)}
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the consumers' loop and this process: no connection to keep.
        try:
            async_to_sync(layer.group_send)(user_group(job.user_id), message)
        except Exception:
            logger.warning("could not publish job %s event", job.id, exc_info=True)
        return
    _publisher.submit(layer, user_group(job.user_id), dict(message))
