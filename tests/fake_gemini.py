"""A local fake of the Gemini Developer API's `generateContent`, for driving the real SDK.

It listens on 127.0.0.1 (ephemeral port) and answers
`POST /v1beta/models/{model}:generateContent` with the REST API's camelCase JSON:
`candidates[].content.parts[].inlineData{mimeType, data (base64)}`, `candidates[].finishReason`,
`promptFeedback.blockReason`, and errors as `{"error": {"code", "message", "status"}}`.

Each request consumes the next scripted behaviour (`FakeGemini.script`), "image" once the queue
is empty:

- "image": a PNG made with Pillow at `generation.sizes.pixel_size(aspectRatio, imageSize)` for
  the request's `generationConfig.imageConfig` (imageSize defaults to "1K", Google's default).
  The real gemini-2.5-flash-image answers at its own, slightly different 1K sizes; the fake
  always uses the Gemini 3 table.
- "image_after_thought": a small interim image part marked `"thought": true`, then the "image".
- "400", "408", "429", "500", "503", "504": that HTTP error with Google's status name.
- "hang": answers nothing for `hang_seconds` (longer than any test's client timeout), then
  closes the connection.
- "safety_prompt": no candidates, `promptFeedback.blockReason` "SAFETY".
- "safety_finish": one candidate with no content and `finishReason` "IMAGE_SAFETY".
- "no_image": one candidate with a text part only, `finishReason` "STOP".

Every request is recorded (`FakeGemini.requests`) with its path, headers (lower-case names) and
parsed JSON body. Use the `fake_gemini` fixture, or `gemini_settings` to also point Django's
settings (and so `generation.providers.get_image_provider()`) at it.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from pytest_django.fixtures import Settings

from generation.sizes import pixel_size

BEHAVIOURS = frozenset(
    {
        "image",
        "image_after_thought",
        "400",
        "408",
        "429",
        "500",
        "503",
        "504",
        "hang",
        "safety_prompt",
        "safety_finish",
        "no_image",
    }
)

# google.rpc.Code names the Gemini API puts in `error.status` for each HTTP status.
ERROR_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")

# The fill colour of "image" PNGs (RGB), so tests can tell them from thought images.
IMAGE_COLOR = (255, 64, 0)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    model: str
    headers: dict[str, str]  # lower-case header names
    body: dict[str, Any]


def png_bytes(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG of `size` (width, height) pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _inline_png(size: tuple[int, int], color: tuple[int, int, int]) -> dict[str, Any]:
    data = base64.b64encode(png_bytes(size, color)).decode("ascii")
    return {"inlineData": {"mimeType": "image/png", "data": data}}


class FakeGemini:
    """The fake server; `start()` it, point the SDK at `base_url`, `stop()` it."""

    hang_seconds = 10.0

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next requests, in order (see the module docstring)."""
        unknown = set(behaviours) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown fake Gemini behaviours: {sorted(unknown)}")
        with self._lock:
            self._script.extend(behaviours)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # releases "hang" handlers at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, request: RecordedRequest) -> str:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else "image"

    def _answer(self, behaviour: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a behaviour other than "hang"."""
        if behaviour.isdigit():
            code = int(behaviour)
            message = f"Fake Gemini error {code}."
            return code, {"error": {"code": code, "message": message, "status": ERROR_STATUS[code]}}
        if behaviour == "safety_prompt":
            return 200, {"promptFeedback": {"blockReason": "SAFETY"}, **_usage()}
        if behaviour == "safety_finish":
            return 200, {"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}], **_usage()}
        if behaviour == "no_image":
            parts: list[dict[str, Any]] = [{"text": "I can't make that image."}]
            return 200, _candidate(parts)
        image_config = body.get("generationConfig", {}).get("imageConfig", {})
        size = pixel_size(
            image_config.get("aspectRatio", "1:1"), image_config.get("imageSize", "1K")
        )
        parts = [{"text": "Here is your thumbnail."}, _inline_png(size, IMAGE_COLOR)]
        if behaviour == "image_after_thought":
            parts.insert(0, {**_inline_png((64, 64), (0, 0, 255)), "thought": True})
        return 200, _candidate(parts)


def _candidate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    content = {"role": "model", "parts": parts}
    return {"candidates": [{"content": content, "finishReason": "STOP", "index": 0}], **_usage()}


def _usage() -> dict[str, Any]:
    return {
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        "modelVersion": "fake-gemini",
    }


def _make_handler(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _PATH.match(self.path.split("?", 1)[0])
            if match is None:
                self._send(
                    404, {"error": {"code": 404, "message": "Not found.", "status": "NOT_FOUND"}}
                )
                return
            body = json.loads(raw or b"{}")
            headers = {name.lower(): value for name, value in self.headers.items()}
            behaviour = fake._next(RecordedRequest(self.path, match["model"], headers, body))
            if behaviour == "hang":
                fake._stopping.wait(fake.hang_seconds)
                self.close_connection = True
                return
            self._send(*fake._answer(behaviour, body))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: tests assert on `FakeGemini.requests` instead."""

    return Handler


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A started FakeGemini, stopped after the test."""
    fake = FakeGemini()
    fake.start()
    yield fake
    fake.stop()


def point_settings_at(settings: Settings, fake: FakeGemini, **overrides: Any) -> None:
    """Points Django settings (pytest-django's `settings` fixture) at `fake`: provider "gemini",
    a test key, 1 s per-attempt timeout, 3 attempts, 10 ms first retry delay; `overrides` win."""
    values = {
        "IMAGE_PROVIDER": "gemini",
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": fake.base_url,
        "GEMINI_TIMEOUT_SECONDS": 1.0,
        "GEMINI_RETRY_ATTEMPTS": 3,
        "GEMINI_RETRY_INITIAL_DELAY": 0.01,
        **overrides,
    }
    for name, value in values.items():
        setattr(settings, name, value)


@pytest.fixture
def gemini_settings(settings: Settings, fake_gemini: FakeGemini) -> FakeGemini:
    """`fake_gemini`, with Django settings pointed at it (see `point_settings_at`)."""
    point_settings_at(settings, fake_gemini)
    return fake_gemini
