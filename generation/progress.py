"""Job payloads and their publication to the owner's websocket group.

Publishing runs no database query for a running job's progress (`with_result=False`); the
result (thumbnails or JSON) is added once the job has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

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


PUBLISH_TIMEOUT_SECONDS = 5.0


class _PublishLoop:
    """One event loop per process, on a daemon thread, where sync code's publications run.

    channels_redis keeps its connection pools per event loop, and `async_to_sync` from a thread
    without a loop (the worker's threads, a management command) makes a new loop, hence a new
    Redis connection, per call (django/channels_redis#125, #130). Running every publication on
    this one long-lived loop reuses its pool. Made again in a forked child (Dramatiq's workers).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="channel-layer-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except BaseException:
            future.cancel()
            raise


_publish_loop = _PublishLoop()


def publish_job(job: Job, *, with_result: bool = True) -> None:
    """Send `{"type": "job.updated", "job": payload}` to the owner's sockets. A channel-layer
    fault is logged, never raised: the job and the polling endpoint stay correct without it."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "job.updated", "job": job_payload(job, with_result=with_result)}
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Its queues belong to the consumers' loop and this process: no connection to keep.
            async_to_sync(layer.group_send)(user_group(job.user_id), message)
        else:
            _publish_loop.run(layer.group_send(user_group(job.user_id), message))
    except Exception:
        logger.warning("could not publish job %s event", job.id, exc_info=True)
