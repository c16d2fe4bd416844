"""The Redis channel layer keeps an idle receive open: its socket read timeout must outlast
channels_redis's blocking read (BZPOPMIN, `RedisChannelLayer.brpop_timeout` = 5 s), or idle
websockets are cut every few seconds. tests/test_redis_faults.py checks the configured timeouts
against that read; this test lives through one such read on a real socket (each read is a new
socket operation, so one read proves the timeout)."""

from __future__ import annotations

import os

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

pytestmark = pytest.mark.redis

IDLE_SECONDS = float(
    os.environ.get("VIEWBAIT_WS_IDLE_SECONDS", RedisChannelLayer.brpop_timeout + 1.5)
)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_an_idle_websocket_stays_open_and_still_gets_job_events() -> None:
    """A signed-in socket on the Redis layer, idle for VIEWBAIT_WS_IDLE_SECONDS (default 6.5 s:
    one blocking read and a margin; set 60 or more to check longer idles), then receives a job
    event that the publisher thread sends."""
    if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):
        pytest.skip("needs REDIS_URL (the Redis channel layer)")
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from generation.models import Job
    from generation.progress import flush_publications, publish_job
    from tests.conftest import make_user
    from viewbait.asgi import application

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
    assert await socket.receive_nothing(timeout=IDLE_SECONDS, interval=1)  # idle, still open
    job = await sync_to_async(Job.objects.create)(
        user=user, type="generate_thumbnails", params={}, units=1, unit_cost=1, cost=0
    )
    await sync_to_async(publish_job)(job, with_result=False)
    await sync_to_async(flush_publications)()
    message = await socket.receive_json_from(timeout=5)
    assert message["job"]["id"] == str(job.id)
    await socket.disconnect()
