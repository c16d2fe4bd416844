"""Two requests at once may not give a creator two projects of one name: the name is checked
under the owner's balance row (real PostgreSQL row locks)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from billing.services import lock_account
from studio import services
from studio.models import Project
from tests.conftest import make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (set DATABASE_URL); SQLite serialises writers")


def test_a_project_name_taken_by_a_request_not_yet_committed_is_refused() -> None:
    owner = make_user("twins@example.com")
    locked, release = threading.Event(), threading.Event()

    def first() -> None:  # another request: holds the owner's row, its project not yet committed
        try:
            with transaction.atomic():
                lock_account(owner)
                Project.objects.create(owner=owner, name="Dusk")
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    answers: list[Any] = []

    def second() -> None:
        try:
            answers.append(services.do_create_project(owner=owner, name="dusk"))
        except services.StudioError as exc:
            answers.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert locked.wait(10)
    racer = threading.Thread(target=second)
    racer.start()
    racer.join(0.5)  # blocked on the row until the first commits
    release.set()
    holder.join(10)
    racer.join(10)
    assert len(answers) == 1 and isinstance(answers[0], services.StudioError), answers
    assert Project.objects.filter(owner=owner).count() == 1
