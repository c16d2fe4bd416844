"""Virtualized gallery in Chromium: scroll through N thumbnails (default 10,000) to the end and
back, printing the number of gallery cards in the DOM (max, and at the end) and the JS heap
(Runtime.getHeapUsage over CDP) at intervals. Uses a throwaway test database and Django's live
server thread; needs Debian's headless Chromium (tests/browser.py's, as the browser tests).

    .venv/bin/python benchmarks/gallery_dom.py [--count 10000]
"""

from __future__ import annotations

import argparse
import time

from _django import django_test_db

CARDS = "() => document.querySelectorAll('#gallery-grid .thumb').length"
SETTLE = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const started = performance.now();
  while (document.querySelector('.gallery-page[data-state=loading], #gallery-grid .htmx-request')
         && performance.now() - started < 15000) {
    await new Promise(r => setTimeout(r, 10));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return {
    end: !document.querySelector('#gallery-grid .more'),
    bottom: window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 4,
    top: window.scrollY <= 0,
  };
}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with django_test_db():
        from django.contrib.auth import get_user_model
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.management import call_command
        from django.test import Client
        from django.test.testcases import LiveServerThread
        from playwright.sync_api import sync_playwright

        from tests.browser import CHROMIUM, CHROMIUM_ARGS

        email = "dom-bench@example.com"
        call_command("seed_gallery", email=email, count=args.count, quiet=True)
        client = Client()
        client.force_login(get_user_model().objects.get(username=email))
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        url = f"http://127.0.0.1:{server.port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_cookies(
                    [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]
                )
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                page.goto(f"{url}/studio/")
                page.wait_for_selector("#gallery-grid .thumb")
                started = time.perf_counter()
                max_cards, steps, samples = 0, 0, []
                for direction in (1, -1):
                    while True:
                        page.mouse.wheel(0, 1300 * direction)
                        state = page.evaluate(SETTLE)
                        cards = page.evaluate(CARDS)
                        max_cards = max(max_cards, cards)
                        steps += 1
                        if steps % 100 == 0:
                            heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
                            samples.append(heap)
                            print(
                                f"step {steps:>5}: {cards} cards in the DOM, JS heap {heap:.1f} MiB"
                            )
                        if (direction == 1 and state["end"] and state["bottom"]) or (
                            direction == -1 and state["top"]
                        ):
                            break
                    if direction == 1:
                        heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
                        print(
                            f"end of {args.count:,} thumbnails after {steps} scroll steps: "
                            f"{page.evaluate(CARDS)} cards in the DOM, JS heap {heap:.1f} MiB"
                        )
                cdp.send("HeapProfiler.collectGarbage")
                heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
                took = time.perf_counter() - started
                print(
                    f"scrolled {args.count:,} thumbnails down and back in {took:.0f} s "
                    f"({steps} steps): max {max_cards} cards in the DOM; JS heap after GC "
                    f"{heap:.1f} MiB, max sampled {max(samples or [heap]):.1f} MiB"
                )
                browser.close()
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
