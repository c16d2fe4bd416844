"""Where one web process spends its time on `POST /api/generate` (accepted, distinct
Idempotency-Keys) and `GET /studio/` (a 10,000-thumbnail library): pyinstrument's call tree of
REQUESTS requests each, through Django's test client (the whole middleware stack, the real
settings with rate limits off, PostgreSQL and Redis from DATABASE_URL / REDIS_URL, a throwaway
database). Printed, never asserted.

    .venv/bin/python benchmarks/profile_requests.py [--requests 100] [--path generate|studio]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--path", choices=["generate", "studio", "both"], default="both")
    args = parser.parse_args()
    from http_ratios import CSRF, seeded_client
    from pyinstrument import Profiler

    with seeded_client("prof") as client:

        def generate(n: int) -> None:
            response = client.post(
                "/api/generate",
                json.dumps({"title": f"Profiled video {n}"}),
                content_type="application/json",
                headers={"X-CSRFToken": CSRF, "Idempotency-Key": f"prof-{n}"},
            )
            assert response.status_code == 202, response.content[:300]

        def studio(_n: int) -> None:
            assert client.get("/studio/").status_code == 200

        chosen = {"generate": generate, "studio": studio}
        names = list(chosen) if args.path == "both" else [args.path]
        for name in names:
            call = chosen[name]
            for n in range(10):  # warm-up
                call(-1 - n)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for n in range(args.requests):
                call(n)
            profiler.stop()
            print(f"=== {name}: {args.requests} requests ===")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        import dramatiq

        dramatiq.get_broker().flush_all()


if __name__ == "__main__":
    main()
