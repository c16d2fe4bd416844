"""A creator deletes their account: everything they made goes, files included; a wrong password
or a Stripe plan that still renews keeps it."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from django.core.files.storage import default_storage

from billing.models import CreditLedgerEntry, Subscription
from billing.services import adjust_credits, get_balance
from generation.models import Job
from studio import services
from studio.models import Face, Project, Style, Thumbnail
from tests.conftest import make_user
from tests.factories.accounts import PASSWORD
from tests.factories.studio import ThumbnailFactory, uploaded_face_and_style, uploaded_style


def a_library(owner: Any) -> list[str]:
    """A thumbnail, a face, a style with a reference image and a project; their stored files."""
    thumbnail = ThumbnailFactory(owner=owner, stored=True)
    face, style = uploaded_face_and_style(owner)
    Project.objects.create(owner=owner, name="Series")
    names = [thumbnail.image.name, *(i.image.name for i in face.images.all())]
    names += [r.image.name for r in style.reference_images.all()] + [style.preview.name]
    assert all(default_storage.exists(name) for name in names)
    return names


def test_deleting_the_account_removes_everything_and_signs_out(
    db: None, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = make_user("leaving@example.com")
    keeper = make_user("staying@example.com")
    names = a_library(owner)
    kept = ThumbnailFactory(owner=keeper, stored=True)
    client.force_login(owner)
    page = client.get("/accounts/delete/").content.decode()
    assert "1 thumbnail, 1 face" in page and "leaving@example.com" in page
    assert 'href="/accounts/delete/"' in client.get("/accounts/email/").content.decode()

    refused = client.post("/accounts/delete/", {"password": "not it"})
    assert refused.status_code == 400 and "is not this account" in refused.content.decode()
    assert Thumbnail.objects.filter(owner=owner).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/signup/"
    assert "Your account and its 1 thumbnail were deleted." in response.content.decode()
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    for model in (Thumbnail, Face, Style, Project):
        assert not model.objects.filter(owner_id=owner.pk).exists(), model
    assert not CreditLedgerEntry.objects.filter(user_id=owner.pk).exists()
    assert not Job.objects.filter(user_id=owner.pk).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert default_storage.exists(kept.image.name)  # another creator's files stay
    assert client.get("/studio/").status_code == 302  # signed out


def test_a_stripe_plan_that_still_renews_is_cancelled_first(db: None, client: Any) -> None:
    owner = make_user("paying@example.com", plan="pro")
    Subscription.objects.filter(user=owner).update(
        stripe_subscription_id="sub_123", status="active"
    )
    client.force_login(owner)
    page = client.get("/accounts/delete/").content.decode()  # said before a password is typed
    assert 'id="delete-renews"' in page
    # The refused form is not offered (its disabled password field and red Delete button read
    # as live: creator review 2026-12-05), but the billing portal, where the plan is cancelled.
    assert 'type="password"' not in page and "Delete my account" not in page
    portal = page[page.index('<form method="post" action="/billing/portal">') :]
    portal = portal[: portal.index("</form>")]
    assert re.search(r'name="operation_id" value="[0-9a-f]{32}"', portal)
    assert '<button class="button" type="submit">Manage billing</button>' in portal
    response = client.post("/accounts/delete/", {"password": PASSWORD})
    assert response.status_code == 409
    refused = response.content.decode()
    assert "still renews through Stripe" in refused and 'type="password"' not in refused
    assert type(owner).objects.filter(pk=owner.pk).exists()
    Subscription.objects.filter(user=owner).update(cancel_at_period_end=True)
    assert client.post("/accounts/delete/", {"password": PASSWORD}).status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()


def test_a_public_styles_references_another_creators_queued_job_copied_stay_until_it_ends(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Another creator's queued generate with the author's public style reads its references
    when it runs (`params["style"]["references"]`): deleting the author's account keeps those
    (as deleting the style alone does) and the job's end deletes them."""
    from generation.registry import get_job_type

    author = make_user("author@example.com")
    other = make_user("other@example.com")
    style = uploaded_style(author, name="Shared", public=True)
    reference, preview = style.reference_images.get().image.name, style.preview.name
    job = Job.objects.create(
        user=other,
        type="generate_thumbnails",
        params={"title": "x", "style": {"name": style.name, "references": [reference]}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.do_delete_account(user=author)
    assert not Style.objects.filter(pk=style.pk).exists()
    assert default_storage.exists(reference)  # the queued job still reads it
    assert not default_storage.exists(preview)  # no job copies a preview
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    with django_capture_on_commit_callbacks(execute=True):
        get_job_type(job.type).discard(job.params)
    assert not default_storage.exists(reference)


@pytest.mark.parametrize(
    ("thumbnails", "said"),
    [
        (0, "Your account was deleted."),
        (2, "Your account and its 2 thumbnails were deleted."),
    ],
)
def test_the_goodbye_counts_the_thumbnails_in_words(
    db: None, client: Any, thumbnails: int, said: str
) -> None:
    """An account with no thumbnails is not told "its 0 thumbnails were deleted" (one is
    "its 1 thumbnail", in the test above)."""
    owner = make_user("counted@example.com")
    for _ in range(thumbnails):
        ThumbnailFactory(owner=owner)
    client.force_login(owner)
    response = client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)
    page = response.content.decode()
    assert said in page
    assert "0 thumbnails" not in page


@pytest.mark.parametrize(
    ("thumbnails", "faces", "credits", "said"),
    [
        (
            1,
            0,
            0,
            "for good: 1 thumbnail, your styles, palettes and projects (their share"
            " links stop working). It cannot",
        ),
        (
            0,
            1,
            3,
            "for good: 1 face and its photos, your styles, palettes and projects (their"
            " share links stop working), and 3 credits. It",
        ),
        (
            2,
            2,
            1,
            "for good: 2 thumbnails, 2 faces and their photos, your styles, palettes and"
            " projects (their share links stop working), and 1 credit. It",
        ),
    ],
)
def test_the_page_counts_what_goes_in_words(
    db: None, client: Any, thumbnails: int, faces: int, credits: int, said: str
) -> None:
    """The page said "1 thumbnail, 0 faces and their photos, ... and 0 credits": a count of
    none is left out, one face has "its" photos."""
    owner = make_user("words@example.com")
    adjust_credits(
        user=owner, amount=credits - get_balance(owner), idempotency_key="words", reason="test"
    )
    for _ in range(thumbnails):
        ThumbnailFactory(owner=owner)
    for number in range(faces):
        Face.objects.create(owner=owner, name=f"Face {number}")
    client.force_login(owner)
    page = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", "", client.get("/accounts/delete/").content.decode())
    )
    what_goes = re.search(r"This deletes .*? first\.", page)
    assert what_goes and said in what_goes.group()
    assert not re.search(r"\b0 (thumbnail|face|credit)", what_goes.group())


@pytest.mark.parametrize("method", ["get", "post"])
def test_signed_out_the_page_asks_to_sign_in(db: None, client: Any, method: str) -> None:
    response = getattr(client, method)("/accounts/delete/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_media_root_is_the_tests_own() -> None:  # the deletes above touch only test files
    from django.conf import settings

    assert "viewbait-test-media-" in os.fspath(settings.MEDIA_ROOT)


def test_deleting_a_user_in_the_admin_removes_their_files_unless_stripe_still_bills_them(
    db: None, admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    leaving = make_user("removed@example.com")
    names = a_library(leaving)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/auth/user/{leaving.pk}/delete/", {"post": "yes"}, follow=True
        )
    assert response.status_code == 200
    assert not type(leaving).objects.filter(pk=leaving.pk).exists()
    assert not any(default_storage.exists(name) for name in names)

    paying = make_user("billed@example.com", plan="pro")
    Subscription.objects.filter(user=paying).update(stripe_subscription_id="sub_9", status="active")
    response = admin_client.post(
        f"/admin/auth/user/{paying.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert "still renews through Stripe" in response.content.decode()
    assert type(paying).objects.filter(pk=paying.pk).exists()
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [paying.pk], "post": "yes"},
        follow=True,
    )
    assert "was not deleted" in response.content.decode()
    assert "Successfully deleted" not in response.content.decode()
    assert type(paying).objects.filter(pk=paying.pk).exists()


def test_a_staff_user_without_delete_rights_on_thumbnails_cannot_delete_their_owner(
    db: None, client: Any
) -> None:
    from django.contrib.auth.models import Permission

    staff = make_user("junior@example.com", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "delete_user"])
    )
    creator = make_user("kept@example.com")
    ThumbnailFactory(owner=creator)
    client.force_login(staff)
    response = client.post(f"/admin/auth/user/{creator.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert type(creator).objects.filter(pk=creator.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delivery_committing_while_the_account_goes_leaves_no_file_behind() -> None:
    """A worker delivering under its job's row lock when the creator deletes the account: the
    deletion waits for it and takes the new thumbnail's file too (it read the file names first,
    then the cascade failed on the new row or left its file in storage)."""
    import threading
    import time

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    owner = make_user("racing@example.com")
    job = Job.objects.create(user=owner, type="generate_thumbnails", status="running", units=1)
    locked, delivered = threading.Event(), []

    def deliver() -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=job.pk)  # as JobContext.delivering does
                locked.set()
                time.sleep(0.3)  # the deletion starts meanwhile
                delivered.append(ThumbnailFactory(owner=owner, job=job, stored=True).image.name)
        finally:
            connections.close_all()

    worker = threading.Thread(target=deliver)
    worker.start()
    assert locked.wait(5)
    assert services.do_delete_account(user=owner) == 1  # waited for the delivery
    worker.join()
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    assert delivered and not default_storage.exists(delivered[0])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_accounts_other_sessions_are_signed_out_too() -> None:
    """Transactional, as in production: outside a transaction the signed-in user comes from the
    shared cache (core.auth), which the deletion must clear."""
    from django.test import Client

    owner = make_user("two-devices@example.com")
    phone, laptop = Client(), Client()
    phone.force_login(owner)
    laptop.force_login(owner)
    assert laptop.get("/studio/").status_code == 200  # its user now cached (core.auth)
    assert phone.post("/accounts/delete/", {"password": PASSWORD}).status_code == 302
    response = laptop.get("/studio/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_admins_delete_confirmation_counts_a_creators_rows_instead_of_listing_them(
    db: None, admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    """Counted per model with one query per relation, so the page's work does not grow with
    the library (Django's listed and linked every row: 62 s and 747 MB for 300,000 jobs, ops
    review); rows a delete keeps (SET_NULL) are not counted."""
    creator = make_user("counted@example.com")
    for n in range(12):
        ThumbnailFactory(owner=creator, title=f"Video {n}")
    page = admin_client.get(f"/admin/auth/user/{creator.pk}/delete/").content.decode()
    assert "12 thumbnails" in page
    assert "Video 3" not in page  # no row listed by name
    thumbnail = creator.thumbnails.first()
    assert f"/admin/studio/thumbnail/{thumbnail.pk}/change/" not in page
    assert "1 credit account\n" in page or "1 credit account<" in page
    with django_assert_max_num_queries(40) as captured:
        admin_client.get(f"/admin/auth/user/{creator.pk}/delete/")
    for n in range(12, 60):
        ThumbnailFactory(owner=creator, title=f"Video {n}")
    with django_assert_max_num_queries(len(captured)):
        page = admin_client.get(f"/admin/auth/user/{creator.pk}/delete/").content.decode()
    assert "60 thumbnails" in page
