"""The project package as an app: its start-up guard and its system checks (HEALTHZ_REQUIRED's
names, TRUSTED_PROXIES' entries, the mail's TLS settings; the mail backend, SITE_URL, REDIS_URL and
the static files manifest, deploy only; PostgreSQL's connection limit against the pools, with
`migrate`)."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Error as CheckError
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.http.request import split_domain_port, validate_host

CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"


def refuse_repository_key() -> None:
    """Raise ImproperlyConfigured when DEBUG is off and SECRET_KEY is the one this repository
    ships (settings.REPOSITORY_SECRET_KEY): anyone could sign sessions, password-reset links and
    share tokens with it. Runs in every process at django.setup() (web, worker, manage.py)."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.REPOSITORY_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the repository's default, which is public. Set SECRET_KEY to a "
            "random value of your own (python -c 'from django.core.management.utils import "
            "get_random_secret_key as k; print(k())'), or run locally with LOCAL_DEV=1 "
            "(`make run` does), which keeps a random key in var/secret_key."
        )


@register(Tags.security, deploy=True)
def check_email_backend(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.W001 (`check --deploy`): outside LOCAL_DEV, EMAIL_BACKEND is the console backend
    (the default), so sign-up confirmations and password-reset links, which sign into the
    account, go to the process's log and reach no creator."""
    if settings.LOCAL_DEV or settings.EMAIL_BACKEND != CONSOLE_EMAIL:
        return []
    return [
        CheckWarning(
            "EMAIL_BACKEND is the console backend: sign-up confirmations and password-reset "
            "links are written to the log and reach no one.",
            hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST, "
            "EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS (README: "
            "Production settings).",
            id="viewbait.W001",
        )
    ]


@register()
def check_email_security(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.E003: EMAIL_USE_TLS and EMAIL_USE_SSL both on. Django's SMTP backend refuses
    that (ValueError) only when it is built, at the first mail: every sign-up was a 500."""
    if not (settings.EMAIL_USE_TLS and settings.EMAIL_USE_SSL):
        return []
    return [
        CheckError(
            "EMAIL_USE_TLS and EMAIL_USE_SSL are both on; the SMTP backend refuses to send.",
            hint="EMAIL_USE_TLS=1 for STARTTLS (port 587) or EMAIL_USE_SSL=1 for implicit TLS "
            "(port 465), not both.",
            id="viewbait.E003",
        )
    ]


@register(Tags.security, deploy=True)
def check_site_url(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.W002 (`check --deploy`): outside LOCAL_DEV, with Stripe on, SITE_URL is not an
    https address (its default is http://127.0.0.1:8000): Checkout and the Customer Portal
    send a creator who has just paid back to it, a page their browser cannot reach.
    viewbait.W003: its host is not in ALLOWED_HOSTS, so those returns and Stripe's webhooks
    are refused 400."""
    if settings.LOCAL_DEV or not settings.STRIPE_SECRET_KEY:
        return []
    if not settings.SITE_URL.startswith("https://"):
        return [
            CheckWarning(
                f"SITE_URL is {settings.SITE_URL}: Stripe Checkout and the Customer Portal "
                "return creators there after they pay.",
                hint="Set SITE_URL to the studio's public https address, e.g. "
                "https://studio.example.com.",
                id="viewbait.W002",
            )
        ]
    host = urlsplit(settings.SITE_URL).netloc
    if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return [
            CheckWarning(
                f"SITE_URL's host {host} is not in ALLOWED_HOSTS: Stripe's webhooks to "
                "SITE_URL/stripe/webhook/ and creators coming back from Checkout get a 400.",
                hint="Add it to ALLOWED_HOSTS.",
                id="viewbait.W003",
            )
        ]
    return []


@register(deploy=True)
def check_shared_redis(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.E004 (`check --deploy`, and every web and worker start: viewbait.startup_checks):
    production settings (neither LOCAL_DEV nor DEBUG) without REDIS_URL. Every process then falls
    back to its own memory (viewbait.settings: LocMem caches and rate-limit counters, the
    in-memory channel layer) and, unless DRAMATIQ_BROKER_URL names a broker, to a stub broker:
    jobs ran on a thread of the web process (JOBS_RUN_INLINE) and the Procfile's worker started,
    ready, on a queue nothing ever reaches. Nothing said so."""
    if settings.LOCAL_DEV or settings.DEBUG or settings.REDIS_URL:
        return []
    if settings.DRAMATIQ_BROKER_URL:
        lost = "caches, rate limits and websocket job updates"
    else:
        lost = (
            "caches, rate limits and websocket job updates, and jobs run inside the web process "
            "while the worker waits on a queue nothing reaches"
        )
    return [
        CheckError(
            f"REDIS_URL is not set: each process keeps its own {lost}.",
            hint="Set REDIS_URL (e.g. redis://redis.internal:6379/0; README: Production "
            "settings). LOCAL_DEV=1 is for a run on this machine only.",
            id="viewbait.E004",
        )
    ]


@register(deploy=True)
def check_static_manifest(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.E005 (`check --deploy`, and every web start: viewbait.startup_checks; not a
    worker's, which serves no page, so a worker-only image need not collect static files):
    DEBUG off, the manifest storage in use (STATIC_MANIFEST on, the default) and no manifest in
    STATIC_ROOT, i.e. no `collectstatic`: every page's `{% static %}` raised "Missing
    staticfiles manifest entry" (a 500) while the startup checks passed and /healthz said ok.
    Deploy-only, so `migrate` (which `make run` and a release run before collecting) passes.
    Reads only whether the file exists."""
    if settings.DEBUG or kwargs.get("process") == "worker":
        return []  # the storage then serves the unhashed names, manifest or not
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    if staticfiles_storage.manifest_storage.exists(staticfiles_storage.manifest_name):
        return []
    manifest = os.path.join(settings.STATIC_ROOT or "", staticfiles_storage.manifest_name)
    return [
        CheckError(
            f"No static files manifest ({manifest}): every page would be a 500, "
            '"Missing staticfiles manifest entry".',
            hint="Run `python manage.py collectstatic --noinput` first (`python -m "
            "viewbait.serve` runs it itself), or set STATIC_MANIFEST=0 to serve the files "
            "unhashed.",
            id="viewbait.E005",
        )
    ]


@register()
def check_healthz_required(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.E001: HEALTHZ_REQUIRED names something /healthz does not probe (a typo such as
    `db`), which made that dependency's failure leave /healthz at 200."""
    from viewbait.health import PROBES

    unknown = [name for name in settings.HEALTHZ_REQUIRED if name not in PROBES]
    if not unknown:
        return []
    return [
        CheckError(
            f"HEALTHZ_REQUIRED names {', '.join(unknown)}, which /healthz does not probe.",
            hint=f"Use a comma-separated subset of {','.join(PROBES)}.",
            id="viewbait.E001",
        )
    ]


@register()
def check_trusted_proxies(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.E002: an entry of TRUSTED_PROXIES is not an IP address or network. It was read
    only on a request, where it raised ValueError: every page that looks at the client's
    address (sign-in, sign-up, the API's limits) answered 500."""
    bad = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    if not bad:
        return []
    return [
        CheckError(
            f"TRUSTED_PROXIES has entries that are not IP addresses or networks: {', '.join(bad)}.",
            hint="Comma-separated addresses or CIDR networks, e.g. 10.0.0.0/8,192.0.2.7.",
            id="viewbait.E002",
        )
    ]


def procfile_worker_processes() -> int:
    """Dramatiq processes the Procfile's `worker:` line starts: its `--processes N`, else
    Dramatiq's default (one per CPU, `os.cpu_count()`); 0 without a Procfile or a worker line.
    Raises ValueError on a malformed Procfile (viewbait.serve.read_procfile)."""
    from viewbait.serve import read_procfile

    path = settings.BASE_DIR / "Procfile"
    if not path.exists():
        return 0
    command = read_procfile(path).get("worker")
    if command is None:
        return 0
    argv = shlex.split(command)
    for index, word in enumerate(argv):
        if word in ("-p", "--processes") and index + 1 < len(argv):
            return int(argv[index + 1])
        if match := re.fullmatch(r"--processes=(\d+)", word):
            return int(match[1])
    return os.cpu_count() or 1


@register(Tags.database)
def check_database_connections(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """viewbait.W004 (a database check: `migrate` runs it, as does `check --database default`):
    the psycopg pools of one server's processes can open more PostgreSQL connections than the
    server accepts from ordinary roles.

    One server's processes: the web workers (viewbait/gunicorn_conf.py `default_workers()`:
    WEB_CONCURRENCY, else the CPU count) and the Dramatiq processes of the Procfile's worker
    line, each with a pool of up to DB_POOL_MAX_SIZE connections (settings.DATABASES OPTIONS
    `pool`). PostgreSQL accepts `max_connections` minus `superuser_reserved_connections` and
    (PostgreSQL 16+) `reserved_connections` from them (PostgreSQL docs, "Connection Settings").
    Past that limit a new connection fails with "sorry, too many clients already", so a pool
    that grows under load fails requests instead of queueing them. Several servers share one
    limit; this counts one. No message for SQLite, without the pool, or when the database
    cannot be asked (its own check, migrate, says so)."""
    if "default" not in (kwargs.get("databases") or ()):
        return []
    database = settings.DATABASES["default"]
    pool = (database.get("OPTIONS") or {}).get("pool")
    if database["ENGINE"] != "core.postgresql" or not pool:
        return []
    from viewbait.gunicorn_conf import default_workers

    web, worker = default_workers(), procfile_worker_processes()
    max_size = int(pool["max_size"]) if isinstance(pool, dict) else 4  # psycopg_pool's default
    wanted = (web + worker) * max_size
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - coalesce(current_setting('reserved_connections', true)::int, 0)"
            )
            (allowed,) = cursor.fetchone()
    except DatabaseError:
        return []
    if wanted <= allowed:
        return []
    return [
        CheckWarning(
            f"This server's processes can open {wanted} PostgreSQL connections ({web} web "
            f"worker{'s' * (web != 1)} + {worker} Dramatiq process{'es' * (worker != 1)}, each "
            "with a pool of up to "
            f"DB_POOL_MAX_SIZE={max_size}), more than the {allowed} PostgreSQL accepts "
            "(max_connections less the reserved ones): under load, new connections fail with "
            '"too many clients".',
            hint="Lower DB_POOL_MAX_SIZE or WEB_CONCURRENCY, raise PostgreSQL's "
            "max_connections, or put a connection pooler (PgBouncer) in front; with several "
            "servers, their totals share the one limit (README: Production settings).",
            id="viewbait.W004",
        )
    ]


class ViewBaitConfig(AppConfig):
    name = "viewbait"
    verbose_name = "ViewBait"

    def import_models(self) -> None:
        # First of the apps' models (this app is first in INSTALLED_APPS): a refused start stops
        # before importing them all (about 0.4 CPU-seconds), not in ready() after.
        refuse_repository_key()
        super().import_models()

    def ready(self) -> None:
        from allauth.account.signals import email_changed

        from core.auth import connect_signals
        from viewbait.account_adapter import follow_email_change

        connect_signals()
        email_changed.connect(follow_email_change, dispatch_uid="viewbait-follow-email-change")
