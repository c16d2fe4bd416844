"""A second QA pass's odd requests (2026-12-03): a stranger's object is a 404, bad input a 4xx,
never a 500, and no credit is kept for work not delivered. Each test failed before its fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from billing.services import get_balance
from generation.models import Job
from studio.models import Project
from tests.conftest import set_plan
from tests.factories.generation import JobFactory
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db


# An edit's "changes" that is not an object, next to a "changes.<field>" form key, was a TypeError.
@pytest.mark.parametrize("changes", ["[1]", "1", '"x"', "true"])
def test_edit_form_non_object_changes_with_a_flat_key_is_400(owner, owner_client, changes):
    t = ThumbnailFactory(owner=owner, stored=True)
    owner_client.raise_request_exception = False
    r = owner_client.post(
        "/studio/tools/edit_thumbnail",
        {"thumbnail_id": str(t.pk), "changes": changes, "changes.title": "New"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 400
    assert 'class="error"' in r.content.decode()


@pytest.mark.parametrize("changes", [[1], 1, True])
def test_edit_api_non_object_changes_with_a_flat_key_is_400(owner, owner_client, changes):
    t = ThumbnailFactory(owner=owner, stored=True)
    owner_client.raise_request_exception = False
    r = owner_client.post_json(
        "/api/jobs",
        {
            "type": "edit_thumbnail",
            "input": {"thumbnail_id": t.pk, "changes": changes, "changes.title": "New"},
        },
    )
    assert r.status_code == 400
    assert r.json()["code"] == "invalid"


# "changes" as a deeply nested JSON string in a form was a RecursionError.
def test_edit_form_deeply_nested_changes_string_is_400(owner, owner_client):
    t = ThumbnailFactory(owner=owner, stored=True)
    owner_client.raise_request_exception = False
    r = owner_client.post(
        "/studio/tools/edit_thumbnail",
        {"thumbnail_id": str(t.pk), "changes": "[" * 50_000 + "]" * 50_000},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 400
    assert "nested deeper" in r.content.decode()


# A tool on a thumbnail whose stored file is gone (a delete's file removal won the race) was a
# FileNotFoundError: now what `GET /api/thumbnails/<id>/download` answers, a 404.
@pytest.mark.parametrize(
    ("job_type", "make_input"),
    [
        ("thumbnail_check", lambda t: {"thumbnail_id": t.pk}),
        ("analyse_palette", lambda t: {"thumbnail_id": t.pk}),
        ("analyse_style", lambda t: {"thumbnail_ids": [t.pk]}),
        (
            "edit_thumbnail",
            lambda t: {"thumbnail_id": t.pk, "reference_image_ids": [t.pk], "instruction": "x"},
        ),
    ],
)
def test_a_tool_on_a_thumbnail_whose_file_is_gone_is_a_json_404(
    owner, owner_client, job_type, make_input
):
    set_plan(owner, "pro")
    t = ThumbnailFactory(owner=owner)  # row with placeholder file names: files gone
    before = get_balance(owner)
    owner_client.raise_request_exception = False
    r = owner_client.post_json("/api/jobs", {"type": job_type, "input": make_input(t)})
    assert r.status_code == 404, r.content
    assert r.json()["code"] == "not_found"
    assert get_balance(owner) == before


# A malformed HX-Current-URL header was a ValueError from urlsplit.
def test_job_card_with_a_malformed_hx_current_url_is_not_a_500(owner_client, submit):
    job = submit(owner_client, {"title": "x"}).json()
    owner_client.raise_request_exception = False
    r = owner_client.get(
        f"/studio/jobs/{job['id']}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://[oops/studio/",
    )
    assert r.status_code == 200


# A NUL in the studio's address (HX-Current-URL's q, which the input guard does not read)
# reached PostgreSQL from the job card's gallery filter: a 500 on every poll of the card.
@pytest.mark.parametrize("query", ["q=%00", "favorites=true&q=a%00b"])
def test_job_card_with_a_nul_in_the_studios_address_is_not_a_500(owner, owner_client, query):
    # Finished with a thumbnail: the card filters it as the studio's gallery would.
    job: Any = JobFactory(
        user=owner, title="Nul in the address", status="succeeded", thumbnails=True
    )
    r = owner_client.get(
        f"/studio/jobs/{job.pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/studio/?{query}",
    )
    assert r.status_code == 200
    assert "Nul in the address" in r.content.decode()


# Another creator's project answered 200 and an empty page when any well-formed cursor came along.
def test_strangers_project_thumbnails_with_a_cursor_is_404(owner, other, other_client):
    mine = Project.objects.create(owner=other, name="mine")
    for _ in range(3):
        ThumbnailFactory(owner=other, project=mine)
    cursor = other_client.get(f"/api/projects/{mine.pk}/thumbnails?limit=1").json()["next_cursor"]
    theirs = Project.objects.create(owner=owner, name="secret")
    ThumbnailFactory(owner=owner, project=theirs)
    assert other_client.get(f"/api/projects/{theirs.pk}/thumbnails").status_code == 404
    r = other_client.get(f"/api/projects/{theirs.pk}/thumbnails?limit=1&cursor={cursor}")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


# The admin deleted a queued job with its debit and no refund: an unfinished job cannot be
# deleted until cancelled, which the admin's "Cancel selected jobs" action does, refunding.
def test_the_admin_deletes_a_job_only_once_it_is_cancelled_and_refunded(
    owner, owner_client, staff, submit
):
    before = get_balance(owner)
    job = submit(owner_client, {"title": "x"}).json()
    assert job["status"] == "queued"
    assert get_balance(owner) == before - 1
    admin = Client()
    admin.force_login(staff)
    admin.raise_request_exception = False
    change_page = admin.get(f"/admin/generation/job/{job['id']}/change/").content.decode()
    assert f"/admin/generation/job/{job['id']}/delete/" not in change_page
    delete = {"action": "delete_selected", "_selected_action": [job["id"]], "post": "yes"}
    assert admin.post("/admin/generation/job/", delete).status_code == 403
    assert (
        admin.post(f"/admin/generation/job/{job['id']}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Job.objects.filter(pk=job["id"], status="queued").exists()

    response = admin.post(
        "/admin/generation/job/",
        {"action": "cancel_jobs", "_selected_action": [job["id"]]},
        follow=True,
    )
    assert "Cancelled 1 job." in response.content.decode()
    assert Job.objects.get(pk=job["id"]).status == "cancelled"
    # Again, now that it is finished: nothing happens, and the admin says so as a warning
    # (it said "Cancelled 0 job(s)." as a success).
    again = admin.post(
        "/admin/generation/job/",
        {"action": "cancel_jobs", "_selected_action": [job["id"]]},
        follow=True,
    )
    [message] = list(again.context["messages"])
    assert message.level_tag == "warning"
    assert str(message) == (
        "Nothing was cancelled: 1 job had already finished, so it was left as it was."
    )
    assert get_balance(owner) == before
    assert admin.post("/admin/generation/job/", delete).status_code == 302
    assert not Job.objects.filter(pk=job["id"]).exists()
    assert get_balance(owner) == before


# OPTIONS on the API docs was a 500 (the docs' HTML renderer has no template for DRF's metadata).
@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
def test_the_api_docs_answer_get_and_head_and_refuse_other_methods(anon_client, path):
    anon_client.raise_request_exception = False
    assert anon_client.get(path).status_code == 200
    assert anon_client.head(path).status_code == 200
    for method in ("options", "post", "put", "delete"):
        refused = getattr(anon_client, method)(path)
        assert refused.status_code == 405, method
        assert refused.json()["code"] == "method_not_allowed", method  # the API's error shape
        assert refused["Allow"] == "GET, HEAD"


def test_a_page_that_is_not_there_is_the_studios_404_page(owner, other_client, anon_client):
    """A stranger's thumbnail page, a share link no longer shared and a mistyped address are
    the site's own 404 page (a way back, the header), not Django's bare "Not Found"; the API's
    404 stays JSON."""
    thumbnail = ThumbnailFactory(owner=owner)
    for client, path in (
        (other_client, f"/studio/thumbnails/{thumbnail.pk}"),
        (anon_client, "/share/not-a-token/"),
        (anon_client, "/no-such-page/"),
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        page = response.content.decode()
        assert "This page isn't here" in page and 'class="topbar"' in page, path
    assert 'href="/studio/"' in other_client.get("/no-such-page/").content.decode()
    api = other_client.get(f"/api/thumbnails/{thumbnail.pk}")
    assert (api.status_code, api.json()["code"]) == (404, "not_found")


def test_the_account_page_is_linked_and_offers_only_actions_that_apply(owner, owner_client):
    """The header links the account page (email addresses, password). With one address, already
    primary, allauth's page offered "Make Primary" and "Remove" for it."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    studio = owner_client.get("/studio/").content.decode()
    assert 'href="/accounts/email/"' in studio
    page = owner_client.get("/accounts/email/").content.decode()
    assert owner.email in page and 'href="/accounts/password/change/"' in page
    for action in ("action_primary", "action_remove", "action_send"):
        assert f'name="{action}"' not in page, action
    EmailAddress.objects.create(user=owner, email="second@example.com", verified=False)
    page = owner_client.get("/accounts/email/").content.decode()
    for action in ("action_primary", "action_remove", "action_send"):
        assert f'name="{action}"' in page, action


def test_the_account_page_says_who_is_signed_in_on_which_plan(owner, owner_client):
    """The header's "Account" opened allauth's "Email Addresses" and nothing else (creator
    walkthrough): the page is the account's, with the address, effective plan, balance and
    the date the account was made, then the addresses."""
    import re

    from django.utils.timezone import localtime

    from billing.services import get_balance
    from tests.conftest import set_plan

    set_plan(owner, "starter")
    page = owner_client.get("/accounts/email/").content.decode()
    assert re.search(r"<h1[^>]*>\s*Account\s*</h1>", page), page[:3000]
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split('class="account-summary"')[1]))
    joined = localtime(owner.date_joined).strftime("%-d %B %Y")
    for told in (owner.email, "Plan Starter", f"Credits {get_balance(owner)} ", joined):
        assert told in summary, (told, summary[:300])
    set_plan(owner, "pro", status="past_due")  # paid features paused: Free's limits apply
    page = owner_client.get("/accounts/email/").content.decode()
    assert "Plan Free" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_a_past_due_banner_without_stripe_says_who_can_help(owner, owner_client, settings):
    """A payment due (set from the admin) on a studio without Stripe: the banner's "Update
    payment method" led to the plans page and "There is no billing account to manage yet"."""
    settings.STRIPE_SECRET_KEY = ""
    set_plan(owner, "advanced", status="past_due")
    assert "Update payment method" not in owner_client.get("/studio/").content.decode()
    settings.STRIPE_SECRET_KEY = "sk_test_configured"  # Stripe on, but no Stripe customer
    studio = owner_client.get("/studio/").content.decode()
    assert "Your last payment for the <strong>Advanced</strong> plan failed" in studio
    assert "Update payment method" not in studio
    assert "ask the studio's team" in studio


def test_a_server_error_outside_the_api_is_the_sites_500_page(owner, monkeypatch):
    """Django renders templates/500.html with no request and no context: it must stand alone."""
    from studio import views

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "load_studio", broken)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get("/studio/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_a_stale_form_is_the_studios_403_page_not_djangos(owner, anon_client):
    """The sign-in form left open while signing in in another tab (its CSRF token rotated)
    posted to Django's bare "403 Forbidden / CSRF verification failed" page (walkthrough
    2026-12-04): it is the site's page saying the page is out of date, with a way back; under
    /api/ the JSON error shape."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/accounts/login/")  # the CSRF cookie is set; the form's token is then missing
    response = client.post("/accounts/login/", {"login": owner.email, "password": "x"})
    page = response.content.decode()
    assert response.status_code == 403
    assert "This page is out of date" in page and 'class="topbar"' in page
    assert "CSRF verification failed" not in page
    from django.test import RequestFactory

    from core.api import csrf_failure

    api = csrf_failure(RequestFactory().post("/api/jobs"))
    assert (api.status_code, api.content) == (
        403,
        b'{"error": "The page is out of date; reload it and try again.", "code": "csrf_failed"}',
    )


def test_a_permission_denied_is_the_studios_403_page_and_json_under_the_api(owner):
    """handler403 was Django's default, a bare "403 Forbidden" page."""
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.test import RequestFactory
    from django.urls import get_resolver

    handler = get_resolver().resolve_error_handler(403)
    request = RequestFactory().get("/admin/billing/creditaccount/1/adjust/")
    request.user = AnonymousUser()
    page = handler(request, exception=PermissionDenied())
    assert page.status_code == 403
    assert "You can't open this page" in page.content.decode()
    assert 'class="topbar"' in page.content.decode()
    api = handler(RequestFactory().get("/api/me"), exception=PermissionDenied())
    assert (api.status_code, json.loads(api.content)["code"]) == (403, "permission_denied")


def test_a_password_reset_ends_with_a_way_to_sign_in(anon_client):
    """allauth's last page of a password reset said "Your password is now changed." with no way
    on but the header's small "Sign in" (walkthrough 2026-12-04)."""
    page = anon_client.get("/accounts/password/reset/key/done/").content.decode()
    assert "<h1>Password changed</h1>" in page
    assert '<a class="button" href="/accounts/login/">Sign in with your new password</a>' in page


def test_the_plans_page_offers_a_visitor_a_way_in(owner_client, anon_client, settings):
    """Signed out, with no payments set up, the plans page told a visitor "Ask the studio's
    team: they can change your plan" (a visitor has no plan) and its cards had no button at all
    (walkthrough 2026-12-04): the Free card signs up, and the note says where accounts start."""
    settings.STRIPE_SECRET_KEY = ""
    button = '<a class="button" href="/accounts/signup/">Sign up free</a>'
    page = anon_client.get("/plans/").content.decode()
    free_card = page.split('data-plan="free"')[1].split("</li>\n    \n")[0].split("<li class")[0]
    assert button in free_card
    assert page.split('class="pricing"')[1].count(button) == 1  # the header has its own
    assert "they can change your plan" not in page
    assert "Every account starts on Free" in page
    signed_in = owner_client.get("/plans/").content.decode()
    assert button not in signed_in.split('class="pricing"')[1]
    assert "they can change your plan" in signed_in


def test_a_forms_address_opened_after_signing_in_is_a_page_not_a_blank_one(
    owner, owner_client, anon_client
):
    """A library form sent after the session had ended went to sign-in with the form's address
    as `next`; signing in opened it with GET, and require_POST's 405 was a blank white page
    (walkthrough 2026-12-04). It is now the site's page saying nothing was changed, with a way
    back; the 405 and its Allow header stay, and the API keeps its JSON."""
    project = Project.objects.create(owner=owner, name="Vlogs")
    address = f"/studio/projects/{project.pk}"
    sent = anon_client.post(address, {"name": "Renamed"})
    assert sent.status_code == 302 and sent["Location"] == f"/accounts/login/?next={address}"
    for path in (address, "/billing/portal", "/plans/checkout/starter"):
        page = owner_client.get(path)
        assert page.status_code == 405 and page["Allow"] == "POST"
        html = page.content.decode()
        assert "<h1>Nothing was changed</h1>" in html and 'class="topbar"' in html
        assert '<a class="button" href="/studio/">Back to your studio</a>' in html
    project.refresh_from_db()
    assert project.name == "Vlogs"
    assert owner_client.head(address).status_code == 405
    api = owner_client.get("/api/thumbnails/move")
    assert api.status_code == 405 and api["Content-Type"] == "application/json"


def test_only_staff_who_may_change_jobs_cancel_them(owner, owner_client, submit):
    """A staff user who may only view jobs could run "Cancel selected jobs", refunding a
    creator's job (third walkthrough): cancelling takes the permission to change jobs."""
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    job = submit(owner_client, {"title": "x"}).json()
    viewer = make_user("job-viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(viewer)
    listing = client.get("/admin/generation/job/").content.decode()
    assert "cancel_jobs" not in listing
    client.post(
        "/admin/generation/job/", {"action": "cancel_jobs", "_selected_action": [job["id"]]}
    )
    assert Job.objects.get(pk=job["id"]).status == "queued"

    operator = make_user("job-operator@example.com", is_staff=True)
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_job", "change_job"])
    )
    client.force_login(operator)
    assert "cancel_jobs" in client.get("/admin/generation/job/").content.decode()


def test_a_jobs_admin_page_has_no_save_buttons(owner, owner_client, staff, submit):
    """A job's admin page had "Save" and "Save and continue editing" under fields that are all
    read-only: pressing them changed nothing (third walkthrough). A finished job keeps its
    Delete."""
    job = submit(owner_client, {"title": "x"}).json()
    Job.objects.filter(pk=job["id"]).update(status="failed")
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/generation/job/{job['id']}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert f"/admin/generation/job/{job['id']}/delete/" in page


def test_a_jobs_admin_page_links_what_it_made_and_charged(owner, staff):
    """Ops on a job's page reach its thumbnails and its credit ledger lines (third walkthrough:
    the page named neither); a viewer who may not open those lists gets the counts alone."""
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    made: Any = JobFactory(
        user=owner, title="Made", status="succeeded", charged=True, thumbnails=True
    )
    job = {"id": str(made.pk)}
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/generation/job/{job['id']}/change/").content.decode()
    thumbnails = f"/admin/studio/thumbnail/?job__id__exact={job['id']}"
    ledger = f"/admin/billing/creditledgerentry/?q=job:{job['id']}"
    assert f'<a href="{thumbnails}">1 thumbnail</a>' in page
    assert f'<a href="{ledger}">1 ledger line</a>' in page
    listed = client.get(thumbnails)
    assert listed.status_code == 200 and "Made" in listed.content.decode()
    listed = client.get(ledger).content.decode()
    assert "1 result" in listed  # the job's debit line, found by its reference

    viewer = make_user("job-viewer-2@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(viewer)
    page = client.get(f"/admin/generation/job/{job['id']}/change/").content.decode()
    assert "1 thumbnail · 1 ledger line" in page and thumbnails not in page


def test_sign_in_says_the_session_ended_only_when_it_did(owner):
    """Sent to sign-in after the session had ended, the creator read the plain sign-in page with
    no word of why they were there (walkthrough 2026-12-04). Sent there from a page while the
    browser still has the signed-in marker, it says "Your session ended; sign in to continue.";
    a plain visit and a visit after signing out do not."""
    from tests.factories.accounts import PASSWORD

    said = "Your session ended; sign in to continue."
    client = Client()
    assert said not in client.get("/studio/library/", follow=True).content.decode()
    signed_in = client.post("/accounts/login/", {"login": owner.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and client.cookies["signed_in"].value == "1"
    del client.cookies["sessionid"]  # the session ends: expired, or ended elsewhere
    page = client.get("/studio/library/", follow=True)
    assert page.redirect_chain == [("/accounts/login/?next=/studio/library/", 302)]
    assert said in page.content.decode()
    assert said not in client.get("/accounts/login/").content.decode()  # a plain visit
    client.post("/accounts/login/", {"login": owner.email, "password": PASSWORD})
    client.post("/accounts/logout/")
    assert client.cookies["signed_in"].value == ""  # deleted
    assert said not in client.get("/studio/library/", follow=True).content.decode()
