"""The signed-in user comes from the shared cache (core.auth), and every change to the account
is seen on the next request: deactivation, a new password, deletion.

These tests commit (transaction=True): inside a transaction the cache is bypassed by design.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import JSONClient

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def user_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if 'FROM "auth_user"' in q["sql"]]


def test_a_signed_in_request_reads_the_user_from_the_cache(owner_client: JSONClient) -> None:
    with CaptureQueriesContext(connection) as cold:
        assert owner_client.get("/api/me").status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert owner_client.get("/api/me").status_code == 200
    assert len(user_queries(cold)) == 1
    assert user_queries(warm) == []


def test_a_deactivated_account_is_signed_out_on_its_next_request(
    owner_client: JSONClient, owner: Any
) -> None:
    assert owner_client.get("/api/me").status_code == 200  # cached now
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert owner_client.get("/api/me").status_code in (401, 403)
    assert owner_client.get("/studio/").status_code == 302


def test_a_new_password_signs_out_the_other_sessions(owner_client: JSONClient, owner: Any) -> None:
    assert owner_client.get("/api/me").status_code == 200
    owner.set_password("a-brand-new-passphrase")
    owner.save()
    assert owner_client.get("/api/me").status_code in (401, 403)


def test_a_deleted_user_is_signed_out(owner_client: JSONClient, owner: Any) -> None:
    assert owner_client.get("/api/me").status_code == 200
    owner.delete()
    assert owner_client.get("/api/me").status_code in (401, 403)


def test_the_cache_is_not_read_inside_a_transaction(owner: Any) -> None:
    """Inside a transaction a stale copy could hide the transaction's own writes."""
    from django.db import transaction

    from core.auth import CachedModelBackend

    backend = CachedModelBackend()
    assert backend.get_user(owner.pk) == owner  # cached
    with transaction.atomic():
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)  # skips the signals
        assert backend.get_user(owner.pk) is None
        transaction.set_rollback(True)
