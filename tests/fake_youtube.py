"""A local fake of the YouTube Data API v3, for driving Google's google-api-python-client.

It speaks the API's JSON on 127.0.0.1 (`YOUTUBE_API_BASE_URL` points the client here):

- `GET /youtube/v3/channels?part=...&forHandle=@x|id=UC...`: a `youtube#channelListResponse`
  with `items[].id`, `snippet{title, customUrl, ...}` and
  `contentDetails.relatedPlaylists.uploads` (a "UU..." id); an unknown handle or id is a 200
  with no `items` and `pageInfo.totalResults` 0, as YouTube answers;
- `GET /youtube/v3/playlistItems?part=snippet&playlistId=UU...&maxResults=n`: a
  `youtube#playlistItemListResponse`, newest first, each `snippet` with `resourceId.videoId`,
  `title`, `publishedAt` and the `thumbnails` map (default 120x90, medium 320x180, high
  480x360, standard 640x480 and, unless the channel says otherwise, maxres 1280x720), URLs on
  this server; an unknown playlist is 404 `playlistNotFound`;
- `GET /vi/<video id>/<size>.jpg`: real JPEGs made with Pillow from each video's picture (the
  4:3 sizes letterboxed with black bars, as YouTube's are).

Errors have Google's shape, `{"error": {"code", "message", "errors": [{"message", "domain",
"reason"}], "status"?, "details"?}}`: a request whose `key` is not `valid_key` ("test-key")
gets 400 INVALID_ARGUMENT with `badRequest` and ErrorInfo API_KEY_INVALID; `script("quota")`
makes the next API call 403 `quotaExceeded` (domain youtube.quota), `script("500")` a 500
`backendError`. Every request is recorded (`requests`: path and query). In tests use the
`fake_youtube` fixture or `youtube_settings` (Django settings pointed at it).
Standalone: `python -m tests.fake_youtube --port 8766` (one channel, @viewbaitdemo).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageDraw

SIZES = {  # YouTube's thumbnail sizes: name -> (file, width, height)
    "default": ("default", 120, 90),
    "medium": ("mqdefault", 320, 180),
    "high": ("hqdefault", 480, 360),
    "standard": ("sddefault", 640, 480),
    "maxres": ("maxresdefault", 1280, 720),
}


@dataclass
class FakeChannel:
    """A channel and its uploads' pictures (16:9 Pillow images, newest first)."""

    handle: str
    title: str
    pictures: Sequence[Image.Image]
    maxres: bool = True

    @property
    def channel_id(self) -> str:
        return "UC" + hashlib.sha256(self.handle.encode()).hexdigest()[:22]

    @property
    def uploads_id(self) -> str:
        return "UU" + self.channel_id[2:]

    def video_id(self, index: int) -> str:
        return hashlib.sha256(f"{self.handle}:{index}".encode()).hexdigest()[:11]


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    key: str | None = None  # the X-Goog-Api-Key header


def error_body(
    code: int, message: str, reason: str, domain: str = "global", **extra: Any
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            **extra,
        }
    }


KEY_INVALID = error_body(
    400,
    "API key not valid. Please pass a valid API key.",
    "badRequest",
    status="INVALID_ARGUMENT",
    details=[
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "youtube.googleapis.com"},
        }
    ],
)
QUOTA = error_body(
    403,
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.',
    "quotaExceeded",
    domain="youtube.quota",
)
BACKEND = error_body(500, "Backend Error", "backendError")


def solid(
    colour: tuple[int, int, int], *, text: bool = False, size: tuple[int, int] = (1280, 720)
) -> Image.Image:
    """A 16:9 picture of one colour, with three lines of white block lettering if `text`."""
    image = Image.new("RGB", size, colour)
    if text:
        draw = ImageDraw.Draw(image)
        w, h = size
        for row in range(3):
            top = int(h * (0.12 + 0.14 * row))
            for col in range(9):
                left = int(w * (0.06 + 0.06 * col))
                draw.rectangle((left, top, left + int(w * 0.04), top + int(h * 0.09)), fill="white")
    return image


def jpeg(image: Image.Image, size: tuple[int, int]) -> bytes:
    """`image` at YouTube's `size`: scaled to fit, letterboxed in black when the size is 4:3."""
    width, height = size
    fitted = image.convert("RGB").resize((width, round(width * image.height / image.width)))
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(fitted, (0, (height - fitted.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class FakeYouTube:
    valid_key: str = "test-key"
    channels: list[FakeChannel] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0  # 0: any free port

    def __post_init__(self) -> None:
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop()'s shutdown() waits up to one poll interval
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def add_channel(self, channel: FakeChannel) -> FakeChannel:
        self.channels.append(channel)
        return channel

    def reset(self) -> None:
        """No channels, no recorded requests, no scripted answers, as a new fake (the server
        stays): for a fake shared by several tests."""
        with self._lock:
            self.channels.clear()
            self.requests.clear()
            self._script.clear()

    def script(self, *behaviours: str) -> None:
        """The next API calls' answers: "quota", "500" (then "ok" again)."""
        self._script.extend(behaviours)

    def api_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/youtube/v3/")]

    def downloads(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/vi/")]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # answers ------------------------------------------------------------------------------
    def _channel(self, query: dict[str, str]) -> FakeChannel | None:
        handle = query.get("forHandle", "")
        handle = handle if handle.startswith("@") else f"@{handle}"
        for channel in self.channels:
            if channel.handle.casefold() == handle.casefold() or channel.channel_id == query.get(
                "id"
            ):
                return channel
        return None

    def api(self, path: str, query: dict[str, str], key: str | None) -> tuple[int, dict[str, Any]]:
        """The answer to an API call; `key` from the `X-Goog-Api-Key` header, else the `key`
        query parameter (Google takes either)."""
        if (key or query.get("key")) != self.valid_key:
            return 400, KEY_INVALID
        with self._lock:
            behaviour = self._script.popleft() if self._script else "ok"
        if behaviour == "quota":
            return 403, QUOTA
        if behaviour == "500":
            return 500, BACKEND
        if path == "/youtube/v3/channels":
            channel = self._channel(query)
            page = {"totalResults": 0 if channel is None else 1, "resultsPerPage": 5}
            answer: dict[str, Any] = {
                "kind": "youtube#channelListResponse",
                "etag": "fake",
                "pageInfo": page,
            }
            if channel is not None:
                answer["items"] = [
                    {
                        "kind": "youtube#channel",
                        "etag": "fake",
                        "id": channel.channel_id,
                        "snippet": {
                            "title": channel.title,
                            "description": "",
                            "customUrl": channel.handle.lower(),
                            "publishedAt": "2020-01-01T00:00:00Z",
                        },
                        "contentDetails": {
                            "relatedPlaylists": {"likes": "", "uploads": channel.uploads_id}
                        },
                    }
                ]
            return 200, answer
        if path == "/youtube/v3/playlistItems":
            channel = next(
                (c for c in self.channels if c.uploads_id == query.get("playlistId")), None
            )
            if channel is None:
                return 404, error_body(
                    404,
                    "The playlist identified with the request's <code>playlistId</code> "
                    "parameter cannot be found.",
                    "playlistNotFound",
                    domain="youtube.playlistItem",
                )
            limit = min(50, int(query.get("maxResults") or 5))
            items = [self._item(channel, i) for i in range(min(limit, len(channel.pictures)))]
            return 200, {
                "kind": "youtube#playlistItemListResponse",
                "etag": "fake",
                "items": items,
                "pageInfo": {"totalResults": len(channel.pictures), "resultsPerPage": limit},
            }
        return 404, error_body(404, "Not Found", "notFound")

    def _item(self, channel: FakeChannel, index: int) -> dict[str, Any]:
        video_id = channel.video_id(index)
        thumbnails = {
            name: {"url": f"{self.base_url}vi/{video_id}/{file}.jpg", "width": w, "height": h}
            for name, (file, w, h) in SIZES.items()
            if name != "maxres" or channel.maxres
        }
        return {
            "kind": "youtube#playlistItem",
            "etag": "fake",
            "id": f"item-{video_id}",
            "snippet": {
                "publishedAt": f"2026-11-{28 - index:02d}T12:00:00Z",
                "channelId": channel.channel_id,
                "title": f"Video {index + 1}",
                "description": "",
                "thumbnails": thumbnails,
                "channelTitle": channel.title,
                "playlistId": channel.uploads_id,
                "position": index,
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            },
        }

    def thumbnail(self, path: str) -> bytes | None:
        parts = path.strip("/").split("/")
        if len(parts) != 3:
            return None
        _vi, video_id, file = parts
        for channel in self.channels:
            for index, picture in enumerate(channel.pictures):
                if channel.video_id(index) != video_id:
                    continue
                for name, (stem, w, h) in SIZES.items():
                    if file == f"{stem}.jpg" and (name != "maxres" or channel.maxres):
                        return jpeg(picture, (w, h))
        return None


def _make_handler(fake: FakeYouTube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with fake._lock:
                fake.requests.append(Recorded(url.path, query, self.headers.get("X-Goog-Api-Key")))
            if url.path.startswith("/vi/"):
                data = fake.thumbnail(url.path)
                if data is None:
                    self._send(404, b"", "text/plain")
                else:
                    self._send(200, data, "image/jpeg")
                return
            status, payload = fake.api(url.path, query, self.headers.get("X-Goog-Api-Key"))
            self._send(status, json.dumps(payload).encode(), "application/json; charset=UTF-8")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: tests assert on `FakeYouTube.requests` instead."""

    return Handler


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    """A started FakeYouTube, stopped after the test."""
    fake = FakeYouTube()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def youtube_settings(settings: Any, fake_youtube: FakeYouTube) -> FakeYouTube:
    """`fake_youtube`, with YOUTUBE_API_KEY and YOUTUBE_API_BASE_URL pointed at it (2 s
    timeouts)."""
    settings.YOUTUBE_API_KEY = fake_youtube.valid_key
    settings.YOUTUBE_API_BASE_URL = fake_youtube.base_url
    settings.YOUTUBE_TIMEOUT_SECONDS = 2.0
    return fake_youtube


def main(argv: list[str] | None = None) -> None:
    """Runs the fake with one demo channel (@viewbaitdemo: dark thumbnails with text) until
    SIGINT / SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_youtube", description=__doc__)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    fake = FakeYouTube(port=args.port)
    shades = [(20, 24, 40), (30, 20, 36), (16, 32, 48), (28, 28, 28), (40, 16, 24)]
    fake.add_channel(
        FakeChannel("@viewbaitdemo", "ViewBait Demo", [solid(c, text=True) for c in shades * 2])
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fake.start()
    print(f"fake YouTube Data API on {fake.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
