"""Screenshots of what a creator sees, at desktop and phone widths, into docs/screenshots/.

Captures the landing page signed out, then signs in as the demo creator of `make run`
(seed_demo) on a running studio and saves one PNG per page and width (1440x900 desktop, 390x844
phone; full-page captures), plus the admin's thumbnail and job lists and the demo creator's
Adjust credits page as the demo admin. Run it against
`make run`:

    python scripts/screenshots.py [--base-url http://127.0.0.1:8000] [--out docs/screenshots]

Uses Debian's Chromium through Playwright (`/usr/bin/chromium`; Playwright's own download does
not work offline).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}
CREATOR = ("demo@viewbait.local", "viewbait-demo")
ADMIN = ("admin@viewbait.local", "viewbait-admin")


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")


def creator_pages(page: Page, base: str) -> list[tuple[str, str]]:
    """(name, url) of each page to capture; thumbnail and share pages from the demo gallery."""
    page.goto(f"{base}/studio/")
    pages = [("studio", f"{base}/studio/")]
    link = page.locator("a[href*='/studio/thumbnails/']").first
    if link.count():
        href = link.get_attribute("href") or ""
        pages.append(("thumbnail", base + href if href.startswith("/") else href))
    pages += [
        ("library", f"{base}/studio/library/"),
        ("plans", f"{base}/plans/"),
        ("credits", f"{base}/studio/credits/"),
    ]
    page.goto(f"{base}/studio/library/")
    share = page.locator("a[href*='/share/']").first
    if share.count():
        href = share.get_attribute("href") or ""
        url = base + href if href.startswith("/") else href
        pages.append(("share", url))
        page.goto(url)
        one = page.locator("a[href*='/t/']").first
        if one.count():
            pages.append(("share-thumbnail", base + (one.get_attribute("href") or "")))
    return pages


def admin_pages(page: Page, base: str) -> list[tuple[str, str]]:
    """(name, url) of the admin pages to capture; the demo creator's Adjust credits page."""
    pages = [
        ("admin-thumbnails", f"{base}/admin/studio/thumbnail/"),
        ("admin-jobs", f"{base}/admin/generation/job/"),
    ]
    page.goto(f"{base}/admin/billing/creditaccount/?q={CREATOR[0]}")
    account = page.locator("#result_list tbody tr th a").first
    if account.count():
        href = (account.get_attribute("href") or "").replace("/change/", "/adjust/")
        pages.append(("admin-adjust-credits", base + href))
    return pages


def reveal_lazy_images(page: Page) -> None:
    """Scroll through the page so `loading="lazy"` images load before a full-page capture."""
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, int(height) + 1, 600):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(60)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_load_state("networkidle")


def capture(base: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for label, (width, height) in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{base}/")  # the landing page, signed out
            page.wait_for_load_state("networkidle")
            saved.append(out / f"home-{label}.png")
            page.screenshot(path=str(saved[-1]), full_page=True)
            context.close()
            for who, (email, password) in (("creator", CREATOR), ("admin", ADMIN)):
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                sign_in(page, base, email, password)
                pages = creator_pages if who == "creator" else admin_pages
                targets = pages(page, base)
                for name, url in targets:
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    reveal_lazy_images(page)
                    slug = re.sub(r"[^a-z0-9-]", "", name)
                    path = out / f"{slug}-{label}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)
                context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    for path in capture(args.base_url.rstrip("/"), args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
