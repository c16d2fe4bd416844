"""Websocket `/ws/jobs/`: pushes `{"type": "job.updated", "job": {...}}` to the job's owner."""

from __future__ import annotations

import time
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from generation.progress import user_group

# How long (s) a socket's session counts as checked: a burst of job events costs one look-up.
SESSION_RECHECK_SECONDS = 1.0
# The close code of a socket whose session ended. Not 4401 (refused: signed out, after which
# studio.js stays closed): a password change in the same browser ends the session the socket
# has and gives the tab a new one, so the page reconnects as after any drop, and the new socket
# is refused with 4401 only if the browser is signed out.
SESSION_ENDED = 4001


class JobEventsConsumer(AsyncJsonWebsocketConsumer):
    """Joins the signed-in user's own group only; anonymous sockets are closed (code 4401).
    A socket whose session has ended since it connected (signed out, a password change, the
    account deleted, expired) is closed with SESSION_ENDED at the next job event instead of
    being sent it: the session the socket was opened with must still be that user's."""

    group: str | None = None
    user_id: Any = None
    checked_at = 0.0

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_id = user.pk
        self.checked_at = time.monotonic()
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def still_signed_in(self) -> bool:
        """Whether the socket's session still signs in its user, read afresh from the session
        store (the scope's own session is the copy loaded at connect) at most once per
        SESSION_RECHECK_SECONDS; channels' `get_user` also checks the password's session hash."""
        now = time.monotonic()
        if now - self.checked_at < SESSION_RECHECK_SECONDS:
            return True
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if not session_key:
            return False
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = await get_user({"session": store})
        if not user.is_authenticated or user.pk != self.user_id:
            return False
        self.checked_at = now
        return True

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Text frames of JSON only; anything else (binary, not JSON, JSON nested past Python's
        recursion limit) is ignored, instead of ending the consumer with an error as the JSON
        consumer's own `receive` does."""
        if text_data is None:
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError):  # json.JSONDecodeError; "[" * 100_000
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def job_updated(self, event: dict[str, Any]) -> None:
        if self.group is None:  # closed below: an event already on its way
            return
        if not await self.still_signed_in():
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=SESSION_ENDED)
            return
        await self.send_json({"type": "job.updated", "job": event["job"]})
