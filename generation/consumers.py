"""Websocket `/ws/jobs/`: pushes `{"type": "job.updated", "job": {...}}` to the job's owner."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from generation.progress import user_group


class JobEventsConsumer(AsyncJsonWebsocketConsumer):
    """Joins the signed-in user's own group only; anonymous sockets are closed (code 4401)."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

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
        await self.send_json({"type": "job.updated", "job": event["job"]})
