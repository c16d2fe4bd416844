"""A base for middleware that runs in whichever mode the handler is in (sync under WSGI, in the
event loop under ASGI), so it costs an ASGI request no thread hops (Django: "Asynchronous
support" in the middleware docs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase


class SyncAndAsyncMiddleware:
    """Subclasses define `call(request)` (sync) and `acall(request)` (async); `get_response` is
    the next handler, sync or async to match."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.acall(request) if self._async else self.call(request)

    def call(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError
