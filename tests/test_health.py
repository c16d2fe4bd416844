from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz(anon_client) -> None:
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_signup_creates_free_account_with_credits(anon_client) -> None:
    response = anon_client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == "/studio/"
    me = anon_client.get("/api/me").json()
    assert (me["email"], me["plan"], me["credits_remaining"]) == ("new@example.com", "free", 10)
    # Shown by the email (the admin's lists), not allauth's "new".
    from django.contrib.auth import get_user_model

    assert str(get_user_model().objects.get(email="new@example.com")) == "new@example.com"
    anon_client.post("/accounts/logout/")
    signed_in = anon_client.post(
        "/accounts/login/",
        {"login": "new@example.com", "password": "a-Strong-pass-123"},
        follow=True,
    )
    assert signed_in.redirect_chain[-1][0] == "/studio/"


def test_studio_page_renders_for_creator(owner_client) -> None:
    response = owner_client.get("/studio/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="feed"' in html
    assert "Cinematic" in html and "Sunset Pop" in html
    assert 'value="1:1" disabled' in html  # Free plan: 16:9 only


def test_studio_requires_login(anon_client) -> None:
    response = anon_client.get("/studio/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_architecture_layers_hold() -> None:
    """viewbait -> studio -> generation -> billing -> core: import-linter's layers contract from
    pyproject.toml (no cycle between billing and the project package)."""
    import subprocess
    import sys
    from pathlib import Path

    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
    assert "viewbait -> studio -> generation -> billing -> core KEPT" in result.stdout


def test_the_landing_page_shows_a_real_render_and_says_who_draws_it(anon_client, settings) -> None:
    """Offline the studio draws with its own renderer: the page does not promise Gemini."""
    from django.contrib.staticfiles import finders

    settings.IMAGE_PROVIDER = "local"
    page = anon_client.get("/").content.decode()
    assert "drawn here by ViewBait's own offline" in page
    assert "from Google Gemini image models." not in page
    assert 'src="/static/img/hero.webp' in page and finders.find("img/hero.webp")
    settings.IMAGE_PROVIDER = "gemini"  # what a GEMINI_API_KEY selects
    assert "from\n    Google Gemini image models." in anon_client.get("/").content.decode()


def test_a_sign_up_says_once_who_signed_up(anon_client) -> None:
    """A sign-up lands on the studio with one message, the confirmation email's: allauth's
    "Successfully signed in as ..." beside it named the same address a second time, and the
    two toasts covered the gallery's filters at 1440 px and the text field on a phone (creator
    walkthrough). A log-in says nothing either (test_a_sign_in_lands_with_no_toast_over_the_studio)."""
    response = anon_client.post(
        "/accounts/signup/",
        {
            "email": "once@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/studio/"
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Confirmation email sent to once@example.com."], shown


def test_a_changed_email_is_the_new_username(anon_client) -> None:
    from allauth.account.models import EmailAddress
    from allauth.account.signals import email_changed
    from django.contrib.auth import get_user_model

    anon_client.post(
        "/accounts/signup/",
        {
            "email": "old@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
    )
    user = get_user_model().objects.get(email="old@example.com")
    old = EmailAddress.objects.get(user=user)
    new = EmailAddress.objects.create(user=user, email="new@example.com", primary=False)
    email_changed.send(
        sender=EmailAddress, request=None, user=user, from_email_address=old, to_email_address=new
    )
    assert get_user_model().objects.get(pk=user.pk).username == "new@example.com"


def test_account_emails_are_signed_viewbait(anon_client, mailoutbox) -> None:
    """Without django.contrib.sites allauth named the site after the request's host: the
    sign-up email said "[127.0.0.1:8000] Please Confirm Your Email Address" and "Hello from
    127.0.0.1:8000!"."""
    response = anon_client.post(
        "/accounts/signup/",
        {
            "email": "welcome@example.com",
            "password1": "a-Strong-pass-123",
            "password2": "a-Strong-pass-123",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    [mail] = mailoutbox
    assert mail.subject.startswith("[ViewBait] ")
    assert "Hello from ViewBait!" in mail.body
    assert "Thank you for using ViewBait!\ntestserver" in mail.body


def test_healthz_answers_a_probe_addressed_to_the_target_itself(anon_client, settings) -> None:
    """Load balancers and Kubernetes probes send the target's address as Host, which is not in
    ALLOWED_HOSTS: /healthz answers them (Django's host check made it a 400 and the balancer took
    a healthy process out); every other path still refuses that Host."""
    settings.ALLOWED_HOSTS = ["studio.example.com"]
    probe = anon_client.get("/healthz", HTTP_HOST="10.0.3.7:8000")
    assert probe.status_code == 200 and probe.json()["status"] == "ok"
    assert anon_client.get("/healthz?live=1", HTTP_HOST="10.0.3.7:8000").json() == {"status": "ok"}
    assert anon_client.get("/", HTTP_HOST="10.0.3.7:8000").status_code == 400
    assert anon_client.get("/healthz", HTTP_HOST="studio.example.com").status_code == 200


def test_a_required_dependency_healthz_does_not_probe_stops_the_checks(settings) -> None:
    """HEALTHZ_REQUIRED=db (a typo of `database`) required nothing: /healthz stayed 200 with the
    database down. It is now a system check error (viewbait.E001)."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.HEALTHZ_REQUIRED = ["db", "redis"]
    with pytest.raises(SystemCheckError, match=r"viewbait\.E001.*HEALTHZ_REQUIRED names db"):
        call_command("check")
    settings.HEALTHZ_REQUIRED = ["database", "redis", "broker"]
    call_command("check")


def test_healthz_answers_head_as_monitors_send_it(anon_client) -> None:
    """Uptime monitors and some load balancers probe with HEAD: it was a 405 (require_GET), so
    they saw a healthy process as down. Status only, from the same probes."""
    assert anon_client.head("/healthz").status_code == 200
    assert anon_client.head("/healthz?live=1").status_code == 200
    assert anon_client.post("/healthz").status_code == 405


def test_healthz_says_when_no_worker_has_been_seen(anon_client, settings) -> None:
    """With every worker stopped, jobs only queued up and /healthz said nothing. Each worker's
    sweeper now beats every interval; `worker` is down past three intervals without a beat,
    and not required by default, so the answer stays 200."""
    import time

    from django.core.cache import cache

    from generation.sweeper import WORKER_SEEN_KEY, beat

    settings.JOBS_RUN_INLINE = False  # a broker and separate worker processes
    cache.delete(WORKER_SEEN_KEY)
    never = anon_client.get("/healthz")
    assert never.status_code == 200
    assert never.json()["worker"] == {
        "status": "down",
        "error": "WorkerNotSeen",
        "latency_ms": never.json()["worker"]["latency_ms"],
        "required": False,
    }
    beat()
    alive = anon_client.get("/healthz").json()["worker"]
    assert alive["status"] == "ok" and 0 <= alive["last_seen_seconds"] < 5
    cache.set(WORKER_SEEN_KEY, time.time() - 3 * settings.JOB_SWEEP_INTERVAL_SECONDS - 6)
    assert anon_client.get("/healthz").json()["worker"]["status"] == "down"
    settings.HEALTHZ_REQUIRED = ["database", "worker"]
    assert anon_client.get("/healthz").status_code == 503
