"""The job queue on RabbitMQ (DRAMATIQ_BROKER_URL=amqp://..., core.rabbitmq): an accepted
generate's message reaches the real RabbitMQ (127.0.0.1:5672, RABBITMQ_URL overrides) with a
publisher confirm, a Dramatiq worker consuming it delivers the thumbnails, and /healthz reports
the broker. An unreachable broker costs the accept path one timeout, then nothing while its
breaker is open; the charge stands and the job is left for the sweeper to send again.

The app's actors are pointed at a broker of the test's own, on queues named for the test, so
parallel runs on one RabbitMQ never take each other's messages; the queues are deleted after."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import pytest
from django.db import close_old_connections
from django.test import Client
from django_dramatiq.middleware import DbConnectionsMiddleware
from dramatiq.errors import ConnectionClosed

from billing.models import Plan
from billing.services import invalidate_plan_table
from core.rabbitmq import RabbitmqBroker, RabbitmqUnavailable, with_timeouts
from generation import actors
from generation.models import Job
from studio.models import Thumbnail
from tests.conftest import JSONClient, make_user, set_plan
from viewbait.settings import dramatiq_broker

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5672), timeout=1):
            return True
    except OSError:
        return False


needs_rabbitmq = pytest.mark.skipif(
    not _reachable(RABBITMQ_URL), reason=f"no RabbitMQ at {RABBITMQ_URL} (.ci/run starts it)"
)


def test_the_broker_url_picks_rabbitmq_redis_or_the_stub() -> None:
    assert dramatiq_broker("amqp://u:p@mq:5672/viewbait", 0.5) == (
        "core.rabbitmq.RabbitmqBroker",
        {"url": "amqp://u:p@mq:5672/viewbait", "timeout": 0.5},
    )
    path, options = dramatiq_broker("redis://cache:6379/0", 0.5)
    assert (path, options["url"]) == ("core.redis_faults.RedisBroker", "redis://cache:6379/0")
    assert dramatiq_broker("", 0.5) == ("dramatiq.brokers.stub.StubBroker", {})
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="sqs://"):
        dramatiq_broker("sqs://queue", 0.5)


def test_pika_gets_short_timeouts_unless_the_url_sets_them() -> None:
    url = with_timeouts("amqp://u:p@mq/vh?heartbeat=30&socket_timeout=2", 0.5)
    query = dict(part.split("=") for part in urlsplit(url).query.split("&"))
    assert query == {
        "connection_attempts": "1",
        "retry_delay": "0",
        "socket_timeout": "2",  # the URL's own wins
        "stack_timeout": "2",
        "blocked_connection_timeout": "2",
        "heartbeat": "30",
    }
    assert urlsplit(url).path == "/vh"


@pytest.fixture
def on_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Returns `use(broker)`: the app's job actors send to `broker`, on queues of this test."""
    used: list[RabbitmqBroker] = []
    prefix = f"vbtest-{uuid.uuid4().hex[:10]}-"

    def use(broker: RabbitmqBroker) -> RabbitmqBroker:
        for actor in (actors.run_job, actors.run_job_high):
            name = (
                actor.queue_name
                if actor.queue_name.startswith(prefix)
                else prefix + actor.queue_name
            )
            monkeypatch.setattr(actor, "queue_name", name)
            monkeypatch.setattr(actor, "broker", broker)
            broker.declare_actor(actor)
        used.append(broker)
        return broker

    yield use
    for broker in used:
        broker.close()
    if used and _reachable(RABBITMQ_URL):  # the test's queues, whichever way it reached them
        cleaner = RabbitmqBroker(url=RABBITMQ_URL)
        for base in ("jobs", "jobs_high"):
            for suffix in ("", ".DQ", ".XQ"):
                cleaner.channel.queue_delete(f"{prefix}{base}{suffix}")
        cleaner.close()


def _wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@needs_rabbitmq
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_generate_goes_through_rabbitmq_to_a_worker_that_delivers_it(
    on_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = on_broker(
        RabbitmqBroker(
            url=RABBITMQ_URL,
            middleware=[*(m() for m in dramatiq.middleware.default_middleware)],
        )
    )
    broker.add_middleware(DbConnectionsMiddleware())
    user = make_user("rabbit@example.com")
    set_plan(user, "starter")  # variations, and the normal queue (Pro: jobs_high)
    client = JSONClient()
    client.force_login(user)

    response = client.post_json(
        "/api/generate",
        {"title": "Queued On RabbitMQ", "variations": 2},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.enqueued_at is not None  # the send was confirmed
    queue = actors.run_job.queue_name
    assert broker.get_queue_message_counts(queue)[0] == 1  # durable, on the real broker

    monkeypatch.setattr(dramatiq, "get_broker", lambda: broker)  # /healthz probes this one
    health = Client().get("/healthz").json()["broker"]
    assert (health["status"], health["backend"]) == ("ok", "rabbitmq")

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        assert _wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED, 60), (
            Job.objects.get(pk=job.pk).status
        )
    finally:
        worker.stop()
        close_old_connections()
    assert Thumbnail.objects.filter(job=job).count() == 2
    assert broker.get_queue_message_counts(queue) == (0, 0, 0)  # acknowledged

    # An operator deletes the queue: with publisher confirms the unroutable message comes
    # back, the queue is declared again and the next job still lands (without them RabbitMQ
    # drops it and the send looks fine).
    broker.channel.queue_delete(queue)
    again = client.post_json(
        "/api/generate", {"title": "After The Queue Went"}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert again.status_code == 202, again.content
    assert broker.get_queue_message_counts(queue)[0] == 1


@pytest.fixture
def hung_server() -> Iterator[str]:
    """An AMQP URL of a server that accepts TCP connections and never answers (a hung broker)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"amqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}/%2F"
    listener.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hung_rabbitmq_costs_one_timeout_and_the_job_waits_for_the_sweeper(
    on_broker: Any, hung_server: str, settings: Any
) -> None:
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 30
    broker = on_broker(RabbitmqBroker(url=hung_server, timeout=0.2))
    user = make_user("hung@example.com")
    client = JSONClient()
    client.force_login(user)

    def generate(title: str) -> tuple[Any, float]:
        started = time.monotonic()
        response = client.post_json(
            "/api/generate", {"title": title}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
        return response, time.monotonic() - started

    first, first_took = generate("First While Hung")
    assert first.status_code == 202, first.content  # charged and recorded: the send is after
    assert first_took < 3  # one connect: 0.2 s socket, 0.8 s handshake (pika's own: 10 + 15 s)
    assert broker.breaker.is_open
    with pytest.raises(RabbitmqUnavailable):
        broker.channel  # noqa: B018 (a new connection fails at once)

    Plan.objects.update(generate_cooldown_seconds=0)  # the second generate follows at once
    invalidate_plan_table()
    second, second_took = generate("Second While Hung")
    assert second.status_code == 202, second.content
    assert second_took < 0.5  # nothing waited on the broker

    for response in (first, second):
        job = Job.objects.get(pk=response.json()["id"])
        assert (job.status, job.enqueued_at, job.cost) == ("queued", None, 1)  # the sweeper's


class FreezableProxy:
    """A TCP proxy to RabbitMQ that stops forwarding while `frozen` is set: the broker stops
    answering on connections already open (a frozen VM, a network partition)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.02)
                target.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()


@needs_rabbitmq
def test_a_broker_frozen_on_an_open_connection_costs_one_deadline(
    on_broker: Any, settings: Any
) -> None:
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 0.5
    proxy = FreezableProxy(("127.0.0.1", 5672))
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F"
    broker = on_broker(RabbitmqBroker(url=url, timeout=0.2))  # a send has 0.8 s
    try:
        queue = actors.run_job.queue_name
        actors.run_job.send("first")  # the connection is open and the queue declared
        proxy.frozen.set()
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            actors.run_job.send("frozen")  # waited for its confirm until pika's heartbeat
        assert time.monotonic() - started < 2.5
        assert broker.breaker.is_open
        started = time.monotonic()
        with pytest.raises(RabbitmqUnavailable):
            actors.run_job.send("while open")
        assert time.monotonic() - started < 0.1
        proxy.frozen.clear()
        time.sleep(0.6)  # the breaker's cooldown: the next send probes
        actors.run_job.send("thawed")
        assert not broker.breaker.is_open
        broker.ping()
        proxy.frozen.set()  # /healthz's probe makes a round trip: frozen, it fails in time
        started = time.monotonic()
        with pytest.raises(RabbitmqUnavailable, match="took more than"):
            broker.ping()
        assert time.monotonic() - started < 2
        proxy.frozen.clear()
        counter = RabbitmqBroker(url=RABBITMQ_URL)
        messages = counter.get_queue_message_counts(queue)[0]
        counter.close()
        assert messages >= 2  # "first" and "thawed" (the frozen one may have landed too)
    finally:
        proxy.frozen.clear()
        proxy.close()
