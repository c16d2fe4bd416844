"""The project's own system checks run when the web process and the worker start (gunicorn never
runs Django's checks and the Procfile's worker skips them): an Error stops the start with the
check's message on stderr, a Warning is logged and the process starts. Only the project's checks
run there (Django's whole framework costs about 0.6 CPU seconds a start)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error, register
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from tests.servers import ROOT, free_port, web_command
from tests.test_safe_defaults import production_env
from viewbait.startup_checks import run_project_checks

BAD_PROXIES = "TRUSTED_PROXIES has entries that are not IP addresses or networks: not-an-ip."
BOTH_TLS = "EMAIL_USE_TLS and EMAIL_USE_SSL are both on; the SMTP backend refuses to send."


def start(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a process start to its end: a refused one ends by itself; one still running after
    30 s is stopped, what it forked too (its own process group), and the test fails."""
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{argv[0]} did not stop by itself:\n{stderr}")
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def test_the_web_process_refuses_to_start_on_a_check_error(tmp_path: Path) -> None:
    """The Procfile's `web` (gunicorn) with TRUSTED_PROXIES malformed: it stops at once, saying
    why, instead of answering 500 on every sign-in."""
    argv, web_env = web_command(free_port())
    env = production_env(
        tmp_path, **web_env, SECRET_KEY=get_random_secret_key(), TRUSTED_PROXIES="not-an-ip"
    )
    refused = start(argv, env)
    assert refused.returncode != 0
    assert f"(viewbait.E002) {BAD_PROXIES}" in refused.stderr, refused.stderr


def test_the_worker_refuses_to_start_on_a_check_error(tmp_path: Path) -> None:
    """The Procfile's worker (`rundramatiq --skip-checks`) with TLS and SSL both on for mail: it
    stops before starting any Dramatiq process, with the check's message and no traceback."""
    env = production_env(
        tmp_path, SECRET_KEY=get_random_secret_key(), EMAIL_USE_TLS="1", EMAIL_USE_SSL="1"
    )
    argv = [sys.executable, "manage.py", "rundramatiq", "--skip-checks", "--processes", "1"]
    refused = start(argv, env)
    assert refused.returncode == 1
    assert f"(viewbait.E003) {BOTH_TLS}" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "dramatiq" not in refused.stdout + refused.stderr.replace("rundramatiq", "")


# What the web process must not import (checked after it has loaded and resolved a page):
# Daphne and Twisted are `manage.py runserver`'s only (viewbait.settings), OpenCV and numpy (about
# 35 MB per process) image work's only (studio.job_types.analyse_style and thumbnail_check,
# studio.style_previews). tests/test_serving.py shows that runserver is Daphne's.
NOT_IN_THE_WEB_PROCESS = ("daphne", "twisted", "cv2", "numpy")


def test_a_warning_is_logged_and_the_web_process_starts(tmp_path: Path) -> None:
    """Production settings with mail left on the console backend (viewbait.W001, deploy-only):
    the web application loads, the warning in its log. The same process (a start is about a
    CPU-second) then resolves a page's URL and lists what it imported of
    NOT_IN_THE_WEB_PROCESS: nothing."""
    env = production_env(
        tmp_path, SECRET_KEY=get_random_secret_key(), REDIS_URL="redis://127.0.0.1:6379/0"
    )  # loading connects to nothing; without REDIS_URL: viewbait.E004
    code = (
        "import sys; import viewbait.asgi; "
        "from django.urls import resolve; resolve('/studio/'); "
        f"print(sorted(m for m in {NOT_IN_THE_WEB_PROCESS!r} if m in sys.modules))"
    )
    loaded = start([sys.executable, "-c", code], env)
    assert loaded.returncode == 0, loaded.stderr
    assert "(viewbait.W001) EMAIL_BACKEND is the console backend" in loaded.stderr
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_errors_stop_and_warnings_are_logged_in_process(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"  # a run without one: viewbait.E004 too
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "not-an-ip"]
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = True
    with pytest.raises(ImproperlyConfigured) as refused:
        run_project_checks("web")
    text = str(refused.value)
    assert text.startswith("The web process refuses to start")
    assert BAD_PROXIES in text and BOTH_TLS in text  # every error, each with its hint
    assert "HINT: Comma-separated addresses or CIDR networks" in text
    settings.SILENCED_SYSTEM_CHECKS = ["viewbait.E002", "viewbait.E003"]  # as `check` honours
    assert run_project_checks("web") == []
    settings.SILENCED_SYSTEM_CHECKS = []
    settings.TRUSTED_PROXIES = []
    settings.EMAIL_USE_SSL = False
    settings.LOCAL_DEV = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    with caplog.at_level(logging.WARNING, logger="viewbait.startup_checks"):
        warnings = run_project_checks("worker")
    assert [w.id for w in warnings] == ["viewbait.W001"]
    assert "viewbait.W001" in caplog.text


def test_only_the_projects_checks_run_at_start(settings: Any) -> None:
    """A check of Django's or a library's (here one registered from outside the project's
    packages) is `manage.py check`'s business, not the start's."""
    settings.LOCAL_DEV = True  # no deploy warnings

    def outsider(app_configs: Any = None, **kwargs: Any) -> list[Error]:
        return [Error("not the project's", id="outsider.E001")]

    outsider.__module__ = "some_library.checks"
    register(outsider)
    try:
        assert run_project_checks("web") == []
    finally:
        registry.registered_checks.discard(outsider)


# --- django.setup() with the collector paused (viewbait.startup) ------------------------------


def test_django_is_set_up_with_the_collector_paused_and_its_objects_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process start made objects that all stay alive and the collector walked them some 300
    times for nothing (about 0.1 of a web worker's 0.6 CPU-seconds to load): it is off while
    Django sets up, what set-up made is frozen, then it is on again."""
    import gc

    from viewbait import startup

    seen: list[object] = []
    monkeypatch.setattr(startup, "_django_setup", lambda **kw: seen.append((gc.isenabled(), kw)))
    monkeypatch.setattr(gc, "freeze", lambda: seen.append("freeze"))  # not this test process's
    assert gc.isenabled()
    startup.setup(set_prefix=False)
    assert seen == [(False, {"set_prefix": False}), "freeze"]
    assert gc.isenabled()

    def refused(**kw: object) -> None:
        raise ImproperlyConfigured("refused")

    monkeypatch.setattr(startup, "_django_setup", refused)
    with pytest.raises(ImproperlyConfigured):
        startup.setup()
    assert gc.isenabled()  # a refusal leaves it as it was


def test_every_process_start_sets_django_up_through_viewbait_startup() -> None:
    """The web process (viewbait.asgi), `manage.py` commands and each Dramatiq worker process
    (viewbait's rundramatiq names viewbait.dramatiq_setup in place of django_dramatiq.setup)."""
    import ast

    from viewbait.management.commands.rundramatiq import Command

    modules = Command().discover_tasks_modules()
    assert modules[0] == "viewbait.dramatiq_setup" and "django_dramatiq.setup" not in modules
    for path in ("viewbait/asgi.py", "manage.py", "viewbait/dramatiq_setup.py"):
        nodes = list(ast.walk(ast.parse((ROOT / path).read_text())))
        calls = [ast.unparse(n.func) for n in nodes if isinstance(n, ast.Call)]
        assert "django.setup" not in calls, path  # Django's own, the collector on
        imported = [
            (n.module, alias.name)
            for n in nodes
            if isinstance(n, ast.ImportFrom)
            for alias in n.names
        ]
        assigned = [ast.unparse(n) for n in nodes if isinstance(n, ast.Assign)]
        assert (("viewbait.startup", "setup") in imported and "setup" in calls) or (
            "django.setup = startup.setup" in assigned
        ), path
