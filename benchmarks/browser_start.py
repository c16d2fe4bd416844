"""What one browser test pays before it loads a page: machine CPU-seconds (all processes, from
/proc/stat) per test for (a) a Playwright driver and a Chromium of its own, (b) a Chromium of its
own under a shared driver, (c) a fresh context in a shared Chromium, as tests/browser.py's
`chromium()` gives. Each test opens about:blank once. Needs the Chromium the browser tests use.

    .venv/bin/python benchmarks/browser_start.py [--tests 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import launch


def machine_cpu() -> float:
    """Busy CPU-seconds of the whole machine since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def per_test(run: object, tests: int) -> float:
    time.sleep(1)  # let the previous step's processes finish exiting
    start = machine_cpu()
    for _ in range(tests):
        run()  # type: ignore[operator]
    return (machine_cpu() - start) / tests


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=8)
    tests = parser.parse_args().tests

    def own_driver_and_browser() -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            browser.new_page().goto("about:blank")
            browser.close()

    print(f"driver + Chromium per test:  {per_test(own_driver_and_browser, tests):.3f} CPU-s")
    with sync_playwright() as playwright:

        def own_browser() -> None:
            browser = launch(playwright)
            browser.new_page().goto("about:blank")
            browser.close()

        print(f"Chromium per test:           {per_test(own_browser, tests):.3f} CPU-s")
        shared = launch(playwright)

        def own_context() -> None:
            context = shared.new_context()
            context.new_page().goto("about:blank")
            context.close()

        print(f"context per test:            {per_test(own_context, tests):.3f} CPU-s")
        shared.close()


if __name__ == "__main__":
    main()
