"""The Redis channel layer keeps an idle receive open: its socket read timeout must outlast
channels_redis's blocking read (BZPOPMIN, `RedisChannelLayer.brpop_timeout` = 5 s), or idle
websockets are cut every few seconds. tests/test_redis_faults.py checks the configured timeouts
against that read; this test lives through one such read on a real socket (each read is a new
socket operation, so one read proves the timeout): the socket idles until a blocking read has
ended empty, then gets a job event."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

pytestmark = pytest.mark.redis

# Set 60 or more to check longer idles; by default the socket idles through one blocking read.
IDLE_SECONDS = float(os.environ.get("VIEWBAIT_WS_IDLE_SECONDS", 0))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_an_idle_websocket_stays_open_and_still_gets_job_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signed-in socket on the Redis layer stays idle until its consumer's blocking read has
    ended with nothing (about 5 s: `brpop_timeout`), and for VIEWBAIT_WS_IDLE_SECONDS more when
    set, then receives a job event that the publisher thread sends."""
    if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):
        pytest.skip("needs REDIS_URL (the Redis channel layer)")
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from generation.models import Job
    from generation.progress import flush_publications, publish_job
    from tests.conftest import make_user
    from viewbait.asgi import application

    empty_reads: list[float] = []  # when each blocking read of the consumer ended with nothing
    blocking_read = RedisChannelLayer._brpop_with_clean

    async def counted(self: RedisChannelLayer, *args: Any, **kwargs: Any) -> Any:
        content = await blocking_read(self, *args, **kwargs)
        if content is None:
            empty_reads.append(time.monotonic())
        return content

    monkeypatch.setattr(RedisChannelLayer, "_brpop_with_clean", counted)
    user = await sync_to_async(make_user)("idle-ws@example.com")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(
        application,
        "/ws/jobs/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)],
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    deadline = time.monotonic() + RedisChannelLayer.brpop_timeout + 30
    while not empty_reads:  # idle, still open, until a whole blocking read has passed
        assert await socket.receive_nothing(timeout=0.2, interval=0.05)
        assert time.monotonic() < deadline, "no blocking read ended"
    if IDLE_SECONDS:
        assert await socket.receive_nothing(timeout=IDLE_SECONDS, interval=1)
    job = await sync_to_async(Job.objects.create)(
        user=user, type="generate_thumbnails", params={}, units=1, unit_cost=1, cost=0
    )
    await sync_to_async(publish_job)(job, with_result=False)
    await sync_to_async(flush_publications)()
    message = await socket.receive_json_from(timeout=5)
    assert message["job"]["id"] == str(job.id)
    await socket.disconnect()
