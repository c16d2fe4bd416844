"""Request ids (django-guid, X-Request-ID) on responses and in log lines, a job's id in its
worker's lines with one line per run, and no traceback on a 403's log line (core.logs)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string

from tests.conftest import JSONClient, make_user

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class Captured(logging.Handler):
    """Records as settings.LOGGING's console handler sees them: its filters, its format."""

    def __init__(self) -> None:
        super().__init__()
        console = settings.LOGGING["handlers"]["console"]
        for name in console["filters"]:
            self.addFilter(import_string(settings.LOGGING["filters"][name]["()"])())
        self.setFormatter(
            logging.Formatter(settings.LOGGING["formatters"][console["formatter"]]["format"])
        )
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.django_db
def test_every_response_has_a_request_id_and_a_clients_uuid_is_kept() -> None:
    client = Client()
    first = client.get("/accounts/login/")["X-Request-ID"]
    second = client.get("/accounts/login/")["X-Request-ID"]
    assert HEX_ID.match(first) and HEX_ID.match(second) and first != second
    given = uuid.uuid4().hex
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    forged = client.get("/accounts/login/", HTTP_X_REQUEST_ID="x\r\nINFO forged line")
    assert HEX_ID.match(forged["X-Request-ID"])  # not a UUID: replaced, never logged as given


@pytest.mark.django_db
def test_a_requests_log_lines_carry_its_id(captured: Captured) -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    (line,) = [line for line in captured.lines if "Not Found: /no-such-page/" in line]
    assert f" [{response['X-Request-ID']}] " in line


@pytest.mark.django_db
def test_a_403_is_logged_in_one_line_without_its_traceback(captured: Captured) -> None:
    staff = make_user("no-rights@example.com", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/studio/thumbnail/").status_code == 403
    (record,) = [r for r in captured.records if getattr(r, "status_code", None) == 403]
    assert record.exc_info is None
    assert not any("Traceback" in line for line in captured.lines)


@pytest.mark.django_db
def test_a_job_run_logs_one_line_under_the_jobs_id(
    owner_client: JSONClient, submit: Any, run_jobs: Any, captured: Captured
) -> None:
    response = submit(owner_client, {"title": "Logged run"})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    captured.lines.clear()
    assert run_jobs() == 1
    ended = [line for line in captured.lines if "generation.actors" in line]
    assert [line.split(" ", 2)[2] for line in ended] == [
        f"INFO [{job_id}] generation.actors job {job_id} (generate_thumbnails, 1 units of 1"
        f" credits) succeeded after {ended[0].rsplit('after ', 1)[1]}"
    ], captured.lines
    assert all(f"[{job_id}]" in line for line in captured.lines if "generation." in line)
