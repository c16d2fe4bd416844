"""What the web process does for every response: text gzipped for clients that accept it (never
images), static files hashed and cached for good, database connections from the pool."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.templatetags.static import static
from django.test import Client, override_settings

from viewbait.middleware import compressible


@pytest.mark.django_db
def test_html_is_gzipped_only_for_clients_that_accept_it(client: Client) -> None:
    plain = client.get("/accounts/login/")
    assert plain.status_code == 200
    assert not plain.has_header("Content-Encoding")
    zipped = client.get("/accounts/login/", headers={"Accept-Encoding": "gzip, br"})
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert b"<html" in gzip.decompress(zipped.content).lower()


def test_only_text_types_are_compressible() -> None:
    assert compressible("text/html; charset=utf-8")
    assert compressible("application/json")
    assert compressible("image/svg+xml")
    assert not compressible("image/png")
    assert not compressible("image/webp")
    assert not compressible("application/zip")


@pytest.mark.django_db
def test_collected_static_files_are_hashed_compressed_and_immutable(tmp_path: Path) -> None:
    # The production default (the test settings set STATIC_MANIFEST=0), read in a fresh process.
    env = {k: v for k, v in os.environ.items() if k != "STATIC_MANIFEST"}
    backend = subprocess.run(
        [
            sys.executable,
            "-c",
            "from viewbait import settings as s; print(s.STORAGES['staticfiles']['BACKEND'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": backend}}
    # The project's own static files only (STATICFILES_DIRS): the apps' (the admin's, the API
    # docs' Swagger UI bundle) go through the same storage and took 2 CPU-seconds to compress.
    own = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    with override_settings(
        STATIC_ROOT=tmp_path,
        STORAGES=storages,
        WHITENOISE_USE_FINDERS=False,
        STATICFILES_FINDERS=own,
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        url = static("css/app.css")
        assert url != "/static/css/app.css" and url.startswith("/static/css/app.")
        response = Client().get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"]
        assert "max-age=315360000" in response["Cache-Control"]
        assert response["Content-Encoding"] == "gzip"
        body = b"".join(response.streaming_content)
        assert gzip.decompress(body) == (tmp_path / url.removeprefix("/static/")).read_bytes()


def test_a_web_process_without_collected_static_files_refuses_to_start(
    settings: Any, tmp_path: Path
) -> None:
    """No `collectstatic` with the manifest storage and DEBUG off: every page was a 500
    ("Missing staticfiles manifest entry") while the startup checks passed and /healthz said
    ok. viewbait.E005, deploy-only, names the missing manifest: every web start
    (viewbait.startup_checks) and `check --deploy` refuse; a worker, which serves no page,
    starts."""
    from viewbait.apps import check_static_manifest
    from viewbait.startup_checks import project_checks

    assert check_static_manifest in project_checks()
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    manifest_storage = "whitenoise.storage.CompressedManifestStaticFilesStorage"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": manifest_storage}}
    [error] = check_static_manifest(None)
    assert check_static_manifest(None, process="web") == [error]
    assert check_static_manifest(None, process="worker") == []  # serves no page
    assert error.id == "viewbait.E005"
    assert error.is_serious()
    assert str(tmp_path / "staticfiles.json") in error.msg
    assert "collectstatic" in str(error.hint)
    (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1", "hash": ""}')
    assert check_static_manifest(None) == []
    (tmp_path / "staticfiles.json").unlink()
    settings.DEBUG = True  # unhashed names then: no manifest needed
    assert check_static_manifest(None) == []
    settings.DEBUG = False
    plain_storage = "django.contrib.staticfiles.storage.StaticFilesStorage"  # STATIC_MANIFEST=0
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": plain_storage}}
    assert check_static_manifest(None) == []


def test_serve_collects_static_files_when_the_manifest_is_missing_or_outdated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m viewbait.serve` without a prior `collectstatic` served a 500 on every page: it
    now runs collectstatic (here a stand-in that writes the manifest and counts its runs) before
    starting anything when the manifest is missing or older than a static source, else not."""
    from viewbait import serve

    root, source, runs = tmp_path / "staticfiles", tmp_path / "static", tmp_path / "runs"
    (source / "css").mkdir(parents=True)
    (source / "css" / "app.css").write_text("body {}")
    stand_in = (
        "import pathlib, sys; root = pathlib.Path(sys.argv[1]); root.mkdir(exist_ok=True); "
        "(root / 'staticfiles.json').write_text('{}'); "
        "open(sys.argv[2], 'a').write('ran\\n'); sys.exit(int(sys.argv[3]))"
    )
    monkeypatch.setattr(serve, "STATIC_ROOT", root)
    monkeypatch.setattr(serve, "STATIC_SOURCES", (source,))
    monkeypatch.setattr(serve, "STATIC_STAMPS", ())
    monkeypatch.setattr(
        serve, "COLLECTSTATIC", (sys.executable, "-c", stand_in, str(root), str(runs), "0")
    )
    (tmp_path / "Procfile").write_text("web: python -c \"print('web up')\"\n")
    monkeypatch.setenv("VIEWBAIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # no embedded Redis
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("STATIC_MANIFEST")  # the tests' 0; the default is on

    def run_serve() -> tuple[int, str, int]:
        code = serve.main(["-f", str(tmp_path / "Procfile")])
        said = capsys.readouterr().out
        return code, said, len(runs.read_text().splitlines()) if runs.exists() else 0

    code, said, ran = run_serve()
    assert (code, ran) == (0, 1), said
    assert f"collecting static files: {root / 'staticfiles.json'} is missing" in said
    assert said.index("collecting static files") < said.index("started web")
    assert run_serve()[2] == 1  # up to date: not again
    later = (root / "staticfiles.json").stat().st_mtime + 5
    os.utime(source / "css" / "app.css", (later, later))
    code, said, ran = run_serve()
    assert (code, ran) == (0, 2), said
    assert f"{source / 'css' / 'app.css'} is newer than" in said
    (root / "staticfiles.json").unlink()
    monkeypatch.setenv("STATIC_MANIFEST", "0")  # no manifest is read then
    assert run_serve()[2] == 2
    monkeypatch.delenv("STATIC_MANIFEST")
    failing = (sys.executable, "-c", stand_in, str(root), str(runs), "5")
    monkeypatch.setattr(serve, "COLLECTSTATIC", failing)
    (root / "staticfiles.json").unlink(missing_ok=True)
    code, said, ran = run_serve()
    assert (code, ran) == (5, 3), said
    assert "collectstatic failed with code 5; not starting" in said
    assert "started web" not in said


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_requests_reuse_pooled_postgresql_connections() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's (SQLite opens a file per request)")
    assert "pool" in connection.settings_dict["OPTIONS"]
    connection.close()
    connection.close_pool()  # a pool of this process's own, not one earlier tests drained
    backends: list[int] = []
    for _ in range(5):  # what each request does: take a connection, give it back at the end
        connection.ensure_connection()
        backends.append(connection.connection.info.backend_pid)
        connection.close()
    assert len(set(backends)) < 5, backends  # the same PostgreSQL sessions served them all


def http_scope(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The ASGI scope of a GET of `path` (query string allowed) from 127.0.0.1."""
    route, _, query = path.partition("?")
    sent = {"host": "127.0.0.1", **(headers or {})}
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def serve(application: Any, scope: dict[str, Any]) -> int:
    """Call `application` as a server does, in the caller's context (asgiref's
    ApplicationCommunicator starts it in an empty one), with a client that stays connected;
    the response's status."""
    import asyncio

    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return int(sent[0]["status"])


async def asgi_get(path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """GET `path` (query string allowed) from viewbait.asgi.application, the app the web
    process serves, as a server would call it: (status, headers, body)."""
    from asgiref.testing import ApplicationCommunicator

    from viewbait.asgi import application

    communicator = ApplicationCommunicator(application, http_scope(path, headers))
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    body = b""
    while True:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.django_db
async def test_a_page_is_produced_in_one_thread_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    """viewbait.handlers: the whole middleware chain and the view run in one sync_to_async call
    (plus request_started's and the close's), not one or two per middleware."""
    from asgiref import sync

    calls: list[str] = []
    original = sync.SyncToAsync.__call__

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    status, headers, body = await asgi_get("/accounts/login/", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert b"<html" in gzip.decompress(body).lower()
    assert "content-security-policy" in headers and headers["x-frame-options"] == "DENY"
    assert len(calls) <= 3, calls  # Django's own chain in async mode: 19 here


@pytest.mark.django_db
async def test_pages_and_static_files_through_the_asgi_handler() -> None:
    import warnings

    status, headers, body = await asgi_get("/accounts/login/", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    with warnings.catch_warnings():
        # Streamed (core.streaming), not read whole: "StreamingHttpResponse must consume ..."
        warnings.simplefilter("error")
        status, headers, body = await asgi_get(static("css/app.css"))
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert len(body) == int(headers["content-length"]) > 0
    status, _, _ = await asgi_get("/healthz?live=1")
    assert status == 200


async def test_a_process_produces_at_most_the_bound_of_responses_at_once(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """viewbait.handlers: past WEB_REQUESTS_IN_FLIGHT, requests wait in the event loop; the
    Stripe routes are not counted (a slow Stripe must not hold every slot)."""
    import asyncio
    from types import SimpleNamespace

    from viewbait.asgi import django_asgi_app
    from viewbait.handlers import BoundedASGIHandler

    assert isinstance(django_asgi_app, BoundedASGIHandler)  # what the servers run
    settings.WEB_REQUESTS_IN_FLIGHT = 2
    handler = BoundedASGIHandler()
    running = {"bounded": 0, "stripe": 0}
    peak = {"bounded": 0, "stripe": 0}

    async def slow_response(self: Any, request: Any) -> str:
        kind = "stripe" if request.path.startswith("/billing/") else "bounded"
        running[kind] += 1
        peak[kind] = max(peak[kind], running[kind])
        await asyncio.sleep(0.05)
        running[kind] -= 1
        return str(request.path)

    monkeypatch.setattr(BoundedASGIHandler, "respond", slow_response)
    paths = ["/studio/"] * 6 + ["/billing/portal"] * 3
    answers = await asyncio.gather(
        *(handler.get_response_async(SimpleNamespace(path=p)) for p in paths)
    )
    assert answers == paths
    assert peak == {"bounded": 2, "stripe": 3}


async def test_requests_reuse_their_threads_and_the_processs_cache_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """viewbait.handlers: a request's sync work runs on a thread an earlier request used (no
    thread started per request), and finds the cache backends the handler made (no django-redis
    backend, client and redis.Redis built per request). The server runs each request in a copy
    of its own context, which this test starts empty, as a fresh worker process's is."""
    import asyncio
    import contextvars
    import threading

    from django.core.cache import caches
    from django.http import HttpResponse

    from viewbait.handlers import BoundedASGIHandler

    seen: list[tuple[int, int, int]] = []

    def get_response(self: Any, request: Any) -> HttpResponse:
        seen.append((threading.get_ident(), id(caches["default"]), id(caches["ratelimit"])))
        return HttpResponse(b"ok")

    monkeypatch.setattr(BoundedASGIHandler, "get_response", get_response)
    server_context = contextvars.Context()
    handler = server_context.run(BoundedASGIHandler)

    for _ in range(3):
        task = asyncio.get_running_loop().create_task(
            serve(handler, http_scope("/healthz")), context=server_context.copy()
        )
        assert await task == 200
    assert len(seen) == 3
    assert len({thread for thread, _, _ in seen}) == 1, seen
    assert threading.get_ident() not in {thread for thread, _, _ in seen}
    assert len({(default, limits) for _, default, limits in seen}) == 1, seen
    assert handler.threads.made == 1


async def test_a_request_cancelled_by_the_server_does_not_hand_its_thread_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that cancels a request's task (uvicorn at a graceful-shutdown timeout, Daphne
    after a disconnect) leaves its view running on the request's thread: that thread must not
    be the next request's, which would wait behind the view."""
    import asyncio
    import contextvars
    import threading

    from django.http import HttpResponse

    from viewbait.handlers import BoundedASGIHandler

    started, release = threading.Event(), threading.Event()
    threads: list[int] = []

    def get_response(self: Any, request: Any) -> HttpResponse:
        threads.append(threading.get_ident())
        if len(threads) == 1:
            started.set()
            release.wait(10)
        return HttpResponse(b"ok")

    monkeypatch.setattr(BoundedASGIHandler, "get_response", get_response)
    server_context = contextvars.Context()
    handler = server_context.run(BoundedASGIHandler)
    loop = asyncio.get_running_loop()

    try:
        slow = loop.create_task(
            serve(handler, http_scope("/healthz")), context=server_context.copy()
        )
        assert await asyncio.to_thread(started.wait, 10)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert handler.threads.idle == []
        quick = loop.create_task(
            serve(handler, http_scope("/healthz")), context=server_context.copy()
        )
        assert await asyncio.wait_for(quick, 5) == 200  # not behind the cancelled view
        assert threads[1] != threads[0] and handler.threads.made == 2
    finally:
        release.set()


async def test_a_view_whose_client_went_away_keeps_its_slot_until_it_returns(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """viewbait.handlers: Django cancels a request's task when its client disconnects, but the
    view runs on in its thread; its slot under WEB_REQUESTS_IN_FLIGHT is held until the view
    returns (with 12 such disconnects, more than the bound of views ran at once)."""
    import asyncio
    import threading
    from types import SimpleNamespace

    from viewbait.handlers import BoundedASGIHandler

    settings.WEB_REQUESTS_IN_FLIGHT = 1
    handler = BoundedASGIHandler()
    release = threading.Event()
    lock = threading.Lock()
    running, peak = [0], [0]

    def view(path: str) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if path == "/slow":
            release.wait(10)
        with lock:
            running[0] -= 1
        return path

    async def respond(self: Any, request: Any) -> str:
        return await asyncio.to_thread(view, request.path)  # cancelled, the thread runs on

    monkeypatch.setattr(BoundedASGIHandler, "respond", respond)
    gone = asyncio.ensure_future(handler.get_response_async(SimpleNamespace(path="/slow")))
    while not running[0]:
        await asyncio.sleep(0.01)
    gone.cancel()  # the client went away
    waiting = asyncio.ensure_future(handler.get_response_async(SimpleNamespace(path="/next")))
    await asyncio.sleep(0.2)
    assert not waiting.done() and peak[0] == 1  # the slot is still the slow view's
    release.set()
    assert await asyncio.wait_for(waiting, 5) == "/next"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert peak[0] == 1


def test_daphne_serves_runserver() -> None:
    """`manage.py runserver` is Daphne's (HTTP and the /ws/ websockets on one port); the web
    process starts without Twisted (viewbait.settings) and without OpenCV and numpy:
    tests/test_startup_checks.py::test_a_warning_is_logged_and_the_web_process_starts checks
    that in the process it starts (one Django start less: about a CPU-second)."""
    done = subprocess.run(
        # --websocket_handshake_timeout is an option of Daphne's runserver only.
        [sys.executable, "manage.py", "runserver", "--help"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "viewbait.settings", "LOCAL_DEV": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--websocket_handshake_timeout" in done.stdout


def test_the_worker_runs_with_two_malloc_arenas() -> None:
    """The Procfile's worker (as `make run` and a platform start it) caps glibc's malloc arenas
    at 2: its render threads each kept freed 4K buffers in an arena of their own
    (benchmarks/worker_images.py: 1.05-1.42 GiB peak RSS for four 4K jobs, 0.85-0.99 with 2)."""
    from viewbait.serve import commands

    worker = commands(Path(__file__).resolve().parents[1] / "Procfile", {"PORT": "8000"})["worker"]
    assert worker[:3] == ["env", "MALLOC_ARENA_MAX=2", "python"]
    assert worker[3:5] == ["manage.py", "rundramatiq"]


def test_the_site_icon_is_served_at_the_root(anon_client) -> None:
    """A browser asks for /favicon.ico on a page with no <link rel="icon"> (an image opened on
    its own): it gets the site's icon (WHITENOISE_ROOT), not a 404."""
    from PIL import Image

    response = anon_client.get("/favicon.ico")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    with Image.open(io.BytesIO(body)) as icon:
        assert icon.format == "ICO"


def test_the_web_process_listens_on_web_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Procfile bound 127.0.0.1:$PORT on its command line, which wins over any setting: a
    platform that runs the Procfile and routes to the container's address could not reach it.
    The address now comes from WEB_HOST and PORT (viewbait/gunicorn_conf.py), this machine only
    by default."""
    from viewbait import gunicorn_conf
    from viewbait.serve import read_procfile

    assert "--bind" not in read_procfile(Path(__file__).resolve().parents[1] / "Procfile")["web"]
    monkeypatch.delenv("WEB_HOST", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert gunicorn_conf.bind_address() == "127.0.0.1:8123"
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    assert gunicorn_conf.bind_address() == "0.0.0.0:8123"
    monkeypatch.setenv("WEB_HOST", "::")
    monkeypatch.delenv("PORT")
    assert gunicorn_conf.bind_address() == "[::]:8000"
    monkeypatch.setenv("WEB_HOST", "[::1]")  # bracketed, as in a URL: not "[[::1]]"
    assert gunicorn_conf.bind_address() == "[::1]:8000"


async def post_in_chunks(
    headers: dict[str, str], chunks: list[bytes], path: str = "/api/projects"
) -> tuple[int, bytes, int]:
    """POST `chunks` as the body to the ASGI handler the web process runs, as a server streams
    it (one http.request message each): (status, body, how many chunks the handler read)."""
    import asyncio

    from viewbait.handlers import BoundedASGIHandler

    pending, read, sent = list(chunks), [], []

    async def receive() -> dict[str, Any]:
        if pending:
            read.append(pending.pop(0))
            return {"type": "http.request", "body": read[-1], "more_body": bool(pending)}
        await asyncio.Event().wait()  # connected until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {**http_scope(path, headers), "method": "POST"}
    await BoundedASGIHandler()(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:]), len(read)


@pytest.mark.django_db
async def test_a_body_over_the_limit_is_refused_before_the_rest_of_it_is_read(
    settings: Any,
) -> None:
    """Django's ASGI handler read the whole body into a temporary file (on disk past 10 MB)
    before any middleware ran: the input guard's 413 came after a body of any size, signed in
    or not, had been received and stored on the web host."""
    import json

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    chunks = [b"x" * 500] * 100
    declared = {"content-type": "application/json", "content-length": str(500 * 100)}
    status, body, read = await post_in_chunks(declared, chunks)
    assert (status, json.loads(body)["code"], read) == (413, "request_too_large", 0)
    chunked = {"content-type": "application/json", "transfer-encoding": "chunked"}
    status, body, read = await post_in_chunks(chunked, chunks)
    assert (status, json.loads(body)["code"], read) == (413, "request_too_large", 3)
    # A studio form's upload: its error fragment (viewbait.input_guard.refusal), not JSON.
    multipart = {"content-type": "multipart/form-data; boundary=b", "hx-request": "true"}
    settings.UPLOAD_MAX_REQUEST_BYTES = 1000
    status, body, read = await post_in_chunks(
        {**multipart, "content-length": "50000"}, chunks, "/studio/tools/analyse_palette"
    )
    assert (status, read) == (413, 0)
    assert body.decode().startswith('<p class="error">The images are too large'), body
    # Within the limit the request goes on as before (here to /healthz's 405 for a POST).
    status, _, read = await post_in_chunks(chunked, [b"x" * 500, b"y"], "/healthz")
    assert (status, read) == (405, 2)


async def test_media_under_asgi_is_streamed_in_large_chunks_without_a_warning() -> None:
    """The embedded default serves media from the web process: under ASGI Django read a file's
    sync iterator whole into memory before sending any of it (a Warning each time)."""
    import warnings

    from asgiref.sync import sync_to_async
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from core.streaming import CHUNK_BYTES
    from studio.media import media_url

    data = os.urandom(CHUNK_BYTES * 3 + 1000)
    name = await sync_to_async(default_storage.save)(
        "thumbnails/full/stream.png", ContentFile(data)
    )
    from asgiref.testing import ApplicationCommunicator

    from viewbait.asgi import application

    url = await sync_to_async(media_url)(name)
    communicator = ApplicationCommunicator(application, http_scope(url))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "StreamingHttpResponse must consume synchronous ..."
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        bodies = []
        while True:
            message = await communicator.receive_output(10)
            bodies.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await communicator.wait(10)
    assert start["status"] == 200
    assert b"".join(bodies) == data
    headers = {k.lower(): v for k, v in start["headers"]}
    assert headers[b"content-length"] == str(len(data)).encode()
    assert len(bodies) <= len(data) // 65536 + 2  # sent in 64 KiB messages


def test_a_download_under_asgi_is_streamed_not_read_whole(owner: Any) -> None:
    """GET /api/thumbnails/<id>/download streams its file under ASGI as media does
    (core.streaming): Django otherwise read a full-size PNG whole into the web process's
    memory before sending a byte, with a Warning each time."""
    import asyncio
    import io

    from django.core.handlers.asgi import ASGIRequest

    from studio.api import thumbnail_download
    from tests.factories.studio import ThumbnailFactory, stored_files

    thumbnail = ThumbnailFactory(owner=owner, **stored_files(size=(1600, 900)))
    expected = thumbnail.image.read()
    request = ASGIRequest(
        http_scope(f"/api/thumbnails/{thumbnail.pk}/download?size=full"), io.BytesIO()
    )
    request.user = owner
    response = thumbnail_download(request, thumbnail_id=thumbnail.pk)
    assert response.status_code == 200 and response.is_async

    async def body() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(body()) == expected
    assert response["Content-Disposition"].startswith("attachment")
