"""Live job events over /ws/jobs/: the owner receives them, a stranger receives nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from generation import consumers
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


async def test_a_socket_whose_session_ended_is_closed_and_sent_nothing() -> None:
    """A socket opened with a session kept receiving its user's job events (with their
    thumbnails' signed URLs) after that session was signed out, e.g. a stolen session cookie
    still listening after the creator signed out. A socket of another session of theirs that
    is still signed in keeps receiving them."""
    owner = await sync_to_async(make_user)("ws-ended@example.com")
    ended_cookie = await sync_to_async(session_cookie)(owner)
    ended, ok_ended, _ = await connect(ended_cookie)
    kept, ok_kept, _ = await connect(await sync_to_async(session_cookie)(owner))
    assert ok_ended and ok_kept
    job = await sync_to_async(Job.objects.create)(
        user=owner, type="generate_thumbnails", params={}, units=1, unit_cost=1, cost=1
    )

    def sign_out() -> None:
        client = Client()
        client.cookies["sessionid"] = ended_cookie.decode().split("=", 1)[1]
        client.post("/accounts/logout/")

    await sync_to_async(sign_out)()
    await asyncio.sleep(consumers.SESSION_RECHECK_SECONDS)  # past the last check's window
    await sync_to_async(publish_job)(job)
    assert (await kept.receive_json_from(timeout=5))["job"]["id"] == str(job.id)
    closed = await ended.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": consumers.SESSION_ENDED}
    # The page reconnects as after any drop; signed out, the new socket is refused.
    assert (await connect(ended_cookie))[2] == 4401
    await kept.disconnect()


async def test_the_web_process_closes_a_socket_sent_an_oversized_message(tmp_path: Path) -> None:
    """uvicorn took websocket messages up to 16 MiB, each decoded as JSON in the worker's event
    loop (about a second for 16 MiB of JSON, no request of that worker served meanwhile)."""
    import websockets
    from django.conf import settings

    from tests.servers import WebServer, database_url, private_redis
    from viewbait.workers import WS_MAX_MESSAGE_BYTES

    owner = await sync_to_async(make_user)("ws-big@example.com")
    cookie = (await sync_to_async(session_cookie)(owner)).decode()
    with private_redis(tmp_path) as redis_server:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.real_settings_fast_hash",
            "DATABASE_URL": await sync_to_async(database_url)(),
            "REDIS_URL": redis_server.url(1),
            "DEBUG": "0",
            "LOCAL_DEV": "1",
            "SECRET_KEY": settings.SECRET_KEY,  # the session's auth hash is made with it
        }
        server = WebServer(env, tmp_path / "web.log")
        try:
            await sync_to_async(server.wait_until_up)()
            url = f"ws://127.0.0.1:{server.port}/ws/jobs/"
            headers = {"Cookie": cookie}
            origin = websockets.Origin(server.base_url)
            async with websockets.connect(url, additional_headers=headers, origin=origin) as ws:
                await ws.send('{"type": "ping"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
                await ws.send(json.dumps({"type": "ping", "pad": "x" * WS_MAX_MESSAGE_BYTES}))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        finally:
            await sync_to_async(server.stop)()
