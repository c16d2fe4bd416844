"""Settings for the web processes tests/test_limits_across_processes.py starts: the test settings
with rate limits on and a generate budget of 20 units an hour for its "loadtest" plan; and for the
Dramatiq workers tests/test_worker_crash.py starts (below)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import RATE_LIMITS

RATELIMIT_ENABLE = True
LOADTEST_GENERATE_RATE = "20/h"  # an hour: the 30 requests never straddle a window end
RATE_LIMITS = {
    **RATE_LIMITS,
    "generate": {
        **RATE_LIMITS["generate"],
        "rates": {**RATE_LIMITS["generate"]["rates"], "loadtest": LOADTEST_GENERATE_RATE},
    },
}

# Dramatiq workers tests start (tests/test_worker_crash.py), with VIEWBAIT_TEST_WORKER=1: the real
# broker of viewbait.settings (Redis at REDIS_URL, queues under DRAMATIQ_NAMESPACE) instead of the
# test settings' stub, the media root the test reads (VIEWBAIT_TEST_MEDIA_ROOT), and
# tests.servers.WorkerTestHooks (a slow local renderer: VIEWBAIT_TEST_RENDER_DELAY).
if os.environ.get("VIEWBAIT_TEST_WORKER") == "1":
    from viewbait.settings import DRAMATIQ_BROKER as REAL_BROKER

    DRAMATIQ_BROKER = {
        **REAL_BROKER,
        "MIDDLEWARE": [*REAL_BROKER["MIDDLEWARE"], "tests.servers.WorkerTestHooks"],
    }
    MEDIA_ROOT = os.environ["VIEWBAIT_TEST_MEDIA_ROOT"]
