"""PostgreSQL faults in requests: a database that cannot be reached (a dropped connection, a
server refusing connections, the pool's DB_POOL_TIMEOUT spent) is a 503 `database_unavailable`
with Retry-After, the API's JSON or the site's 503 page, not a 500 (core.api.database_unavailable,
answered by handler500, core.api.server_error).

The faults are injected with a cursor wrapper (connection.execute_wrapper) failing every query
as a dead connection does, on the test's real PostgreSQL connection.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import InterfaceError, connection
from django.test import Client
from psycopg_pool import PoolTimeout

from core.api import DATABASE_RETRY_AFTER_SECONDS
from tests.db_faults import dropped_connection

pytestmark = pytest.mark.usefixtures("clean_cache")

FAULTS = [
    dropped_connection(),
    InterfaceError("connection already closed"),
    PoolTimeout("couldn't get a connection after 10.00 sec"),
]


def database_down(error: Exception) -> Any:
    """A cursor wrapper failing every query with `error` while installed."""

    def fail(*args: Any) -> Any:
        raise error

    return connection.execute_wrapper(fail)


@pytest.fixture
def signed_in(owner: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


@pytest.mark.parametrize("error", FAULTS, ids=lambda e: type(e).__name__)
def test_an_api_request_gets_a_503_database_unavailable(signed_in: Client, error) -> None:
    with database_down(error):
        response = signed_in.get("/api/projects")
    assert response.status_code == 503
    assert response.json() == {
        "error": "The service is briefly unavailable; what you sent may or may not have been"
        " saved. Try again in a few seconds, with the same Idempotency-Key where it takes one.",
        "code": "database_unavailable",
        "retry_after": DATABASE_RETRY_AFTER_SECONDS,
    }
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)


def test_a_write_through_the_api_gets_the_503_too(signed_in: Client) -> None:
    with database_down(FAULTS[0]):
        response = signed_in.post(
            "/api/projects", {"name": "Launch"}, content_type="application/json"
        )
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


def test_a_page_gets_the_sites_503_page_saying_it_is_temporary(signed_in: Client) -> None:
    with database_down(FAULTS[0]):
        response = signed_in.get("/studio/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    page = response.content.decode()
    assert "briefly unavailable" in page and "temporary" in page


def test_a_fault_in_a_view_or_a_middleware_is_the_same_503_logged_once(
    signed_in: Client, monkeypatch, caplog
) -> None:
    """A fault a view raises (here only the projects' query fails: DRF passes it on) and one a
    middleware raises (reading the user) both reach handler500 and get the 503; the outage is
    one throttled WARNING, not django.request's ERROR with a traceback per request."""
    from core.redis_faults import reset_breakers

    reset_breakers()  # forget what was logged when

    def projects_down(execute: Any, sql: str, *args: Any) -> Any:
        if '"studio_project"' in sql:
            raise dropped_connection()
        return execute(sql, *args)

    def reads_the_user(self: Any, request: Any) -> Any:
        raise dropped_connection()

    caplog.set_level("WARNING")
    with connection.execute_wrapper(projects_down):
        in_view = signed_in.get("/api/projects")
    monkeypatch.setattr("core.middleware.PrivatePagesMiddleware.call", reads_the_user)
    api = signed_in.get("/api/projects")
    page = signed_in.get("/studio/")
    for response in (in_view, api):
        assert (response.status_code, response.json()["code"]) == (503, "database_unavailable")
    assert page.status_code == 503 and "briefly unavailable" in page.content.decode()
    assert {r["Retry-After"] for r in (in_view, api, page)} == {str(DATABASE_RETRY_AFTER_SECONDS)}
    assert [r.name for r in caplog.records if r.levelno >= 30] == ["core.api"]
    assert "database is unreachable" in caplog.records[0].getMessage()


def test_other_faults_are_still_a_500(signed_in: Client, monkeypatch) -> None:
    def broken(self: Any, request: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("core.middleware.PrivatePagesMiddleware.call", broken)
    response = signed_in.get("/api/projects")
    assert (response.status_code, response.json()["code"]) == (500, "server_error")


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_web_process_whose_database_refuses_connections_answers_503(tmp_path) -> None:
    """End to end: a web process as the Procfile starts it, on a throwaway PostgreSQL database
    (empty: nothing here gets far enough to need a table) that then refuses connections (ALTER DATABASE ... ALLOW_CONNECTIONS
    false, its backends terminated): a request that needs the database gets the 503 after the
    pool's timeout, not a 500."""
    import json
    import urllib.error
    import urllib.request
    import uuid

    from tests.db_faults import ThrowawayDatabase
    from tests.servers import WebServer, database_url

    name = f"vb_refusing_{uuid.uuid4().hex[:8]}"
    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    with ThrowawayDatabase(connection.get_connection_params(), name) as database:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.real_settings_fast_hash",
            "DATABASE_URL": url,
            "DB_POOL_TIMEOUT": "1",
            "DEBUG": "0",
            "LOCAL_DEV": "1",
        }
        server = WebServer(env, tmp_path / "web.log")
        try:
            server.wait_until_up()
            database.refuse()
            # A session cookie makes every request read the session from the database
            # (cached_db: a cache miss), before any view runs.
            answers = {}
            for path in ("/api/projects", "/studio/"):
                request = urllib.request.Request(
                    server.base_url + path,
                    headers={"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"},
                )
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(request, timeout=30)
                answers[path] = caught.value
        finally:
            server.stop()
        api, page = answers["/api/projects"], answers["/studio/"]
        assert api.code == 503, server.output()
        assert json.loads(api.read())["code"] == "database_unavailable"
        assert api.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
        assert page.code == 503 and "briefly unavailable" in page.read().decode()


def statement_timeout_at(marker: str, times: int = 1) -> Any:
    """A cursor wrapper that, before the first `times` queries containing `marker`, runs a real
    query past a 20 ms statement_timeout (psycopg's QueryCanceled, SQLSTATE 57014: Django's
    OperationalError, with the connection still up) and lets it propagate."""
    left = [times]

    def slow(execute: Any, sql: str, *args: Any) -> Any:
        if marker in sql and left[0] > 0:
            left[0] -= 1
            with connection.cursor() as cursor:  # in a savepoint: the test's transaction lives
                cursor.execute("SAVEPOINT statement_timeout")
                try:
                    cursor.execute("SET LOCAL statement_timeout = '20ms'")
                    cursor.execute("SELECT pg_sleep(1)")
                finally:
                    cursor.execute("ROLLBACK TO SAVEPOINT statement_timeout")
        return execute(sql, *args)

    return connection.execute_wrapper(slow)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement_timeout")
def test_a_statement_timeout_is_a_500_with_its_traceback_not_an_outage(
    signed_in: Client, caplog
) -> None:
    """A query's own OperationalError (here a statement timeout; a deadlock or a lock not
    available alike) is a fault to see: it was answered 503 "briefly unavailable" and logged
    as one throttled WARNING without its traceback (review of the day's diff)."""
    from core.db_faults import is_database_fault

    caplog.set_level("WARNING")
    with statement_timeout_at('"studio_project"'):
        response = signed_in.get("/api/projects")
    assert (response.status_code, response.json()["code"]) == (500, "server_error")
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)
    assert is_database_fault(dropped_connection())
    assert not is_database_fault(InterfaceError.__mro__[1]("a plain DatabaseError"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement_timeout")
def test_a_statement_timeout_at_a_delivery_fails_the_unit_at_once_refunded(
    owner: Any, submit: Any
) -> None:
    """In a worker too: a statement timeout at a unit's delivery is the unit's failure,
    refunded now, not an outage that leaves it pending for JOB_MAX_ATTEMPTS re-renders."""
    from billing.services import get_balance
    from generation.models import Job
    from generation.services import execute_job
    from tests.conftest import JSONClient

    client = JSONClient()
    client.force_login(owner)
    before = get_balance(owner)
    job_id = submit(client, {"title": "Timed out"}).json()["id"]
    with statement_timeout_at('UPDATE "generation_jobunit"'):
        execute_job(job_id)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.error_code) == ("failed", "storage_error")
    assert get_balance(owner) == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_503_after_a_write_committed_does_not_say_nothing_changed(
    owner: Any, monkeypatch
) -> None:
    """The connection drops as generate's transaction commits, after PostgreSQL committed it:
    the job is made and the credit taken, so the 503 must not say "nothing was changed" (a
    client would retry without its key and pay twice); the same Idempotency-Key finds the job."""
    from billing.models import CreditAccount
    from billing.services import get_balance
    from generation.models import Job

    client = Client(raise_request_exception=False)
    client.force_login(owner)
    before = get_balance(owner)
    wrapper = type(connection._connections[connection._alias])  # type: ignore[attr-defined]
    real_commit = wrapper._commit
    dropped: list[bool] = []

    def commit_then_drop(self: Any) -> None:
        real_commit(self)
        if not dropped and Job.objects.filter(user=owner).exists():
            dropped.append(True)
            raise dropped_connection()

    monkeypatch.setattr(wrapper, "_commit", commit_then_drop)
    headers = {"HTTP_IDEMPOTENCY_KEY": "commit-then-drop"}
    body = '{"title": "Hello"}'
    response = client.post("/api/generate", body, content_type="application/json", **headers)
    assert response.status_code == 503
    assert "nothing was changed" not in response.json()["error"]
    assert "may or may not" in response.json()["error"]
    again = client.post("/api/generate", body, content_type="application/json", **headers)
    assert again.status_code == 202
    assert Job.objects.filter(user=owner).count() == 1
    # Read from its row: the failed commit ran no on-commit hook, so the cached balance is stale
    # until it expires (and the job waits for the sweeper's send).
    assert CreditAccount.objects.get(user=owner).balance == before - 1
