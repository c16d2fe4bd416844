"""The generate accept path does each thing once: at most 8 SQL queries and no new Redis
connection per accepted request once the process is warm (issue 10), with the replay and
refusal order it had before."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest
import redis.asyncio.connection as async_connection
import redis.connection as sync_connection
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import CreditAccount, Plan
from billing.services import adjust_credits, debit_credits
from generation import pipeline
from generation.errors import IdempotencyKeyReused
from generation.models import Job
from generation.progress import flush_publications, publish_job
from generation.services import find_replay, unfinished_jobs
from tests.conftest import set_plan
from tests.servers import RedisServer

TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def queries(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in captured if q["sql"].split(None, 1)[0].upper() not in TRANSACTION_CONTROL
    ]


@pytest.fixture
def redis_connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every Redis connection this process opens (redis-py, sync and asyncio) while it runs."""
    opened: list[object] = []
    for cls in (sync_connection.AbstractConnection, async_connection.AbstractConnection):
        original = cls.connect
        if inspect.iscoroutinefunction(original):

            async def connect(self: Any, *a: Any, _original: Any = original, **k: Any) -> Any:
                if not self.is_connected:
                    opened.append(self)
                return await _original(self, *a, **k)

        else:

            def connect(self: Any, *a: Any, _original: Any = original, **k: Any) -> Any:
                if getattr(self, "_sock", None) is None:
                    opened.append(self)
                return _original(self, *a, **k)

        monkeypatch.setattr(cls, "connect", connect)
    return opened


@pytest.fixture
def redis_layer(redis_server: RedisServer, settings: Any) -> None:
    """The Channels layer on a private Redis, as in production (channels_redis)."""
    server = redis_server
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [server.url(0)], "prefix": "vb-ws-test"},
        }
    }


def generate(client: Any, n: int) -> Any:
    return client.post_json(
        "/api/generate", {"title": f"Accept path {n}"}, HTTP_IDEMPOTENCY_KEY=f"accept-{n}"
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_accepted_generate_runs_at_most_8_queries_and_opens_no_redis_connection(
    owner: Any, owner_client: Any, redis_layer: None, redis_connects: list[object]
) -> None:
    set_plan(owner, "pro")
    adjust_credits(user=owner, amount=50, idempotency_key="accept-path", reason="test")
    for n in range(2):  # warm: session, plan and subscription caches, the layer's connection
        assert generate(owner_client, n).status_code == 202
        Job.objects.filter(user=owner).update(status=Job.Status.SUCCEEDED)
    assert flush_publications()  # the warm-up's events reached the layer (its connection too)
    del redis_connects[:]
    for n in range(2, 5):
        with CaptureQueriesContext(connection) as captured:
            response = generate(owner_client, n)
        assert response.status_code == 202, response.content
        assert len(queries(captured)) <= 8, "\n".join(queries(captured))
        Job.objects.filter(user=owner).update(status=Job.Status.SUCCEEDED)
    assert flush_publications()  # and so did these requests' events, on the same connection
    assert redis_connects == []
    body = response.json()
    assert body["thumbnails"] == [] and body["status"] == "queued"
    assert body["credits_remaining"] == CreditAccount.objects.get(user=owner).balance


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_publishing_from_worker_threads_reuses_one_connection(
    owner: Any, owner_client: Any, redis_layer: None, redis_connects: list[object]
) -> None:
    assert generate(owner_client, 0).status_code == 202
    job = Job.objects.get(user=owner)
    publish_job(job)
    assert flush_publications()
    opened = len(redis_connects)
    threads = [threading.Thread(target=publish_job, args=(job,)) for _ in range(4)]
    for thread in threads:
        thread.start()
        thread.join()
    assert flush_publications()
    assert len(redis_connects) == opened


def replayed_under_lock(owner_client: Any, monkeypatch: pytest.MonkeyPatch, first: Any) -> Any:
    """Key 1 sent again as if both requests passed the replay check before either took the
    lock; asserts it is answered as a replay of `first` and returns the answer."""
    monkeypatch.setattr(pipeline, "find_keyed", lambda **_: None)
    again = generate(owner_client, 1)
    assert again.status_code == 202, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    return again


def test_a_duplicate_found_under_the_lock_is_replayed_and_charges_nothing(
    starter: Any, owner_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate(owner_client, 1)
    assert first.status_code == 202
    balance = CreditAccount.objects.get(user=starter).balance
    again = replayed_under_lock(owner_client, monkeypatch, first)
    assert again.json()["credits_remaining"] == balance
    assert CreditAccount.objects.get(user=starter).balance == balance
    assert Job.objects.filter(user=starter).count() == 1


def test_a_key_reused_for_another_body_found_under_the_lock_is_refused(
    starter: Any, owner_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate(owner_client, 1)
    assert first.status_code == 202
    balance = CreditAccount.objects.get(user=starter).balance
    # As if both requests passed the replay check before either took the lock.
    monkeypatch.setattr(pipeline, "find_keyed", lambda **_: None)
    other = owner_client.post_json(
        "/api/generate", {"title": "Another body"}, HTTP_IDEMPOTENCY_KEY="accept-1"
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert CreditAccount.objects.get(user=starter).balance == balance
    assert Job.objects.filter(user=starter).count() == 1


def test_a_duplicate_found_under_the_lock_is_replayed_before_too_many_jobs(
    starter: Any, owner_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate(owner_client, 1)
    assert first.status_code == 202
    Plan.objects.filter(slug="starter").update(max_concurrent_jobs=1)  # the first job fills it
    balance = CreditAccount.objects.get(user=starter).balance
    replayed_under_lock(owner_client, monkeypatch, first)
    assert CreditAccount.objects.get(user=starter).balance == balance
    assert generate(owner_client, 2).json()["code"] == "too_many_jobs"  # a new key is refused


def test_a_duplicate_found_under_the_lock_is_replayed_before_insufficient_credits(
    starter: Any, owner_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate(owner_client, 1)
    assert first.status_code == 202
    left = CreditAccount.objects.get(user=starter).balance
    debit_credits(user=starter, amount=left, idempotency_key="spend-all", reason="test")
    replayed_under_lock(owner_client, monkeypatch, first)
    assert CreditAccount.objects.get(user=starter).balance == 0
    assert Job.objects.filter(user=starter).count() == 1
    assert generate(owner_client, 2).json()["code"] == "insufficient_credits"


def test_unfinished_jobs_counts_only_the_users_queued_and_running_jobs(
    owner: Any, other: Any
) -> None:
    for status in Job.Status:
        Job.objects.create(user=owner, type="generate_thumbnails", status=status)
    Job.objects.create(user=other, type="generate_thumbnails", status=Job.Status.QUEUED)
    assert unfinished_jobs(owner) == 2
    assert unfinished_jobs(other) == 1


def test_find_replay_reads_the_key_of_this_user_only(owner: Any, other: Any) -> None:
    job = Job.objects.create(
        user=owner, type="generate_thumbnails", idempotency_key="k", request_fingerprint="f"
    )
    assert find_replay(user=owner, idempotency_key="k", fingerprint="f") == job
    assert find_replay(user=other, idempotency_key="k", fingerprint="f") is None
    assert find_replay(user=owner, idempotency_key=None, fingerprint="f") is None
    with pytest.raises(IdempotencyKeyReused):
        find_replay(user=owner, idempotency_key="k", fingerprint="another body")
