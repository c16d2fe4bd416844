"""The admin's forms refuse what the API and the studio refuse, as form errors on the field, with
nothing saved: a row saved there was served by the API and failed later, in a paid job or at
Checkout (ops review 2026-12-05)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from studio.models import Palette
from tests.conftest import make_user
from tests.test_admin_names import change_form_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "colors",
    [
        '["red", 5]',
        '["#000000", "#FFFFFF"]',
        '["#000000", "#FFFFFF", "#000000"]',
        '{"a": "#000000"}',
        "7",
    ],
)
def test_an_admin_palette_of_colours_the_api_refuses_is_a_form_error(
    admin_client: Any, colors: str
) -> None:
    owner = make_user("colours@example.com")
    data = {"owner": owner.pk, "name": "Dusk", "colors": colors}
    refused = admin_client.post("/admin/studio/palette/add/", data)
    assert refused.status_code == 200
    assert "colors" in refused.context["adminform"].form.errors
    assert not Palette.objects.filter(owner=owner).exists()


def test_an_admin_palette_is_stored_as_the_api_stores_it(admin_client: Any) -> None:
    owner = make_user("colours@example.com")
    data = {"owner": owner.pk, "name": "Dusk", "colors": '["#aabbcc", "#000000", "#FFFFFF"]'}
    saved = admin_client.post("/admin/studio/palette/add/", data)
    assert saved.status_code == 302
    assert Palette.objects.get(owner=owner).colors == ["#AABBCC", "#000000", "#FFFFFF"]


def test_an_admin_user_email_another_account_has_is_a_form_error(admin_client: Any) -> None:
    """Saved, it locked one of the two out of signing in, and `adjust_credits` picked one."""
    make_user("demo@viewbait.local")
    other = make_user("other@example.com")
    url = f"/admin/auth/user/{other.pk}/change/"
    data = change_form_data(admin_client, url)
    joined = timezone.localtime(other.date_joined)  # a date and a time field on the page
    del data["date_joined"]
    data.update(date_joined_0=f"{joined:%Y-%m-%d}", date_joined_1=f"{joined:%H:%M:%S}")

    refused = admin_client.post(url, {**data, "email": "DEMO@viewbait.local"})

    assert refused.status_code == 200
    assert "email" in refused.context["adminform"].form.errors
    other.refresh_from_db()
    assert other.email == "other@example.com"
    # The account's own email in other case, and a free one, are saved.
    for email in ("OTHER@example.com", "free@example.com"):
        saved = admin_client.post(url, {**data, "email": email})
        assert saved.status_code == 302, saved.context["adminform"].form.errors
        other.refresh_from_db()
        assert other.email == email
