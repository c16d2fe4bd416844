"""Django's ASGI handler, producing each response in one thread hop, with a bound on how many
requests one process works on at once.

One hop: Django's ASGIHandler loads the middleware chain in async mode, and every middleware built
on MiddlewareMixin (SessionMiddleware, CsrfViewMiddleware, AuthenticationMiddleware and the rest
of Django's own) then runs each of its `process_request` and `process_response` on a thread of
its own and comes back to the event loop (django.utils.deprecation.MiddlewareMixin.__acall__):
19 hops for one sync view here, each a future, a copied context and two thread switches. No view
or middleware of the studio is async, so the handler loads the chain in sync mode and runs all
of it, the view included, in one `sync_to_async` call on the request's thread (Django gives each
request its own: ThreadSensitiveContext). What stays in the event loop is the ASGI plumbing:
reading the body, sending the response (streamed files too), request_started and the close.
An async view, were one added, still works (Django adapts it with async_to_sync).

Measured with `benchmarks/http_ratios.py` (one process, 16 connections, 2 slow cores, the two
runs back to back): hello-world 150 -> 284 requests per second (web CPU 6.9 -> 3.6 ms per
request), thumbnails API 43 -> 50, studio page 47 -> 50; generate stayed at 42.

The bound:

Under ASGI every request's sync work (middleware, view, template) runs on a thread of its own,
and those threads take turns on one GIL. With 16 requests in flight in one worker, each studio
page cost 19 ms of CPU against 11 ms with one in flight (`benchmarks/http_ratios.py`,
`--connections 16` and `1`): the threads spend the difference handing the GIL around every
time one of them waits for PostgreSQL or Redis. Requests past the bound wait in the event loop,
which costs nothing, and are let in one by one as others finish; the bound stays above one so
one request's database wait still overlaps another's Python.

The bound covers producing the response, until the view has returned even when the client
went away meanwhile (the view's thread runs on); sending it (a large download to a slow client)
is outside, so a slow reader never holds a slot. Routes that wait on a third party while they
answer (the Stripe checkout, pack, portal and webhook routes: `WEB_UNBOUNDED_PATH_PREFIXES`) are
not counted either, so a slow Stripe never holds the slots every other page needs. Websockets
(Channels) are not HTTP requests and are not counted.

Measured with `benchmarks/http_ratios.py` on 2 cores (one process, 16 connections, requests per
second): studio page 52 -> 67, accepted generate 42 -> 61; bounds of 2, 3 and 4 did about the
same, 8 lost the gain.

Threads and cache backends that last:

- Django's ASGIHandler gives each request a `ThreadSensitiveContext` of its own: a new
  single-thread executor, so a new thread for the request, and (asgiref 3.13) one more thread
  to join it on the way out. This handler hands each request an idle executor from the
  process's `RequestThreads` instead (asgiref's `ThreadSensitiveContext(executor=...)`: the
  caller owns it and it is not shut down on exit), so threads, and what Django keeps per thread
  (the database connection's wrapper), are made once and reused.
- Django keeps cache backends per context (`caches` is an asgiref `Local`), and each request's
  task starts with a copy of the server's context: every request built its own django-redis
  backend, client and `redis.Redis` object (the connection pool itself was shared). The handler
  creates each configured backend once, before the server starts its tasks, so every request
  finds them in the context it copies. django-redis backends are safe to share between threads
  (redis-py's clients and pools are).

Measured with py-spy on the one-process server under `benchmarks/http_ratios.py`'s studio load
(2 cores, 2026-12-03): thread starts and joins were 5.6 % of the samples holding the GIL, and
building `redis.Redis` clients 5.4 %.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.core.handlers.asgi import ASGIHandler
from django.utils.http import parse_header_parameters

from viewbait.input_guard import body_limit, too_large


class BodyTooLarge(Exception):
    """The body being read passed its limit (`BoundedASGIHandler.handle` answers 413)."""


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


class RequestThreads:
    """Single-thread executors for requests' sync work, reused: `take` gives an idle one (or a
    new one), `give_back` keeps up to `keep` idle and shuts down the rest. Used from the event
    loop's thread only, so it needs no lock. The executor of a request whose client went away
    comes back once Django has waited for its view (a thread cannot be stopped); that of a
    request whose task the server cancelled never does (`BoundedASGIHandler.__call__`)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []
        self.made = 0

    def take(self) -> ThreadPoolExecutor:
        if self.idle:
            return self.idle.pop()
        self.made += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self.idle) < self.keep:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


class BoundedASGIHandler(ASGIHandler):
    """`ASGIHandler` that produces each response with the middleware chain in sync mode, in one
    thread hop, and at most `settings.WEB_REQUESTS_IN_FLIGHT` responses at once per process
    (0: no bound)."""

    def load_middleware(self, is_async: bool = False) -> None:
        # ASGIHandler.__init__ asks for the async chain; this handler runs the sync one.
        super().load_middleware(is_async=False)

    def __init__(self) -> None:
        super().__init__()
        bound = int(getattr(settings, "WEB_REQUESTS_IN_FLIGHT", 0))
        self._slots = asyncio.Semaphore(bound) if bound > 0 else None
        self._unbounded = tuple(getattr(settings, "WEB_UNBOUNDED_PATH_PREFIXES", ()))
        # Requests being sent, or waiting on Stripe, hold a thread too: keep more than the bound.
        self.threads = RequestThreads(keep=max(8, 2 * bound))
        for alias in caches.settings:  # made here, in the context every request's task copies
            caches[alias]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGIHandler.__call__, the request's sync work on a reused thread (RequestThreads)."""
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        except BaseException:
            # Cancelled by the server (or failed) with Django's own tasks maybe still running
            # on this thread: it is not handed to the next request, which would wait behind
            # them. Its thread finishes what it has, then ends.
            executor.shutdown(wait=False)
            raise
        self.threads.give_back(executor)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGIHandler.handle with the input guard's body limit (viewbait.input_guard.body_limit)
        applied while the body is read: Django's handler reads the whole body into a temporary
        file (memory, then disk past FILE_UPLOAD_MAX_MEMORY_SIZE) before any middleware runs,
        so the guard's 413 came only after a body of any size had been received and written to
        the web host's disk. A Content-Length over the limit is answered 413 before any of the
        body is read; a body without one (chunked) as soon as what has arrived passes it."""
        limit = body_limit(parse_header_parameters(_header(scope, b"content-type"))[0])
        if limit is None:
            await super().handle(scope, receive, send)
            return
        try:
            declared = int(_header(scope, b"content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            await self.send_response(self.too_large(scope, limit), send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await super().handle(scope, counted, send)
        except BodyTooLarge:
            await self.send_response(self.too_large(scope, limit), send)

    def too_large(self, scope: Any, limit: int) -> Any:
        """The guard's 413 for this request (its view's own error shape where it has one:
        viewbait.input_guard.refusal), from the headers alone: the body is not read."""
        return too_large(limit, self.request_class(scope, io.BytesIO()))

    async def get_response_async(self, request: Any) -> Any:
        if self._slots is None or request.path.startswith(self._unbounded):
            return await self.respond(request)
        async with self._slots:
            producing = asyncio.ensure_future(self.respond(request))
            try:
                return await asyncio.shield(producing)
            except asyncio.CancelledError:
                # The client went away (Django cancels the request's task), but the view runs on
                # in its thread, which cannot be stopped: the slot is held until it ends, so no
                # more than the bound of views ever run at once.
                await asyncio.wait({producing})
                if not producing.cancelled():
                    producing.exception()  # read: nobody is left to answer
                raise

    async def respond(self, request: Any) -> Any:
        """The response from the sync chain (BaseHandler.get_response: URL conf, middleware,
        view, error logging), on the request's own thread."""
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
