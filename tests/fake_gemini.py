"""A local fake of the Gemini Developer API, for driving the real google-genai SDK.

It speaks the REST API's camelCase JSON on 127.0.0.1:

- `POST /v1beta/models/{model}:generateContent`: candidates with `content.parts[]` (`text`,
  `inlineData{mimeType, data (base64)}`, `thought`), `finishReason`, `promptFeedback`,
  `usageMetadata`;
- `GET /v1beta/models` (the SDK's `models.list()`): `{"models": [{"name": "models/{id}", ...}]}`
  for every served id, in one page;
- errors as Google's `google.rpc.Status` JSON: `{"error": {"code", "message", "status",
  "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo" | ".QuotaFailure" |
  ".RetryInfo" | ".Help", ...}]}}`.

Always, before any script: a request whose `x-goog-api-key` header (or `key` query parameter) is
not `valid_key` (default "test-key") gets 400 INVALID_ARGUMENT with ErrorInfo reason
API_KEY_INVALID, exactly like Google; a model id not in `served_models` (default: the catalog's
ids, `generation.catalog.MODELS`, deprecated ones included, so a retired id such as
gemini-3-pro-image-preview) gets 404 NOT_FOUND.

Then each generateContent request consumes the next scripted behaviour (`FakeGemini.script`),
"ok" once the queue is empty:

- "ok" / "image": for a request with `generationConfig.responseMimeType` "application/json", a
  text part holding JSON (`json_answer` if set, else an instance built from the request's
  `responseJsonSchema`); otherwise a PNG at the model's REAL output size for the request's
  `imageConfig` {aspectRatio, imageSize (default "1K")}, from `generation.catalog`
  (`ModelSpec.pixel_size`), after a short text part. An unsupported ratio or size is a 400.
- "image_after_thought": a small interim image part marked `"thought": true`, then the "ok" image.
- "json_invalid": a text part that is not JSON.
- "400", "401", "403", "404", "408", "500", "502", "503", "504": that HTTP error with Google's
  status name ("503" is UNAVAILABLE "The model is overloaded").
- "429" / "429_minute": RESOURCE_EXHAUSTED with a per-minute QuotaFailure violation and a
  RetryInfo `retryDelay` of `retry_delay` (default "30s"); "429_day": the per-day violation
  (quotaId GenerateRequestsPerDayPerProjectPerModel) as well.
- "hang": answers nothing for `hang_seconds` (longer than any test's timeout), then closes.
- "safety_prompt": no candidates, `promptFeedback.blockReason` "SAFETY".
- "safety_finish" / "image_safety": a candidate with no content, finishReason IMAGE_SAFETY.
- "image_other": finishReason IMAGE_OTHER; "no_image_reason": finishReason NO_IMAGE.
- "no_image": a candidate with a text part only, finishReason STOP.

Every request is recorded (`FakeGemini.requests`): path, model ("" for models.list), headers
(lower-case names) and parsed JSON body. In tests use the `fake_gemini` fixture, or
`gemini_settings` to also point Django's settings (and so `generation.providers.get_provider()`)
at it. Standalone, for checks outside pytest: `python -m tests.fake_gemini --port 8765`, then set
GEMINI_BASE_URL=http://127.0.0.1:8765/ and GEMINI_API_KEY=test-key.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import re
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from generation.catalog import MODELS, get_model

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

VALID_KEY = "test-key"

BEHAVIOURS = frozenset(
    {
        "ok",
        "image",
        "image_after_thought",
        "json_invalid",
        "400",
        "401",
        "403",
        "404",
        "408",
        "429",
        "429_minute",
        "429_day",
        "500",
        "502",
        "503",
        "504",
        "hang",
        "safety_prompt",
        "safety_finish",
        "image_safety",
        "image_other",
        "no_image_reason",
        "no_image",
    }
)

# google.rpc.Code names the Gemini API puts in `error.status` for each HTTP status.
ERROR_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ERROR_MESSAGE = {
    503: "The model is overloaded. Please try again later.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    504: "Deadline expired before operation could complete.",
}

RPC = "type.googleapis.com/google.rpc."
PER_MINUTE_VIOLATION = {
    "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
}
PER_DAY_VIOLATION = {
    "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
    "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
}

_GENERATE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
_LIST = re.compile(r"^/v1beta/models/?$")

# The fill colour of answer PNGs (RGB), so tests can tell them from thought images.
IMAGE_COLOR = (255, 64, 0)
THOUGHT_COLOR = (0, 0, 255)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    model: str
    headers: dict[str, str]  # lower-case header names
    body: dict[str, Any]

    @property
    def generation_config(self) -> dict[str, Any]:
        return self.body.get("generationConfig") or {}

    @property
    def parts(self) -> list[dict[str, Any]]:
        """The parts of the (single) user turn."""
        [content] = self.body["contents"]
        return content["parts"]


@functools.lru_cache(maxsize=64)
def png_bytes(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG of `size` (width, height) pixels (kept: the fake answers with the same
    few images over and over)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _inline_png(size: tuple[int, int], color: tuple[int, int, int]) -> dict[str, Any]:
    data = base64.b64encode(png_bytes(size, color)).decode("ascii")
    return {"inlineData": {"mimeType": "image/png", "data": data}}


def error_body(
    code: int, message: str = "", details: Iterable[dict[str, Any]] = ()
) -> dict[str, Any]:
    """Google's error JSON (google.rpc.Status) for HTTP `code`."""
    error: dict[str, Any] = {
        "code": code,
        "message": message or ERROR_MESSAGE.get(code, f"Fake Gemini error {code}."),
        "status": ERROR_STATUS.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = list(details)
    return {"error": error}


def schema_instance(schema: dict[str, Any]) -> Any:
    """A small value matching the JSON Schema `schema` (the fake's default JSON answer)."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {
            name: schema_instance(sub) for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        item = schema.get("items") or {"type": "string"}
        return [schema_instance(item) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "string":
        return "example"
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    return None


class FakeGemini:
    """The fake server; `start()` it, point the SDK at `base_url`, `stop()` it."""

    hang_seconds = 10.0

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        served_models: Iterable[str] | None = None,
        valid_key: str = VALID_KEY,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.served_models: set[str] = set(MODELS if served_models is None else served_models)
        self.valid_key = valid_key
        self.retry_delay = "30s"
        # The JSON object of JSON answers; None: an instance of the request's schema.
        self.json_answer: dict[str, Any] | None = None
        self.usage = {"promptTokenCount": 12, "candidatesTokenCount": 34, "thoughtsTokenCount": 5}
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next generateContent requests, in order."""
        unknown = set(behaviours) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown fake Gemini behaviours: {sorted(unknown)}")
        with self._lock:
            self._script.extend(behaviours)

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # releases "hang" handlers at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- answers ------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    def _gate(self, request: RecordedRequest, query_key: str) -> tuple[int, dict[str, Any]] | None:
        """The key and model checks Google makes before anything else."""
        key = request.headers.get("x-goog-api-key") or query_key
        if key != self.valid_key:
            return 400, error_body(
                400,
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": RPC + "ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": RPC + "LocalizedMessage",
                        "locale": "en-US",
                        "message": "API key not valid. Please pass a valid API key.",
                    },
                ],
            )
        if request.model and request.model not in self.served_models:
            return 404, error_body(
                404,
                f"models/{request.model} is not found for API version v1beta, or is not supported"
                " for generateContent. Call ListModels to see the list of available models and"
                " their supported methods.",
            )
        return None

    def _list_answer(self) -> dict[str, Any]:
        models = []
        for model_id in sorted(self.served_models):
            spec = MODELS.get(model_id)
            models.append(
                {
                    "name": f"models/{model_id}",
                    "version": "001",
                    "displayName": spec.label if spec else model_id,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                }
            )
        return {"models": models}

    def _answer(self, behaviour: str, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a behaviour other than "hang"."""
        if behaviour.isdigit() and behaviour != "429":
            return int(behaviour), error_body(int(behaviour))
        if behaviour in ("429", "429_minute", "429_day"):
            violations = [PER_MINUTE_VIOLATION]
            if behaviour == "429_day":
                violations.append(PER_DAY_VIOLATION)
            details = [
                {
                    "@type": RPC + "QuotaFailure",
                    "violations": [
                        {**v, "quotaDimensions": {"location": "global", "model": request.model}}
                        for v in violations
                    ],
                },
                {
                    "@type": RPC + "Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": RPC + "RetryInfo", "retryDelay": self.retry_delay},
            ]
            message = "You exceeded your current quota, please check your plan and billing details."
            return 429, error_body(429, message, details)
        if behaviour == "safety_prompt":
            return 200, {"promptFeedback": {"blockReason": "SAFETY"}, **self._usage()}
        if behaviour in ("safety_finish", "image_safety", "image_other", "no_image_reason"):
            reason = {
                "safety_finish": "IMAGE_SAFETY",
                "image_safety": "IMAGE_SAFETY",
                "image_other": "IMAGE_OTHER",
                "no_image_reason": "NO_IMAGE",
            }[behaviour]
            return 200, {"candidates": [{"finishReason": reason, "index": 0}], **self._usage()}
        if behaviour == "no_image":
            return 200, self._candidate([{"text": "I can't make that image."}])
        config = request.generation_config
        if config.get("responseMimeType") == "application/json" or behaviour == "json_invalid":
            if behaviour == "json_invalid":
                return 200, self._candidate([{"text": "Sure! Here is the JSON you asked for:"}])
            data = self.json_answer
            if data is None:
                data = schema_instance(config.get("responseJsonSchema") or {"type": "object"})
            return 200, self._candidate([{"text": json.dumps(data)}])
        image_config = config.get("imageConfig") or {}
        ratio = image_config.get("aspectRatio", "1:1")
        size_name = image_config.get("imageSize", "1K")
        try:
            size = get_model(request.model).pixel_size(ratio, size_name)
        except KeyError:
            return 400, error_body(
                400, f"Unsupported image config aspectRatio={ratio!r} imageSize={size_name!r}."
            )
        parts: list[dict[str, Any]] = [
            {"text": "Here is your thumbnail."},
            _inline_png(size, IMAGE_COLOR),
        ]
        if behaviour == "image_after_thought":
            parts.insert(0, {**_inline_png((64, 64), THOUGHT_COLOR), "thought": True})
        return 200, self._candidate(parts)

    def _candidate(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        content = {"role": "model", "parts": parts}
        candidate = {"content": content, "finishReason": "STOP", "index": 0}
        return {"candidates": [candidate], **self._usage()}

    def _usage(self) -> dict[str, Any]:
        total = sum(self.usage.values())
        return {
            "usageMetadata": {**self.usage, "totalTokenCount": total},
            "modelVersion": "fake-gemini",
        }


def _make_handler(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: headers and body go out as two writes, and with Nagle's algorithm the
        # body waited for the client's delayed ACK (about 40 ms a response on Linux).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if not _LIST.match(url.path):
                self._send(404, error_body(404, "Not found."))
                return
            request = RecordedRequest(self.path, "", self._headers(), {})
            fake._record(request)
            refused = fake._gate(request, _query_key(url.query))
            self._send(*(refused or (200, fake._list_answer())))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            match = _GENERATE.match(url.path)
            if match is None:
                self._send(404, error_body(404, "Not found."))
                return
            request = RecordedRequest(
                self.path, match["model"], self._headers(), json.loads(raw or b"{}")
            )
            fake._record(request)
            refused = fake._gate(request, _query_key(url.query))
            if refused:
                self._send(*refused)
                return
            behaviour = fake._next()
            if behaviour == "hang":
                fake._stopping.wait(fake.hang_seconds)
                self.close_connection = True
                return
            self._send(*fake._answer(behaviour, request))

        def _headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

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


def _query_key(query: str) -> str:
    return (parse_qs(query).get("key") or [""])[0]


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A started FakeGemini, stopped after the test."""
    fake = FakeGemini()
    fake.start()
    yield fake
    fake.stop()


def point_settings_at(settings: Settings, fake: FakeGemini, **overrides: Any) -> None:
    """Points Django settings (pytest-django's `settings` fixture) at `fake`: provider "gemini",
    the fake's valid key, a 1 s per-call timeout (GEMINI_TIMEOUT_SECONDS overrides the catalog),
    3 engine attempts with a 10 ms first retry delay; `overrides` win."""
    values = {
        "IMAGE_PROVIDER": "gemini",
        "GEMINI_API_KEY": fake.valid_key,
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


def main(argv: list[str] | None = None) -> None:
    """Runs the fake as a server process until SIGINT / SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_gemini", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--valid-key", default=VALID_KEY)
    parser.add_argument(
        "--serve",
        nargs="*",
        default=None,
        help="model ids to serve (default: the catalog's ids)",
    )
    parser.add_argument("--script", nargs="*", default=[], help="behaviours for the first requests")
    args = parser.parse_args(argv)
    fake = FakeGemini(
        host=args.host, port=args.port, served_models=args.serve, valid_key=args.valid_key
    )
    fake.script(*args.script)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    fake.start()
    print(f"fake Gemini serving {sorted(fake.served_models)} at {fake.base_url}", flush=True)
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
