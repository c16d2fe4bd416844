"""The Content-Security-Policy holds in a real Chromium: every page satisfies it.

The real web process (tests/stack.py's shared stack, without a Dramatiq worker as no job runs
here; Redis; LOCAL_DEV=1 as `make run`) serves the policy of viewbait.settings. A creator logs in
and opens the studio (using its htmx filters, whose request hook now lives in static JS), the
library, the plans page, a thumbnail page and a share page; a staff user opens the admin and adds a
user (a refused email, then the new account's change page). Every `securitypolicyviolation`
event, console error and page error is collected: there must be none. As a check on the check, an
inline script injected at the end must be refused and seen.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from PIL import Image

from studio.models import Project, Thumbnail
from tests.browser import CHROMIUM
from tests.conftest import make_user
from tests.stack import WAIT_MS, SharedStack, drive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"
# Runs before any page script, in every document (CDP init scripts are not subject to the CSP).
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ` +
                    `${e.sourceFile}:${e.lineNumber} ${e.sample || ""}`);
});
"""


def user_with_production_hash(email: str, **extra: Any) -> Any:
    """A user the Stack's servers log in with a production hasher (PBKDF2, few iterations)."""
    user = make_user(email, **extra)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


def image_bytes(fmt: str, width: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, width * 9 // 16), (230, 60, 80)).save(out, fmt)
    return out.getvalue()


def make_library(media: Path) -> tuple[Thumbnail, Project]:
    """A creator with a shared project holding one thumbnail whose files exist in `media`."""
    owner = user_with_production_hash("csp@example.com")
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    files = {
        "image": ("thumbnails/full/csp.png", "PNG", 1280),
        "image_small": ("thumbnails/400/csp.webp", "WEBP", 400),
        "image_medium": ("thumbnails/800/csp.webp", "WEBP", 800),
        "download": ("thumbnails/download/csp.jpg", "JPEG", 1280),
    }
    for name, fmt, width in files.values():
        (media / name).parent.mkdir(parents=True, exist_ok=True)
        (media / name).write_bytes(image_bytes(fmt, width))
    thumbnail = Thumbnail.objects.create(
        owner=owner,
        project=project,
        title="Content Security Works",
        aspect_ratio="16:9",
        resolution="1K",
        width=1280,
        height=720,
        **{field: name for field, (name, _, _) in files.items()},
    )
    return thumbnail, project


# How a page's violation events are known to be in: Chromium queues each violation's event as a
# task on the document's networking task queue when it finds the violation, in order, so once a
# violation caused on purpose now (an inline script, which the policy refuses) has its event,
# every earlier one has had its own. Its collected entry is dropped again, and its console error
# (which names the refused script by its hash) is not a problem. Was a 300 ms wait on each page.
PROBE_SCRIPT = "/* csp-probe */"
PROBE_HASH = base64.b64encode(hashlib.sha256(PROBE_SCRIPT.encode()).digest()).decode()
PROBE = """probe => new Promise((resolve) => {
  const script = document.createElement("script");
  const seen = (event) => {
    if (event.target !== script) return;
    document.removeEventListener("securitypolicyviolation", seen);
    window.__csp.pop();  // the probe's own entry, collected just before
    resolve();
  };
  document.addEventListener("securitypolicyviolation", seen);
  script.textContent = probe;
  document.head.append(script);
})"""


class Watch:
    """One page with every CSP violation, console error and page error it reports."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.base_url = base_url
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(
                    f"console {m.type}: {m.text} ({m.location.get('url')}, on {self.page.url})"
                )
                if m.type == "error" and PROBE_HASH not in m.text
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert "permissions-policy" in response.headers, path
        self.page.wait_for_load_state("load")
        self.collect(path)
        return response

    def collect(self, where: str) -> None:
        self.page.evaluate(PROBE, PROBE_SCRIPT)  # violation events are queued as tasks
        for violation in self.page.evaluate("window.__csp || []"):
            self.problems.append(f"{where}: CSP {violation}")
        self.page.evaluate("window.__csp = []")

    def log_in(self, path: str, field: str, email: str) -> None:
        self.open(path)
        self.page.fill(f"input[name={field}]", email)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.locator("main form button[type=submit], #login-form [type=submit]").first.click()
        self.page.wait_for_load_state("load")
        assert "/login/" not in self.page.url, f"log-in at {path} failed"
        self.collect(f"{path} (after log-in)")


def test_pages_satisfy_the_content_security_policy(live_stack: SharedStack) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    thumbnail, project = make_library(live_stack.media)
    user_with_production_hash("ops@example.com", is_staff=True, is_superuser=True)
    # Pages only: nothing here runs a job.
    problems = drive(live_stack, every_page, thumbnail, project, worker=False)
    assert problems == [], "\n".join(problems)


def every_page(browser: Any, base_url: str, thumbnail: Thumbnail, project: Project) -> list[str]:
    return creator_pages(browser, base_url, thumbnail, project) + admin_pages(
        browser, base_url, thumbnail
    )


def creator_pages(browser: Any, base_url: str, thumbnail: Thumbnail, project: Project) -> list[str]:
    from playwright.sync_api import expect

    context = browser.new_context()
    context.add_init_script(COLLECT_VIOLATIONS)
    watch = Watch(context, base_url)
    watch.log_in("/accounts/login/", "login", "csp@example.com")
    watch.open("/studio/")
    page = watch.page
    expect(
        page.locator("#gallery-grid").get_by_text("Content Security Works").first
    ).to_be_visible()
    # The filters empty the live strip when their request starts (was an inline hx-on handler).
    page.evaluate("document.getElementById('gallery-live').append(document.createElement('p'))")
    with page.expect_response(lambda r: "/studio/gallery" in r.url):
        page.fill("#gallery-q", "Content")
    expect(page.locator("#gallery-live > *")).to_have_count(0)
    watch.collect("/studio/ (filters)")
    watch.open("/studio/library/")
    watch.open("/plans/")
    watch.open(f"/studio/thumbnails/{thumbnail.pk}")
    watch.open(f"/share/{project.share_token}/")
    watch.open("/api/docs/")  # drf-spectacular's Swagger UI, whose page had an inline <style>
    expect(page.locator(".swagger-ui .info .title").first).to_be_visible()
    watch.collect("/api/docs/ (drawn)")
    # The check can fail: an inline script is refused and reported.
    page.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        "document.body.append(s)"
    )
    page.wait_for_function("window.__csp.length > 0")  # its event is a task queued meanwhile
    caught = page.evaluate("window.__csp")
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src-elem blocked inline") for v in caught), caught
    problems = [p for p in watch.problems if "Executing inline script violates" not in p]
    context.close()
    return problems


def admin_pages(browser: Any, base_url: str, thumbnail: Thumbnail) -> list[str]:
    context = browser.new_context()
    context.add_init_script(COLLECT_VIOLATIONS)
    watch = Watch(context, base_url)
    watch.log_in("/admin/login/", "username", "ops@example.com")
    watch.open("/admin/")
    watch.open("/admin/studio/thumbnail/")
    watch.open(f"/admin/studio/thumbnail/{thumbnail.pk}/change/")
    watch.open("/admin/auth/user/add/")
    add_a_user(watch)
    context.close()
    # The admin's pages link no icon, so Chromium asks for /favicon.ico (a 404, not a CSP matter).
    return [p for p in watch.problems if "/favicon.ico" not in p]


def add_a_user(watch: Watch) -> None:
    """The admin's add form (studio.admin.UserAddForm, email first) refusing a taken email, then
    saving, which leads to the new account's change page: neither reports a violation."""
    from playwright.sync_api import expect

    page = watch.page

    def submit(email: str) -> None:
        page.fill("#id_email", email)
        page.fill("#id_password1", "another horse battery")  # not kept when the form is refused
        page.fill("#id_password2", "another horse battery")
        page.locator("input[name=_save]").click()
        page.wait_for_load_state("load")

    submit("CSP@example.com")  # the creator's, case aside
    expect(page.locator(".errorlist")).to_contain_text("Another account")
    watch.collect("/admin/auth/user/add/ (refused)")
    submit("added@example.com")
    expect(page.locator(".messagelist")).to_contain_text("added@example.com")
    assert page.url.endswith("/change/"), page.url
    watch.collect(f"{page.url} (added)")
