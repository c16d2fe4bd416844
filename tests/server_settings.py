"""Settings for the web processes tests/test_limits_across_processes.py starts: the test settings
with rate limits on and a generate budget of 20 units an hour for its "loadtest" plan."""

from __future__ import annotations

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
