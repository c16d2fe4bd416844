"""The Redis channel layer keeps an idle receive open: its socket read timeout must outlast
channels_redis's blocking read (BZPOPMIN, 5 s), or idle websockets are cut every few seconds."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

pytestmark = pytest.mark.redis


async def test_an_idle_receive_outlasts_the_blocking_read_and_still_gets_its_message() -> None:
    if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):
        pytest.skip("needs REDIS_URL (the Redis channel layer)")
    layer = get_channel_layer()
    channel = await layer.new_channel()
    receive = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(6.5)  # longer than one 5 s blocking read: a short socket timeout raises
    assert not receive.done() or receive.exception() is None
    await layer.send(channel, {"type": "job.updated", "job": {"id": "x"}})
    message = await asyncio.wait_for(receive, 10)
    assert message["job"] == {"id": "x"}
