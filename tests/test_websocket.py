"""Live job events over /ws/jobs/: the owner receives them, a stranger receives nothing."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from generation.models import Job
from generation.progress import publish_job
from tests.conftest import make_user
from viewbait.asgi import application

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(cookie: bytes | None) -> tuple[WebsocketCommunicator, bool, Any]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, "/ws/jobs/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_owner_receives_job_events_and_stranger_nothing() -> None:
    owner = await sync_to_async(make_user)("ws-owner@example.com")
    stranger = await sync_to_async(make_user)("ws-stranger@example.com")
    owner_ws, ok_owner, _ = await connect(await sync_to_async(session_cookie)(owner))
    stranger_ws, ok_stranger, _ = await connect(await sync_to_async(session_cookie)(stranger))
    assert ok_owner and ok_stranger
    # Frames that are not JSON text are ignored; the socket stays up and still answers a ping.
    await owner_ws.send_to(text_data="not json")
    await owner_ws.send_to(bytes_data=b"\x00\xff")
    await owner_ws.send_to(text_data="[" * 100_000 + "]" * 100_000)  # past the recursion limit
    await owner_ws.send_json_to({"type": "ping"})
    assert await owner_ws.receive_json_from(timeout=5) == {"type": "pong"}

    job = await sync_to_async(Job.objects.create)(
        user=owner,
        type="generate_thumbnails",
        params={"title": "Hi"},
        units=1,
        unit_cost=1,
        cost=1,
        stage="rendering",
        progress=40,
        status="running",
    )
    await sync_to_async(publish_job)(job)

    message = await owner_ws.receive_json_from(timeout=5)
    assert message["type"] == "job.updated"
    assert message["job"]["id"] == str(job.id)
    assert (message["job"]["status"], message["job"]["progress"]) == ("running", 40)
    assert "prompt" not in message["job"]
    assert await stranger_ws.receive_nothing(timeout=0.5)
    await owner_ws.disconnect()
    await stranger_ws.disconnect()


async def test_anonymous_socket_is_refused() -> None:
    _communicator, connected, code = await connect(None)
    assert not connected
    assert code == 4401
