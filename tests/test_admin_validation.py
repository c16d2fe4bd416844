"""The admin's forms refuse what the API and the studio refuse, as form errors on the field, with
nothing saved: a row saved there was served by the API and failed later, in a paid job or at
Checkout (ops review 2026-12-05)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from billing.models import CreditPack, Plan
from studio.models import Palette, Project, Style
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


def test_an_email_changed_in_the_admin_is_the_only_one_that_signs_in_or_resets(
    admin_client: Any, client: Any, mailoutbox: Any
) -> None:
    """allauth signs in and sends password resets to any of a user's addresses: the old one,
    left behind, still opened the account after staff changed its email."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    from tests.factories.accounts import PASSWORD

    user = make_user("old@example.com")
    EmailAddress.objects.create(user=user, email="old@example.com", primary=True, verified=True)
    EmailAddress.objects.create(user=user, email="spare@example.com", verified=True)
    url = f"/admin/auth/user/{user.pk}/change/"
    data = change_form_data(admin_client, url)
    joined = timezone.localtime(user.date_joined)
    del data["date_joined"]
    data.update(date_joined_0=f"{joined:%Y-%m-%d}", date_joined_1=f"{joined:%H:%M:%S}")

    kept = admin_client.post(url, {**data, "first_name": "Ann"})  # the email unchanged
    assert kept.status_code == 302
    assert EmailAddress.objects.filter(user=user).count() == 2

    saved = admin_client.post(url, {**data, "email": "New@example.com"})

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.email == "New@example.com"
    addresses = EmailAddress.objects.filter(user=user).values_list("email", "primary", "verified")
    assert list(addresses) == [("new@example.com", True, True)]
    request = RequestFactory().post("/accounts/login/")
    for old in ("old@example.com", "spare@example.com"):
        assert authenticate(request, email=old, password=PASSWORD) is None
        client.post("/accounts/password/reset/", {"email": old})
    # allauth tells an address it has no account for so (ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS).
    assert [m.subject for m in mailoutbox] == ["[ViewBait] Unknown Account"] * 2
    assert not any("/accounts/password/reset/key/" in m.body for m in mailoutbox)
    assert authenticate(request, email="new@example.com", password=PASSWORD) == user
    client.post("/accounts/password/reset/", {"email": "new@example.com"})
    assert mailoutbox[2].to == ["new@example.com"]
    assert "/accounts/password/reset/key/" in mailoutbox[2].body


def plan_form(plan: Plan) -> dict[str, Any]:
    """The POST of the plan's change page as it shows the plan."""
    form = {k: "" if v is None else v for k, v in model_to_dict(plan).items()}
    for field in ("resolutions", "aspect_ratios", "features"):
        form[field] = json.dumps(form[field])
    return form


@pytest.mark.parametrize("field", ["max_variations", "max_concurrent_jobs"])
def test_an_admin_plan_limit_of_0_is_a_form_error(admin_client: Any, field: str) -> None:
    """0 refused every generate of every creator on the plan."""
    starter = Plan.objects.get(slug="starter")
    before = getattr(starter, field)
    url = f"/admin/billing/plan/{starter.pk}/change/"
    refused = admin_client.post(url, {**plan_form(starter), field: 0})
    assert refused.status_code == 200
    assert field in refused.context["adminform"].form.errors
    starter.refresh_from_db()
    assert getattr(starter, field) == before
    assert admin_client.post(url, {**plan_form(starter), field: 1}).status_code == 302


def test_an_admin_second_default_plan_is_a_form_error(admin_client: Any) -> None:
    """`default_plan()` took the first of two silently."""
    default = Plan.objects.get(is_default=True)
    other = Plan.objects.exclude(pk=default.pk).first()
    assert other is not None
    url = f"/admin/billing/plan/{other.pk}/change/"
    refused = admin_client.post(url, {**plan_form(other), "is_default": True})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["is_default"] == [
        f"{default.name} is the default plan: untick “Is default” there first."
    ]
    assert list(Plan.objects.filter(is_default=True)) == [default]
    # The default plan itself saves as it is.
    saved = admin_client.post(f"/admin/billing/plan/{default.pk}/change/", plan_form(default))
    assert saved.status_code == 302


@pytest.mark.parametrize(
    "settings",
    [
        '{"variations": 99, "style_id": "abc"}',
        '{"aspect_ratio": "3:1"}',
        '{"resolution": "8K"}',
        '["variations"]',
        "OTHERS_STYLE",
    ],
)
def test_an_admin_project_default_settings_the_api_refuses_are_a_form_error(
    admin_client: Any, settings: str
) -> None:
    owner, someone = make_user("projects@example.com"), make_user("someone@example.com")
    theirs = Style.objects.create(owner=someone, name="Theirs", prompt="x")
    settings = settings.replace("OTHERS_STYLE", json.dumps({"style_id": theirs.pk}))
    data = {"owner": owner.pk, "name": "Coffee", "share_mode": "off"}
    refused = admin_client.post(
        "/admin/studio/project/add/", {**data, "default_settings": settings}
    )
    assert refused.status_code == 200
    assert "default_settings" in refused.context["adminform"].form.errors
    assert not Project.objects.filter(owner=owner).exists()


def test_an_admin_project_default_settings_are_stored_as_the_api_stores_them(
    admin_client: Any,
) -> None:
    owner = make_user("projects@example.com")
    data = {"owner": owner.pk, "name": "Coffee", "share_mode": "off"}
    unknown = admin_client.post(
        "/admin/studio/project/add/",
        {**data, "default_settings": '{"variations": "2", "colour": "red"}'},
    )
    assert unknown.status_code == 200 and b"colour" in unknown.content  # refused, as the API does
    assert not Project.objects.filter(owner=owner).exists()
    saved = admin_client.post(
        "/admin/studio/project/add/", {**data, "default_settings": '{"variations": "2"}'}
    )
    assert saved.status_code == 302
    stored = Project.objects.get(owner=owner).default_settings
    assert stored["variations"] == 2 and stored["aspect_ratio"] == "16:9"
    blank = admin_client.post(
        "/admin/studio/project/add/", {**data, "name": "Tea", "default_settings": "null"}
    )
    assert blank.status_code == 302
    assert Project.objects.get(owner=owner, name="Tea").default_settings == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("credits", 0),
        ("credits", -5),
        ("credits", 100_001),
        ("credits", 3_000_000_000),
        ("price_cents", 0),
        ("price_cents", 49),
        ("price_cents", 100_000_000),
        ("price_cents", 3_000_000_000),
    ],
)
def test_an_admin_credit_pack_out_of_range_is_a_form_error(
    admin_client: Any, field: str, value: int
) -> None:
    """0 credits or a free pack (Stripe cannot charge 0) were saved, and the only upper bound
    was the database's integer (2147483647 credits)."""
    data = {"slug": "bulk", "name": "Bulk", "credits": 500, "price_cents": 2000, "sort_order": 9}
    refused = admin_client.post("/admin/billing/creditpack/add/", {**data, field: value})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors[field] == [
        "Enter " + ("1 to 100,000." if field == "credits" else "50 to 99,999,999.")
    ]
    assert not CreditPack.objects.filter(slug="bulk").exists()
    assert admin_client.post("/admin/billing/creditpack/add/", data).status_code == 302
