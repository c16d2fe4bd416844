"""The Chromium the browser tests drive through Playwright.

Debian's `chromium-headless-shell` when it is installed (scripts/system-deps.sh installs it): the
headless-only build Playwright itself runs for headless Chromium. It draws pages with the same
Blink as `chromium` for a fraction of the CPU: five 1440x900 pages with a screenshot each took 1.3
to 2.9 CPU-seconds against 5.4 to 8.5 with `chromium --headless` on a 2-core machine, and the
browser tests are a third of the suite's CPU. Without it, Debian's `chromium`; without either,
the browser tests skip. VIEWBAIT_TEST_CHROMIUM names
another executable. (Playwright's own browser download does not work on the machines here.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = tuple(
    Path(path)
    for path in (
        os.environ.get("VIEWBAIT_TEST_CHROMIUM"),  # another build, e.g. /usr/bin/chromium
        "/usr/bin/chromium-headless-shell",
        "/usr/bin/chromium",
    )
    if path
)
CHROMIUM = next((path for path in CANDIDATES if path.exists()), CANDIDATES[-1])
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    """A headless Chromium browser (Playwright `Browser`); skips the test when none is installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {' or '.join(map(str, CANDIDATES))} (make installs it)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
