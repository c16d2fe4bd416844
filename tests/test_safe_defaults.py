"""Safe defaults (issue 12, item 3): production settings unless LOCAL_DEV=1 says otherwise.

Start-up is refused on the repository's SECRET_KEY with DEBUG off; `manage.py check --deploy` is
clean with the README's production environment; the web process (as the Procfile starts it)
running production settings redirects http to https and sends HSTS, CSP, Permissions-Policy and Secure cookies; seed_demo creates its
known-password accounts only in a local run's embedded database unless asked; the admin's log-in
shares the site log-in's per-IP limit.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.checks import Tags, run_checks
from django.core.management import CommandError, call_command
from django.core.management.utils import get_random_secret_key

from studio.models import Thumbnail
from tests.conftest import make_user
from tests.factories.accounts import PASSWORD
from tests.servers import ROOT, WebServer, database_url, running_web_server
from viewbait.settings import REPOSITORY_SECRET_KEY

README = ROOT / "README.md"
REFUSAL = "SECRET_KEY is the repository's default"
# What the environment of a test process may carry that would change the mode under test.
MODE_VARIABLES = (
    "LOCAL_DEV",
    "SECRET_KEY",
    "DEBUG",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "ALLOWED_HOSTS",
    "EMAIL_BACKEND",
    "SITE_URL",
    "STRIPE_SECRET_KEY",
)


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Our environment without any mode variable, on viewbait.settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="viewbait.settings",
        VIEWBAIT_VAR_DIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def settings_of(names: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A process that reads the settings module under `env` and prints `names` (comma-separated
    attributes of django.conf.settings), space-separated: the values every process starts with,
    read without django.setup() (the apps' imports, 0.4 CPU s a process, add nothing to them)."""
    shown = ", ".join(f"s.{name.strip()}" for name in names.split(","))
    return run(["-c", f"from django.conf import settings as s; print({shown})"], env)


# --- start-up ----------------------------------------------------------------------------------


def test_repository_key_is_refused_at_start_with_debug_off(tmp_path: Path) -> None:
    asgi = ["-c", "import viewbait.asgi"]  # what the web process loads
    manage = ["manage.py", "check"]
    for argv, env in (
        (asgi, production_env(tmp_path)),
        (manage, production_env(tmp_path, SECRET_KEY=REPOSITORY_SECRET_KEY)),
    ):
        refused = run(argv, env)
        assert refused.returncode != 0
        assert REFUSAL in refused.stderr
    # ... and a command says so in one line, without a traceback through Django's start-up
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.startswith("Error: SECRET_KEY is the repository's default")
    # A key of one's own passes: `manage.py check --deploy` exits 0 with it in
    # test_check_deploy_is_clean_with_the_readme_production_settings, and the web application
    # loads with it in tests/test_startup_checks.py::test_a_warning_is_logged_and_the_web_process_starts.
    debug = run(asgi, production_env(tmp_path, DEBUG="1"))  # a developer's DEBUG run
    assert debug.returncode == 0, debug.stderr


def test_local_dev_keeps_a_random_key_of_its_own_in_var(tmp_path: Path) -> None:
    env = production_env(tmp_path, LOCAL_DEV="1")
    first, second = settings_of("SECRET_KEY", env), settings_of("SECRET_KEY", env)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key == second.stdout.strip()  # kept: sessions survive a restart
    assert key != REPOSITORY_SECRET_KEY and len(key) >= 50
    path = tmp_path / "secret_key"
    assert path.read_text() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- check --deploy ------------------------------------------------------------------------------


def readme_production_env() -> dict[str, str]:
    """The KEY=value lines of the README's "Production settings" sh block."""
    section = README.read_text().split("## Production settings", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "README: no sh block under Production settings"
    pairs = [line.split("=", 1) for line in block.group(1).splitlines() if "=" in line]
    return {name.strip(): value.strip() for name, value in pairs}


def test_check_deploy_is_clean_with_the_readme_production_settings(tmp_path: Path) -> None:
    documented = readme_production_env()
    assert documented["SECRET_KEY"].startswith("<")  # a placeholder, filled in here
    documented["SECRET_KEY"] = get_random_secret_key()
    checked = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(tmp_path, **documented),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_the_redis_check_follows_the_mode_and_the_broker(settings: Any) -> None:
    from django.core.management.base import SystemCheckError

    settings.SILENCED_SYSTEM_CHECKS = []  # tests/settings.py silences it without REDIS_URL
    settings.LOCAL_DEV = settings.DEBUG = False
    settings.REDIS_URL = settings.DRAMATIQ_BROKER_URL = ""
    with pytest.raises(SystemCheckError, match=r"viewbait\.E004.*jobs run inside the web"):
        call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())
    # A RabbitMQ queue keeps the jobs off the web process; the rest is still per process.
    settings.DRAMATIQ_BROKER_URL = "amqp://guest:guest@rabbit.internal:5672/viewbait"
    with pytest.raises(SystemCheckError, match=r"viewbait\.E004") as refused:
        call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())
    assert "jobs run inside" not in str(refused.value)
    call_command("check", stdout=io.StringIO())  # deploy only: a plain check stays quiet
    settings.DRAMATIQ_BROKER_URL = ""
    for mode in ("LOCAL_DEV", "DEBUG"):  # a run on this machine, a developer's DEBUG run
        setattr(settings, mode, True)
        assert [
            m for m in run_checks(include_deployment_checks=True) if m.id == "viewbait.E004"
        ] == []
        setattr(settings, mode, False)
    settings.REDIS_URL = "redis://redis.internal:6379/0"
    assert [m for m in run_checks(include_deployment_checks=True) if m.id == "viewbait.E004"] == []


STRIPE = {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}


@pytest.fixture(scope="module")
def deploy_check_without_redis_mail_and_site_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy` with the README's production environment less its REDIS_URL,
    its EMAIL_BACKEND and its SITE_URL, and Stripe on: one process start (about a CPU-second)
    whose output the tests of the error and the two warnings it must give each read (each is
    its own check: one setting missing does not hide or cause another's message)."""
    documented = readme_production_env()
    documented["SECRET_KEY"] = get_random_secret_key()
    del documented["REDIS_URL"]
    assert documented.pop("EMAIL_BACKEND") == "django.core.mail.backends.smtp.EmailBackend"
    del documented["SITE_URL"]
    env = production_env(tmp_path_factory.mktemp("deploy-check"), **documented, **STRIPE)
    for inherited in ("REDIS_URL", "DRAMATIQ_BROKER_URL"):
        env.pop(inherited, None)
    return run(["manage.py", "check", "--deploy"], env)


def test_check_deploy_stops_production_without_redis(
    deploy_check_without_redis_mail_and_site_url: subprocess.CompletedProcess[str],
) -> None:
    """The README's production settings less REDIS_URL passed `check --deploy`; every process
    then kept its caches, rate limits and websocket groups in its own memory, jobs ran in the
    web process and the Procfile's worker waited on a stub broker. Now viewbait.E004 (the
    only error here: the two warnings alone would exit 0)."""
    checked = deploy_check_without_redis_mail_and_site_url
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "(viewbait.E004) REDIS_URL is not set" in checked.stderr, checked.stderr
    assert "jobs run inside the web process" in checked.stderr
    assert re.findall(r"\(([\w.]+\.E\d+)\)", checked.stderr) == ["viewbait.E004"]


def test_check_deploy_warns_while_mail_goes_to_the_console(
    tmp_path: Path,
    deploy_check_without_redis_mail_and_site_url: subprocess.CompletedProcess[str],
) -> None:
    """The default EMAIL_BACKEND (console) writes password-reset links to the log: without the
    README's mail lines, `check --deploy` says so; the SMTP settings it names are read."""
    checked = deploy_check_without_redis_mail_and_site_url
    assert "viewbait.W001" in checked.stderr, checked.stdout + checked.stderr
    assert "EMAIL_BACKEND is the console backend" in checked.stderr
    documented = readme_production_env()
    documented["SECRET_KEY"] = get_random_secret_key()
    del documented["EMAIL_BACKEND"]
    shown = settings_of(
        "EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_TIMEOUT",
        production_env(tmp_path, **documented, EMAIL_HOST_USER="u", EMAIL_HOST_PASSWORD="p"),
    )
    assert shown.stdout.split()[-6:] == ["smtp.example.com", "587", "True", "u", "p", "10.0"]


def test_mail_with_both_tls_settings_on_stops_the_checks(settings: Any) -> None:
    """EMAIL_USE_TLS=1 with EMAIL_USE_SSL=1 passed every check; Django's SMTP backend refused
    it at the first mail, so every sign-up was a 500. Now viewbait.E003."""
    from django.core.mail import get_connection
    from django.core.management.base import SystemCheckError

    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = True
    with pytest.raises(ValueError, match="mutually exclusive"):  # what a sign-up met
        get_connection("django.core.mail.backends.smtp.EmailBackend")
    with pytest.raises(SystemCheckError, match=r"viewbait\.E003"):
        call_command("check")
    settings.EMAIL_USE_SSL = False
    call_command("check")


def test_check_deploy_warns_when_stripe_would_send_payers_to_the_default_site_url(
    settings: Any,
    deploy_check_without_redis_mail_and_site_url: subprocess.CompletedProcess[str],
) -> None:
    """With Stripe on and SITE_URL left at its default (http://127.0.0.1:8000), Checkout sent a
    creator who had just paid to their own machine; `check --deploy` now says so. The other
    SITE_URLs are checked in this process, with the production settings the check reads."""
    checked = deploy_check_without_redis_mail_and_site_url
    assert "viewbait.W002" in checked.stderr and "http://127.0.0.1:8000" in checked.stderr

    documented = readme_production_env()
    settings.LOCAL_DEV = False
    settings.STRIPE_SECRET_KEY = STRIPE["STRIPE_SECRET_KEY"]
    settings.ALLOWED_HOSTS = documented["ALLOWED_HOSTS"].split(",")
    settings.EMAIL_BACKEND = documented["EMAIL_BACKEND"]  # no viewbait.W001 here

    def deploy_warnings(site_url: str) -> list[str]:
        settings.SITE_URL = site_url
        messages = run_checks(include_deployment_checks=True, tags=[Tags.security])
        return [f"{m.id} {m.msg}" for m in messages if (m.id or "").startswith("viewbait.W00")]

    assert deploy_warnings("https://studio.example.com") == []
    # A host ALLOWED_HOSTS refuses: Stripe's webhooks and the way back from Checkout get 400.
    (warning,) = deploy_warnings("https://pay.example.com")
    assert warning.startswith("viewbait.W003") and "pay.example.com" in warning
    # As the process found with these settings (its mail on the console aside: W001).
    assert [w.split()[0] for w in deploy_warnings("http://127.0.0.1:8000")] == ["viewbait.W002"]


def test_a_flag_that_is_neither_on_nor_off_stops_the_start(tmp_path: Path) -> None:
    """SECURE_SSL_REDIRECT=y was read as off: a typo in a flag silently turned a production
    safeguard off. Such a value now stops every process, naming the variable."""
    key = get_random_secret_key()
    refused = run(
        ["manage.py", "check"], production_env(tmp_path, SECRET_KEY=key, SECURE_SSL_REDIRECT="y")
    )
    assert refused.returncode != 0
    assert "SECURE_SSL_REDIRECT='y': use 1/true/yes/on or 0/false/no/off" in refused.stderr
    shown = settings_of(
        "SECURE_SSL_REDIRECT, SESSION_COOKIE_SECURE",
        production_env(
            tmp_path, SECRET_KEY=key, SECURE_SSL_REDIRECT="Off", SESSION_COOKIE_SECURE=" "
        ),
    )
    assert shown.stdout.split()[-2:] == ["False", "True"], shown.stderr


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        ("JOB_LEASE_SECONDS", "abc", "JOB_LEASE_SECONDS='abc': use a whole number of at least 1"),
        ("REDIS_TIMEOUT_SECONDS", "x", "REDIS_TIMEOUT_SECONDS='x': use a number above 0"),
        (
            "LOG_LEVEL",
            "verbose",
            "LOG_LEVEL='verbose': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)",
        ),
        # A typo silently meant the offline renderer, with a key in the environment.
        ("IMAGE_PROVIDER", "gemni", "IMAGE_PROVIDER='gemni': use one of gemini, local"),
    ],
)
def test_a_bad_number_or_log_level_stops_the_start_naming_the_variable(
    tmp_path: Path, variable: str, value: str, refusal: str
) -> None:
    """JOB_LEASE_SECONDS=abc, REDIS_TIMEOUT_SECONDS=x and LOG_LEVEL=verbose each stopped every
    process with a bare traceback (int()'s, float()'s, logging's ValueError); now a one-line
    refusal naming the variable and what it accepts, as a bad flag gets."""
    refused = run(
        ["manage.py", "check"],
        production_env(tmp_path, SECRET_KEY=get_random_secret_key(), **{variable: value}),
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"Error: {refusal}", refused.stderr
    assert "Traceback" not in refused.stderr


def test_numbers_are_read_within_their_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from viewbait.settings import env_float, env_int, env_log_level

    for value, read in (("", 7), (" 12 ", 12), ("0", 0)):
        monkeypatch.setenv("VB_N", value)
        assert env_int("VB_N", 7, minimum=0) == read
    for value, refusal in (
        ("-1", "'-1': use a whole number of at least 0"),
        ("1.5", "'1.5': use a whole number of at least 0"),
        ("70000", "'70000': use a whole number from 1 to 65535"),
    ):
        monkeypatch.setenv("VB_N", value)
        bounds = {"minimum": 1, "maximum": 65535} if value == "70000" else {"minimum": 0}
        with pytest.raises(ImproperlyConfigured, match=re.escape(f"VB_N={refusal}")):
            env_int("VB_N", 7, **bounds)
    monkeypatch.setenv("VB_F", "0.25")
    assert env_float("VB_F", 1.0, above=0) == 0.25
    for value in ("0", "-2", "nan", "inf", "1e999", "soon"):
        monkeypatch.setenv("VB_F", value)
        with pytest.raises(ImproperlyConfigured, match=r"VB_F=.*: use a number above 0$"):
            env_float("VB_F", 1.0, above=0)
    monkeypatch.setenv("VB_F", "-0.5")
    with pytest.raises(ImproperlyConfigured, match=r"use a number of at least 0$"):
        env_float("VB_F", 1.0, minimum=0)
    monkeypatch.setenv("VB_L", " warning ")  # gunicorn's WEB_LOG_LEVEL is lower-case
    assert env_log_level("VB_L") == "WARNING"
    monkeypatch.delenv("VB_L")
    assert env_log_level("VB_L") == "INFO"


def test_a_lower_case_log_level_is_taken(tmp_path: Path) -> None:
    """LOG_LEVEL=warning (as WEB_LOG_LEVEL is written) stopped every process at start with
    "Unable to configure root logger"."""
    env = production_env(tmp_path, SECRET_KEY=get_random_secret_key(), LOG_LEVEL="warning")
    # What django.setup() does first in every process (django.utils.log.configure_logging).
    configure = (
        "import logging; from django.conf import settings as s; "
        "from django.utils.log import configure_logging; "
        "configure_logging(s.LOGGING_CONFIG, s.LOGGING); print(logging.getLogger().level)"
    )
    shown = run(["-c", configure], env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[-1] == str(logging.WARNING)


# --- headers of a production server ---------------------------------------------------------------


def request(
    server: WebServer, method: str, path: str, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, dict[str, str], list[str]]:
    """(status, headers by lower-case name, every Set-Cookie value), redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        response.read()
        raw = response.getheaders()
    finally:
        connection.close()
    cookies = [value for name, value in raw if name.lower() == "set-cookie"]
    return response.status, {name.lower(): value for name, value in raw}, cookies


def directives(header: str) -> dict[str, list[str]]:
    parsed = [part.split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in parsed}


@pytest.fixture
def production_server(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    transactional_db: None,
    django_db_serialized_rollback: None,
) -> Any:
    (tmp_path / "media").mkdir()
    # Production settings need a Redis (viewbait.E004 stops the start without one): ours, else a
    # private one for this test.
    redis_url = os.environ.get("REDIS_URL") or request.getfixturevalue("redis_server").url(1)
    env = production_env(
        tmp_path,
        LOCAL_DEV="0",  # WebServer adds our environment: say it explicitly
        DEBUG="0",
        SECRET_KEY=get_random_secret_key(),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        DATABASE_URL=database_url(),
        MEDIA_ROOT=str(tmp_path / "media"),
        RATELIMIT_ENABLE="0",
        JOBS_RUN_INLINE="0",
        REDIS_URL=redis_url,
    )
    with running_web_server(env, tmp_path / "daphne.log") as server:
        yield server


def test_production_server_sends_https_only_headers_and_secure_cookies(
    production_server: WebServer,
) -> None:
    server = production_server
    origin = f"https://127.0.0.1:{server.port}"
    status, headers, _ = request(server, "GET", "/accounts/login/")
    assert status == 301 and headers["location"] == f"{origin}/accounts/login/"

    https = {"X-Forwarded-Proto": "https"}
    status, headers, cookies = request(server, "GET", "/accounts/login/", https)
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    csp = directives(headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert "upgrade-insecure-requests" in csp
    assert not any("unsafe" in source for source in csp["script-src"] + csp["style-src-elem"])
    policy = headers["permissions-policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy
    csrf_cookie = next(c for c in cookies if c.startswith("csrftoken="))
    assert "Secure" in csrf_cookie
    token = csrf_cookie.split(";", 1)[0].split("=", 1)[1]

    # A hash the server's (production) hashers verify; the tests' own hasher is MD5.
    user = make_user("secure@example.com")
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("correct horse battery", hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    status, headers, cookies = request(
        server,
        "POST",
        "/accounts/login/",
        {
            **https,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "Origin": origin,
            "Referer": f"{origin}/accounts/login/",
        },
        urlencode(
            {
                "login": "secure@example.com",
                "password": "correct horse battery",
                "csrfmiddlewaretoken": token,
            }
        ),
    )
    assert status == 302, headers
    session_cookie = next(c for c in cookies if c.startswith("sessionid="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie

    status, headers, _ = request(server, "GET", "/admin/login/", https)
    assert status == 200 and "content-security-policy" in headers
    # Load balancers probe over plain http: the health check is not redirected.
    assert request(server, "GET", "/healthz?live=1")[0] == 200


# --- seed_demo -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_needs_local_dev(settings: Any) -> None:
    settings.LOCAL_DEV = False
    settings.EMBEDDED_DATABASE = True
    with pytest.raises(CommandError, match="LOCAL_DEV=1"):
        call_command("seed_demo")
    with pytest.raises(CommandError, match="LOCAL_DEV=1"):
        call_command("seed_demo", "--allow-database-url")
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_seed_demo_refuses_a_database_url_database_unless_asked(settings: Any) -> None:
    settings.LOCAL_DEV = True
    settings.EMBEDDED_DATABASE = False
    with pytest.raises(CommandError, match="--allow-database-url"):
        call_command("seed_demo")
    err = []
    call_command("seed_demo", "--or-skip", stderr=_Sink(err))  # what `make run` runs
    assert "demo accounts skipped" in "".join(err)
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_seed_gallery_refuses_outside_a_local_run(settings: Any) -> None:
    """seed_gallery ran with production's settings and could add up to 500,000 made-up
    thumbnails to a real creator's library; like seed_demo it now needs LOCAL_DEV."""
    creator = make_user("creator@example.com")
    settings.LOCAL_DEV = False
    for email in ("creator@example.com", "bench@example.com"):
        with pytest.raises(CommandError, match="runs only with LOCAL_DEV=1"):
            call_command("seed_gallery", email=email, count=5, images=1, quiet=True)
    assert not Thumbnail.objects.exists()
    assert list(get_user_model().objects.all()) == [creator]
    settings.LOCAL_DEV = True
    call_command("seed_gallery", email="bench@example.com", count=1, images=1, quiet=True)
    assert Thumbnail.objects.filter(owner__email="bench@example.com").count() == 1


class _Sink:
    def __init__(self, parts: list[str]) -> None:
        self.parts = parts

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass


# --- admin log-in -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_signs_in_by_email_whatever_the_username(client: Any) -> None:
    """Staff sign in to the admin with the email they use in the studio: the field says so, and
    an account whose username is not its address gets in with the address."""
    page = client.get("/admin/login/").content.decode()
    assert '<label for="id_username" class="required">Email:</label>' in page
    assert 'type="email" name="username"' in page
    assert '<link rel="icon" href="data:image/svg+xml' in page  # no /favicon.ico 404 per page
    make_user("ops@example.com", username="ops", is_staff=True, is_superuser=True)
    wrong = client.post("/admin/login/", {"username": "ops", "password": "x", "next": "/admin/"})
    assert "email and password of a staff account" in wrong.content.decode()
    signed_in = client.post(
        "/admin/login/",
        {"username": "ops@example.com", "password": PASSWORD, "next": "/admin/"},
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_login_shares_the_site_login_limit_per_ip(settings: Any, client: Any) -> None:
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    # An hour's window: a few requests never straddle its end.
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "login": {**settings.RATE_LIMITS["login"], "rates": {"*": "2/h"}},
    }
    make_user("ops@example.com", is_staff=True, is_superuser=True)
    attempt = {"username": "ops@example.com", "password": "wrong", "next": "/admin/"}

    def admin_login(ip: str) -> Any:
        return client.post("/admin/login/", attempt, REMOTE_ADDR=ip)

    assert [admin_login("198.51.100.7").status_code for _ in range(2)] == [200, 200]
    refused = admin_login("198.51.100.7")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    # One budget for both forms: the site's log-in is spent too, and a right password waits.
    assert (
        client.post(
            "/accounts/login/",
            {"login": "x@example.com", "password": "y"},
            REMOTE_ADDR="198.51.100.7",
        ).status_code
        == 429
    )
    assert client.get("/admin/login/", REMOTE_ADDR="198.51.100.7").status_code == 200  # GET free
    right = {**attempt, "password": "correct horse battery"}
    assert client.post("/admin/login/", right, REMOTE_ADDR="198.51.100.7").status_code == 429
    assert client.post("/admin/login/", right, REMOTE_ADDR="198.51.100.8").status_code == 302


# --- every setting documented -------------------------------------------------------------------

SETTINGS_FILE = ROOT / "viewbait" / "settings.py"
# A variable's name as viewbait/settings.py reads it: env_str/env_bool/env_int/env_float/
# env_list/env_log_level("NAME", ...), redis_db_url("NAME", ...) or os.environ / getenv.
READ = re.compile(
    r"(?:\benv_\w+|\bredis_db_url|os\.environ\.get|os\.getenv)\(\s*\"([A-Z][A-Z0-9_]*)\""
    r"|os\.environ\[\s*\"([A-Z][A-Z0-9_]*)\"\]"
)


def settings_read() -> set[str]:
    return {a or b for a, b in READ.findall(SETTINGS_FILE.read_text())}


def test_every_setting_the_code_reads_is_in_the_readme() -> None:
    """IMAGE_PROVIDER, SERVE_MEDIA, JOBS_RUN_INLINE, VIEWBAIT_VAR_DIR and others were read from
    the environment but named nowhere an operator looks. Each variable viewbait/settings.py
    reads must appear in README.md by its full name, in code (backticks)."""
    names = settings_read()
    assert {"IMAGE_PROVIDER", "JOB_LEASE_SECONDS", "LOG_LEVEL", "CACHE_REDIS_URL"} <= names
    readme = README.read_text()
    spans = " ".join(re.findall(r"`[^`\n]+`", readme))  # `NAME`, `NAME=0`, `NAME=1 make run`
    undocumented = sorted(name for name in names if not re.search(rf"\b{name}\b", spans))
    assert undocumented == [], f"read by viewbait/settings.py, not in README.md: {undocumented}"
