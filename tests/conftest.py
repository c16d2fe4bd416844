"""Shared fixtures: personas (owner, other creator, staff), API clients, and a job runner that
drains the stub Dramatiq broker in the test thread."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dramatiq
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.test import Client
from django.test.testcases import QuietWSGIRequestHandler

from billing.models import Plan
from billing.services import change_plan
from studio import images as studio_images
from tests.servers import ForkingDjango, RedisServer, database_url, private_redis
from tests.stack import SharedStack

# The gallery's WebP previews at method 0 in the test processes instead of production's 4
# (studio.images WEBP_METHOD): the same quality setting, files about 15% larger, and 11 ms
# instead of 31 for the two previews of a 1K render; no test measures a preview's bytes.
studio_images.WEBP_METHOD = 0


def _style_previews_drawn_once_per_process() -> None:
    """The library draws each style's preview on its first view (studio.style_previews) and
    stores it on the Style row, which every test gets back without it: the browser tests drew
    the same built-in previews, a 1K render each, about 30 times a run (12 CPU-s), and every
    custom style a factory or a test made with a reference drew one when it was made. A preview
    is a function of the style's name, slug, seed and first reference image alone
    (`render_preview`: a seeded render, then WebP), so each distinct one is drawn once per test
    process: the same bytes the renderer would give again (threads asking for one at once wait
    for its first draw). Tests that replace `render_style_preview` (a failing or slow draw)
    still get theirs."""
    import hashlib

    from studio import style_previews

    real = style_previews.render_preview
    drawn: dict[tuple[str, str, int, str], bytes] = {}
    drawing: dict[tuple[str, str, int, str], threading.Lock] = {}
    guard = threading.Lock()

    def render_preview(*, name: str, slug: str, seed: int, reference: bytes | None) -> bytes:
        key = (name, slug, seed, hashlib.sha256(reference).hexdigest() if reference else "")
        if key in drawn:
            return drawn[key]
        # Threads drawing the same preview at once (tests/test_concurrency.py's tabs, a live
        # server's requests) wait for the first one's instead of each drawing it.
        with guard:
            lock = drawing.setdefault(key, threading.Lock())
        with lock:
            if key not in drawn:
                drawn[key] = real(name=name, slug=slug, seed=seed, reference=reference)
        return drawn[key]

    style_previews.render_preview = render_preview  # type: ignore[assignment]


_style_previews_drawn_once_per_process()


def _seed_gallery_images_drawn_once_per_process() -> None:
    """`seed_gallery` renders each of its distinct images (a 1K local render, then PNG, two WebP
    previews and a JPEG: 0.17-0.25 CPU-s each) on every call, and the browser tests call it a
    dozen times a run with `images=2` or 3: the same few images each time. An image is a
    function of its index, the built-in styles and palettes it picks from and the command's
    titles alone (`Command._render`: a seeded render), and its files are shared seed files,
    which deleting a row never deletes (studio.services.SHARED_SEED_FILES); so each distinct one
    is drawn and stored once per test process, and later calls get the same stored files while
    they still exist in the current media storage. The command is patched when `call_command`
    first loads it: importing it brings the renderer (OpenCV, numpy: 0.2 CPU-s), which a test
    process that never seeds a gallery should not pay."""
    from django.core import management

    load_command_class = management.load_command_class

    def load(app_name: str, name: str) -> Any:
        command = load_command_class(app_name, name)
        if name == "seed_gallery" and not hasattr(type(command), "_drawn"):
            _draw_seed_images_once(type(command))
        return command

    management.load_command_class = load


def _draw_seed_images_once(command: Any) -> None:
    """Wraps the seed_gallery `Command` class's `_render` (see above); `command._drawn` holds
    what it drew, by index, media storage and built-in styles and palettes."""
    from django.core.files.storage import default_storage

    from studio.models import Palette, Style

    real = command._render
    drawn: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _render(self: Any, index: int) -> dict[str, Any]:
        styles = Style.objects.filter(owner=None).order_by("id")
        palettes = Palette.objects.filter(owner=None).order_by("id")
        key = (
            index,
            str(default_storage.location),
            tuple(styles.values_list("pk", "name", "slug")),
            tuple((pk, tuple(colors)) for pk, colors in palettes.values_list("pk", "colors")),
        )
        stored = drawn.get(key)
        if stored is None or not all(map(default_storage.exists, stored["names"].values())):
            drawn[key] = stored = real(self, index)
        return {**stored, "names": dict(stored["names"])}

    command._render = _render
    command._drawn = drawn


_seed_gallery_images_drawn_once_per_process()


def _force_login_saves_one_session() -> None:
    """Django's test client (5.2) signs in through `self.session`, which saves an empty session
    first when the client has none; `login()` then gives it a new key (cycle_key: another
    session row) and deletes the first one: 14 SQL statements and 8 cache commands on the
    cached_db engine, in every test that signs in (owner_client, other_client). A client
    without a session cookie now signs in through the branch Django's `_login` keeps for a
    client without a session (a new, unsaved SessionStore): the same `login()` (its signal
    updates last_login, the CSRF token rotates) and the same stored session and cookie, 8
    statements and 3 cache commands. A client with a session cookie signs in as Django does
    (with the session it has)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import login
    from django.http import HttpRequest

    django_login = Client._login  # type: ignore[attr-defined]

    def _login(self: Client, user: Any, backend: str | None = None) -> None:
        if settings.SESSION_COOKIE_NAME in self.cookies:
            django_login(self, user, backend)
            return
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()
        login(request, user, backend)
        request.session.save()
        self._set_login_cookies(request)  # type: ignore[attr-defined]

    Client._login = _login  # type: ignore[attr-defined]


_force_login_saves_one_session()


def _kept_databases_migrate_when_their_migrations_changed() -> None:
    """Creating a kept test database (`--reuse-db`) runs `migrate` only when the migration
    files differ from those it was last migrated with (tests.kept_db.skip_unchanged_migrate)."""
    from django.db.backends.base.creation import BaseDatabaseCreation

    create: Any = BaseDatabaseCreation.create_test_db

    def create_test_db(self: Any, *args: Any, keepdb: bool = False, **kwargs: Any) -> str:
        if not keepdb:
            return create(self, *args, keepdb=keepdb, **kwargs)
        from tests import kept_db

        with kept_db.skip_unchanged_migrate():
            return create(self, *args, keepdb=keepdb, **kwargs)  # type: ignore[no-any-return]

    BaseDatabaseCreation.create_test_db = create_test_db  # type: ignore[method-assign, assignment]


_kept_databases_migrate_when_their_migrations_changed()

# pytest-django's live_server (Django's LiveServerThread) answers with TCP_NODELAY, as the
# production server (uvicorn, asyncio sockets) does: its handler writes headers and body
# separately, and with Nagle's algorithm each body waited for the browser's delayed ACK.
QuietWSGIRequestHandler.disable_nagle_algorithm = True


class _LiveServerRequests:
    """The requests pytest-django's live_server (a threaded WSGI server in this process) is
    handling: the threads between request_started and request_finished of a WSGIHandler (the
    test client's handler is no WSGIHandler; the Stack's servers are other processes).

    A browser test ended with the page's last requests still running in the server (a style
    preview drawn on its first view takes up to a second, more on a loaded machine), and the
    test's database teardown emptied the tables under them: the flush deadlocked with the
    preview's row locks (billing_creditaccount, then the style) and failed the test's teardown
    once in six loaded `-n 4` runs, or the request hit pytest-django's closed database."""

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def started(self, sender: Any, **_: Any) -> None:
        # The live server answers on threads of its own. A WSGIHandler called on the test's
        # thread (schemathesis' `from_wsgi`) is not one of its requests, and one whose response
        # it never closed (no request_finished) counted for ever: every later live-server test
        # waited its 30 s and failed.
        if threading.current_thread() is threading.main_thread():
            return
        if isinstance(sender, type) and issubclass(sender, WSGIHandler):
            with self._lock:
                self._threads.add(threading.current_thread())

    def finished(self, sender: Any, **_: Any) -> None:
        with self._lock:
            self._threads.discard(threading.current_thread())

    def running(self) -> int:
        """How many are still being handled (threads that died mid-request are not counted)."""
        with self._lock:
            return sum(thread.is_alive() for thread in self._threads)

    def wait(self, seconds: float) -> int:
        """Until none is running, `seconds` at most; how many still are."""
        deadline = time.monotonic() + seconds
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.running()


_LIVE_SERVER_REQUESTS = _LiveServerRequests()
request_started.connect(_LIVE_SERVER_REQUESTS.started, weak=False)
request_finished.connect(_LIVE_SERVER_REQUESTS.finished, weak=False)
LIVE_SERVER_DRAIN_SECONDS = 30  # a preview drawn on a loaded machine takes a few seconds


@pytest.fixture(autouse=True)
def _live_server_requests_end_before_the_database_is_reset(
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """A live_server test's teardown waits for the requests its pages left running in the
    server (the browser is gone by then; the server is not) before the database is emptied."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up before this: torn down after the wait
    yield
    left = _LIVE_SERVER_REQUESTS.wait(LIVE_SERVER_DRAIN_SECONDS)
    assert not left, (
        f"{left} live-server request(s) still running {LIVE_SERVER_DRAIN_SECONDS} s after the test"
    )


SAMPLES = Path(__file__).resolve().parent / "fixtures"
FACE_PHOTO = SAMPLES / "face-eileen-collins.jpg"
REFERENCE_PHOTO = SAMPLES / "reference-coffee.jpg"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the Makefile's default): two xdist workers per CPU, at most 4 (tests/settings.py
    gives each worker Redis databases of its own; 16 hold four). Two per CPU because a third of
    the suite's time is spent waiting on other processes (servers starting, workers' timeouts,
    websockets idling) rather than computing: on a 2-core machine against PostgreSQL and Redis,
    2 workers took 195 s (116 CPU-seconds idle), 3 took 158 s and 4 took 155 s. On a faster
    2-core machine (2026-12-02) 4 took 112 s with the CPUs 93% busy (vmstat) and 5 took 120 s."""
    import os

    return min(4, 2 * (os.cpu_count() or 1))


# Fixtures whose first use starts servers that the test process then keeps for its later tests:
# the stack (a web process and a worker, about 3.7 machine CPU-seconds, tests/stack.py) and
# Chromium with its Playwright driver (0.6-0.7, tests/browser.py).
KEPT_SERVERS = frozenset({"live_stack", "live_server"})


def keeps_servers(item: pytest.Item) -> bool:
    """Whether a test starts (or reuses) a test process's kept servers: a browser test, or one
    using the live stack or Django's live server."""
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker("browser") is not None or not KEPT_SERVERS.isdisjoint(names)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, put the tests that keep servers (`keeps_servers`) at the head of the first
    two workers' shares, so two test processes start Chromium and the stack instead of all of
    them.

    pytest-xdist's `worksteal` scheduler (the Makefile's) first splits the collected list into
    contiguous, nearly equal shares, one per worker in order (`len(rest) // workers_left` each;
    xdist/scheduler/worksteal.py), and an idle worker later steals the second half of the
    longest queue, from its tail. Every worker collects the same list and applies the same
    deterministic reordering, as xdist requires. The browser tests' 57 tests sat in all four
    shares, so each of the four test processes started its own Chromium, driver and stack. The
    head of a share is never stolen, so they now run in two. Other tests keep their order; a
    run without xdist is left as collected."""
    workerinput = getattr(config, "workerinput", None)
    workers = int(workerinput["workercount"]) if workerinput else 1
    items[:] = servers_first(items, workers, keeps_servers)


T = TypeVar("T")


def servers_first(items: list[T], workers: int, keeps: Callable[[T], bool]) -> list[T]:
    """`items` reordered for `workers` worksteal shares (`pytest_collection_modifyitems`): those
    `keeps` picks split between the heads of the first two shares, the others after them in
    their order. Unchanged with fewer than two workers or none picked."""
    heavy = [item for item in items if keeps(item)]
    if workers < 2 or not heavy:
        return list(items)
    light = [item for item in items if not keeps(item)]
    sizes = []
    left = len(items)
    for index in range(workers):
        sizes.append(left // (workers - index))
        left -= sizes[-1]
    holders = min(2, workers)
    split = -(-len(heavy) // holders)  # ceil: the first holder takes the odd one
    shares = [heavy[i * split : (i + 1) * split] for i in range(holders)]
    ordered: list[T] = []
    for index, size in enumerate(sizes):
        head = shares[index] if index < holders else []
        take = max(0, size - len(head))
        ordered += head + light[:take]
        del light[:take]
    return ordered + light  # a heavy share longer than its slot leaves the rest here


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collected: move everything alive now (Django, the project, the test modules) out of the
    cyclic garbage collector's sight (`gc.freeze()`), and collect the young generation less often.
    Each full collection walked every imported module's objects again: 8% of a test process's CPU
    went to the collector, and 7 mid-sized files took 36.8-38.5 CPU-s with this against 38.3-40.2
    without (interleaved, 2026-12-05)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def a_session_waits_on_a_lock() -> bool:
    """Whether another session of this test's PostgreSQL database is waiting on a lock now
    (`pg_stat_activity.wait_event_type = 'Lock'`): a racing request queued behind a row lock."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def make_user(email: str, **extra: Any) -> Any:
    """A creator with this email (tests.factories.accounts.UserFactory: `plan=`, `credits=`)."""
    from tests.factories.accounts import UserFactory

    return UserFactory(email=email, **extra)


@pytest.fixture(scope="session")
def django_db_keepdb(request: pytest.FixtureRequest) -> bool:
    """`--reuse-db` (the Makefile's default) keeps a PostgreSQL test database between runs. The
    SQLite one is named per run (tests/settings.py), so keeping it would only pile up files in
    var/: it is created and dropped as without the flag."""
    from django.conf import settings

    reuse = bool(request.config.getvalue("reuse_db"))
    return reuse and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any, django_db_keepdb: bool) -> None:
    """pytest-django's set-up; then a kept database is emptied and seeded as its migrations
    seeded it (tests.kept_db), whatever an earlier run left in it. Serialized-rollback tests
    reload that content with tests.db_restore (one INSERT per model, not two queries per row)."""
    from django.db import connections

    from tests import db_restore

    for connection in connections.all():
        db_restore.install(connection)
    if django_db_keepdb:
        from tests import kept_db

        with django_db_blocker.unblock():
            kept_db.reset()
        db_restore.seeded()


@pytest.fixture(autouse=True)
def _fresh_redis_fault_state() -> Iterator[None]:
    """Every test starts with closed Redis breakers and an empty fault-log throttle (both are
    per process), so one test's outage never silences or fails fast another's."""
    from core import redis_faults

    redis_faults.reset_breakers()
    yield
    redis_faults.reset_breakers()


@pytest.fixture
def owner(db: None) -> Any:
    return make_user("owner@example.com")


@pytest.fixture
def other(db: None) -> Any:
    return make_user("other@example.com")


@pytest.fixture
def staff(db: None) -> Any:
    return make_user("staff@example.com", is_staff=True, is_superuser=True)


def set_plan(user: Any, slug: str, status: str = "active") -> None:
    change_plan(user=user, plan=Plan.objects.get(slug=slug), status=status)


class JSONClient(Client):
    """Django test client that sends JSON bodies by default."""

    def post_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.post(path, json.dumps(data), content_type="application/json", **extra)


@pytest.fixture
def starter(owner: Any) -> Any:
    """The owner on the Starter plan (its credits stay the 10 every new account gets)."""
    set_plan(owner, "starter")
    return owner


@pytest.fixture
def clean_cache() -> Iterator[None]:
    """An empty shared cache before and after: breaker state and cached AI results live there
    and must not leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner_client(owner: Any) -> JSONClient:
    client = JSONClient()
    client.force_login(owner)
    return client


@pytest.fixture
def other_client(other: Any) -> JSONClient:
    client = JSONClient()
    client.force_login(other)
    return client


@pytest.fixture
def anon_client() -> JSONClient:
    return JSONClient()


@pytest.fixture
def face_photo_bytes() -> bytes:
    return FACE_PHOTO.read_bytes()


def drain_jobs() -> int:
    """Run every message waiting on the stub broker, in this thread. Returns how many ran."""
    broker = dramatiq.get_broker()
    ran = 0
    for name in list(broker.queues):
        queue = broker.queues[name]
        while not queue.empty():
            message = dramatiq.Message.decode(queue.get_nowait())
            broker.get_actor(message.actor_name).fn(*message.args, **message.kwargs)
            ran += 1
    return ran


@pytest.fixture
def run_jobs() -> Iterator[Callable[[], int]]:
    drain_jobs()
    yield drain_jobs
    broker = dramatiq.get_broker()
    for queue in broker.queues.values():
        while not queue.empty():
            queue.get_nowait()


@pytest.fixture
def submit(
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., Any]:
    """POST /api/generate with on-commit hooks (the Dramatiq send) executed."""

    def _submit(client: JSONClient, body: dict[str, Any], key: str | None = None) -> Any:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post_json("/api/generate", body, **headers)

    return _submit


@pytest.fixture
def no_job_cap() -> None:
    """Lift every plan's concurrent-job cap (Plan.max_concurrent_jobs), for tests that submit
    many jobs without running them (rate limits are what they measure). Request a database
    fixture first."""
    from billing.services import invalidate_plan_table

    Plan.objects.update(max_concurrent_jobs=1000)
    invalidate_plan_table()


# --- Billing: the ledger explains every balance (issue 9) ---------------------------------------
_DB_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def _uses_db(request: pytest.FixtureRequest) -> bool:
    """Whether the test uses the database (its `django_db` marker or a database fixture)."""
    return request.node.get_closest_marker("django_db") is not None or bool(
        _DB_FIXTURES & set(request.fixturenames)
    )


def restore_migrations_rows() -> bool:
    """Put back what the migrations seeded (plans, styles, content types: the serialized test
    database, as a serialized-rollback test reloads it) when the plans are missing, and drop
    the cached plan table. Returns whether it had to. Inside a test's transaction the rows go
    again when it is rolled back. Until a flush has run in this process
    (tests.db_restore.flushed_since_seed) nothing can be missing, and it does not look: that
    query ran before every database test."""
    from django.db import connections

    from billing.models import Plan
    from billing.services import invalidate_plan_table
    from tests import db_restore

    if not db_restore.flushed_since_seed() or Plan.objects.exists():
        return False
    for connection in connections.all():
        contents = getattr(connection, "_test_serialized_contents", None)
        if contents:
            connection.creation.deserialize_db_from_string(contents)
    invalidate_plan_table()
    return True


@pytest.fixture(autouse=True)
def _migrations_rows(request: pytest.FixtureRequest) -> None:
    """A test in a rolled-back transaction finds the migrations' rows, as Django's test order
    promises: a transactional test empties every table when it ends, and under xdist's
    worksteal a worker that ran one may then take such a test from another worker's share (a
    fresh-clone `make test` failed so: no plans, `default_plan()` IndexError)."""
    from tests import db_restore

    if not db_restore.flushed_since_seed():  # no query: restore_migrations_rows would not look
        return
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(
        marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences"))
    ) or bool({"transactional_db", "live_server"} & set(request.fixturenames))
    if transactional or not _uses_db(request):
        return
    request.getfixturevalue("_django_db_helper")
    restore_migrations_rows()


@functools.cache
def _ledger_mismatches_sql() -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters of the ledger check: (email, balance, ledger sum) of every credit
    account whose balance is not its user's ledger sum. Compiled once per process: building it
    with the ORM took 0.5 ms of CPU, at the end of every database test."""
    from django.db.models import F, Sum
    from django.db.models.functions import Coalesce

    from billing.models import CreditAccount

    rows = (
        CreditAccount.objects.annotate(ledger=Coalesce(Sum("user__credit_entries__amount"), 0))
        .exclude(balance=F("ledger"))
        .values_list("user__email", "balance", "ledger")
    )
    return rows.query.sql_with_params()


@pytest.fixture(autouse=True)
def ledger_sum_equals_balance(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used the database: for every user, the sum of their credit ledger
    entries equals their balance (the suite-wide acceptance check of issue 9). Requests the
    database before the test does, so the check runs while the test's data is still there."""
    if not _uses_db(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    yield
    from django.db import connection

    sql, params = _ledger_mismatches_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        wrong = cursor.fetchall()
    assert not wrong, f"ledger sum differs from the balance (email, balance, ledger): {wrong}"


# --- A private redis-server (tests that pause or stop it) ----------------------------------
@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (tests.servers.RedisServer), stopped afterwards."""
    with private_redis(tmp_path) as server:
        yield server


# --- Code run in other processes (tests.servers.ForkingDjango) -------------------------------
@pytest.fixture(scope="session")
def _shared_forking_django() -> Iterator[dict[str, ForkingDjango]]:
    held: dict[str, ForkingDjango] = {}
    yield held
    if "forking" in held:
        held.pop("forking").close()


@pytest.fixture
def forking_django(_shared_forking_django: dict[str, ForkingDjango]) -> ForkingDjango:
    """One ForkingDjango on the test settings per test process, started by the first test that
    asks for it (with that process's environment; again if it died) and closed at the end of the
    session. Each `run()` forks fresh processes from it and it runs no test code itself, so the
    tests sharing it share nothing else; each saves a django.setup() (about 0.6 CPU seconds)."""
    forking = _shared_forking_django.get("forking")
    if forking is None or not forking.alive():
        forking = _shared_forking_django["forking"] = ForkingDjango("tests.settings")
    return forking


# --- The real stack the browser tests drive (tests/stack.py) -----------------------------------
@pytest.fixture(scope="session")
def _shared_stack(django_db_setup: None) -> Iterator[dict[str, SharedStack]]:
    """Holds this test process's SharedStack once a test started it; closes it at the end of the
    session, before the test database is torn down (a server's connection would keep it)."""
    held: dict[str, SharedStack] = {}
    yield held
    if "stack" in held:
        held.pop("stack").close()


@pytest.fixture
def live_stack(
    request: pytest.FixtureRequest,
    _shared_stack: dict[str, SharedStack],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SharedStack]:
    """This test process's shared stack (tests/stack.py) on this test's database, with its caches
    and fakes emptied for this test; started by `tests.stack.drive`. After the test it settles
    before the database is emptied, or is closed (a new one serves the next test)."""
    request.getfixturevalue("transactional_db")  # set up before this: torn down after it
    database = database_url()
    stack = _shared_stack.get("stack")
    if stack is not None and (stack.database != database or not stack.alive()):
        _shared_stack.pop("stack").close()
        stack = None
    if stack is None:
        stack = SharedStack(tmp_path_factory.mktemp("stack"), database)
        _shared_stack["stack"] = stack
    stack.begin()
    yield stack
    if not stack.end():
        print(f"the shared stack did not settle; closed\n{stack.output()}")
        _shared_stack.pop("stack").close()
