"""CPU, ASGI messages and peak Python memory per response for a stored file served by the web
process under ASGI (the embedded default's media; static files through WhiteNoise go the same
way), streamed in chunks (core.streaming) and as Django serves a FileResponse under ASGI without
it (the whole file read into a list of 64 KiB blocks in one thread, then sent). REQUESTS GETs of
one signed media URL per size through viewbait.asgi.application, in this process; the peak is
tracemalloc's over one more GET. Printed, never asserted.

    .venv/bin/python benchmarks/media_asgi.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from _django import django_test_db

    with django_test_db():
        asyncio.run(run(args.requests))


async def run(requests: int) -> None:
    from asgiref.sync import sync_to_async
    from asgiref.testing import ApplicationCommunicator
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    import core.streaming
    from studio import media
    from tests.test_serving import http_scope
    from viewbait.asgi import application

    warnings.simplefilter("ignore")  # the unstreamed runs warn on every response

    async def get(url: str) -> int:
        communicator = ApplicationCommunicator(application, http_scope(url))
        await communicator.send_input({"type": "http.request", "body": b""})
        await communicator.receive_output(10)
        messages = 0
        while True:
            message = await communicator.receive_output(10)
            messages += 1
            if not message.get("more_body"):
                break
        await communicator.wait(10)
        return messages

    streamed = core.streaming.stream_under_asgi
    for size in (100_000, 1_000_000, 4_000_000):
        name = await sync_to_async(default_storage.save)(
            f"thumbnails/full/bench-{size}.png", ContentFile(os.urandom(size))
        )
        url = await sync_to_async(media.media_url)(name)
        for label, stream in (("streamed", streamed), ("read whole", lambda r, response: response)):
            media.stream_under_asgi = stream  # type: ignore[assignment]
            for _ in range(10):
                await get(url)
            cpu = time.process_time()
            messages = 0
            for _ in range(requests):
                messages = await get(url)
            cpu = (time.process_time() - cpu) / requests * 1000
            tracemalloc.start()
            await get(url)
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            print(
                f"{size / 1e6:4.1f} MB  {label:10}  {cpu:6.2f} ms CPU/response  "
                f"{messages} messages  peak {peak:5.2f} MB"
            )
        media.stream_under_asgi = streamed
        await sync_to_async(default_storage.delete)(name)


if __name__ == "__main__":
    main()
