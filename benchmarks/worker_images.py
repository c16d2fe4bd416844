"""The worker's image pipeline: CPU seconds per image and peak RSS at 1K, 2K and 4K, and the
encoder settings table the pipeline's choices come from.

Per size, a fresh interpreter (so `ru_maxrss` is that run's peak) sets up a throwaway test database,
accepts `--jobs` generate jobs of `--variations` variations through POST /api/generate (Pro plan,
offline renderer, 16:9, a title and a palette, no watermark unless `--watermark`), then runs them
the way `rundramatiq --processes 1 --threads 4` does: `generation.services.execute_job` on
`--threads` threads at once. It prints process CPU (user + system, `resource.getrusage`) per stored
image, wall time, and peak RSS of the process (`ru_maxrss`, which includes Django's own ~100 MB).

`--face`: each job places one face photo of the creator's (tests/fixtures, 512x512); with
`--face-memo 0` every image decodes, detects and cuts the photo out again (before the renderer
kept the last FACE_PHOTO_MEMO photos). 2 cores at 2.0 GHz, 4 jobs x 4 variations, 4 threads:
0.55 -> 0.48 CPU s/image at 1K, 1.36 -> 1.26 at 2K.

PNG written with zlib's run-length strategy (generation.providers.base PNG_OPTIONS) instead of
level 6's default search, 2026-12-05, 2 jobs x 4 variations, no face, two interleaved runs each:
1K 0.27-0.29 -> 0.23 CPU s/image, 4K 1.41-1.48 -> 1.24, peak RSS 4K 945-1,022 -> 800-886 MiB.
With that and the renderer's CPU work of the same day, `--face`, MALLOC_ARENA_MAX=2, against the
morning's commit: 1K 0.45 -> 0.34-0.37 CPU s/image, 4K 2.73-2.76 -> 1.77-1.81 (8 images in 7.5-7.7 s
of wall time, from 11.3-11.4), peak RSS 4K 971-1,138 -> 944-973 MiB.

`--encoders` prints size and CPU for PNG compress levels and WebP quality/method on one rendered
4K (or `--encoder-size`) image and its 800/400 px previews.

    .venv/bin/python benchmarks/worker_images.py [--sizes 1K,2K,4K] [--jobs 4] [--variations 4]
        [--threads 4] [--face [--face-memo N]] [--encoders]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
FACE_PHOTO = HERE.parent / "tests" / "fixtures" / "face-eileen-collins.jpg"
FACE_SIZE = (512, 512)  # its pixels (checked below)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(
    size: str, jobs: int, variations: int, threads: int, watermark: bool, face_memo: int | None
) -> None:
    from _django import django_test_db

    with django_test_db():
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from billing.models import Plan
        from billing.services import adjust_credits, change_plan, invalidate_plan_table
        from generation.services import execute_job
        from studio.models import Palette, Thumbnail

        Plan.objects.update(max_concurrent_jobs=1000, generate_cooldown_seconds=0)
        invalidate_plan_table()
        user = get_user_model().objects.create_user(username="bench@x.io", email="bench@x.io")
        change_plan(
            user=user, plan=Plan.objects.get(slug="free" if watermark else "pro"), status="active"
        )
        adjust_credits(user=user, amount=10_000, idempotency_key="bench", reason="bench")
        if watermark:
            Plan.objects.filter(slug="free").update(
                max_variations=4, resolutions=["1K", "2K", "4K"]
            )
            invalidate_plan_table()
        client = Client()
        client.force_login(user)
        palette = Palette.objects.filter(owner=None).order_by("id").first()
        face_ids = []
        if face_memo is not None:  # --face: one face photo of the creator's, cut out per image
            from django.core.files.base import ContentFile

            from generation.providers import local
            from studio.models import Face, FaceImage

            local.FACE_PHOTO_MEMO = face_memo
            face = Face.objects.create(owner=user, name="Me")
            photo = FaceImage(face=face, width=FACE_SIZE[0], height=FACE_SIZE[1])
            photo.image.save("face.jpg", ContentFile(FACE_PHOTO.read_bytes()), save=True)
            face_ids = [face.pk]
        ids = []
        for i in range(jobs):
            response = client.post(
                "/api/generate",
                {
                    "title": f"I Tried 100 Coffee Shops: Part {i}",
                    "resolution": size,
                    "variations": variations,
                    "palette_id": palette.pk if palette else None,
                    "face_ids": face_ids,
                },
                content_type="application/json",
            )
            assert response.status_code == 202, response.content
            ids.append(response.json()["id"])
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()

        def work(job_id: str) -> None:
            try:
                execute_job(job_id)
            finally:
                connection.close()  # as Dramatiq's Django middleware does after each message

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, ids))
        cpu, wall = cpu_seconds() - cpu_before, time.perf_counter() - wall_before
        images = Thumbnail.objects.count()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "size": size,
                    "images": images,
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "rss_before_kib": rss_before,
                    "peak_rss_kib": peak,
                }
            )
        )


def encoders(size: str) -> None:
    """Size and CPU of PNG levels (and the run-length strategy) and WebP settings, on one
    rendered image."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("LOCAL_DEV", "1")  # a local run (viewbait.settings refuses else)
    import django

    django.setup()
    from PIL import Image

    from generation.providers.base import ImageRequest, RenderSpec
    from generation.providers.local import LocalRenderer

    request = ImageRequest(
        prompt="",
        aspect_ratio="16:9",
        image_size=size,
        model="local",
        spec=RenderSpec(title="I Tried 100 Coffee Shops", subtitle="Only 1 Was Worth It", seed=7),
    )
    generated = LocalRenderer().generate_image(request)
    image = getattr(generated, "image", None) or Image.open(io.BytesIO(generated.data))
    image = image.convert("RGB")

    def timed(save, repeat: int) -> tuple[float, int]:
        best = float("inf")
        for _ in range(repeat):
            buffer = io.BytesIO()
            started = time.process_time()
            save(buffer)
            best = min(best, time.process_time() - started)
        return best, len(buffer.getvalue())

    print(f"full image {image.width}x{image.height} PNG (best of 2, process CPU):")
    for level, strategy in ((1, None), (3, None), (6, None), (9, None), (6, "Z_RLE"), (9, "Z_RLE")):
        options: dict[str, int] = {"compress_level": level}
        if strategy:
            options["compress_type"] = getattr(zlib, strategy)
        cpu, nbytes = timed(lambda b, o=options: image.save(b, "PNG", **o), 2)
        label = f"compress_level={level}" + (f" compress_type={strategy}" if strategy else "")
        print(f"  PNG {label}: {nbytes / 1e6:6.2f} MB  {cpu * 1000:7.0f} ms")
    for width in (800, 400):
        preview = image.resize(
            (width, round(image.height * width / image.width)),
            Image.Resampling.LANCZOS,
            reducing_gap=3.0,
        )
        print(f"{width} px preview WebP (best of 3):")
        for quality, method in ((75, 4), (82, 4), (82, 6), (82, 2), (90, 4), (82, 0)):
            cpu, nbytes = timed(
                lambda b, q=quality, m=method, p=preview: p.save(b, "WEBP", quality=q, method=m),
                3,
            )
            print(
                f"  WebP quality={quality} method={method}: {nbytes / 1e3:6.1f} kB"
                f"  {cpu * 1000:6.1f} ms"
            )
    for label, kwargs in (
        ("LANCZOS", {}),
        ("LANCZOS reducing_gap=3", {"reducing_gap": 3.0}),
    ):
        started = time.process_time()
        for width in (800, 400):
            image.resize(
                (width, round(image.height * width / image.width)),
                Image.Resampling.LANCZOS,
                **kwargs,
            )
        print(f"previews 800+400 px by {label}: {(time.process_time() - started) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1K,2K,4K")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--variations", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--watermark", action="store_true", help="Free plan: watermarked")
    parser.add_argument("--encoders", action="store_true")
    parser.add_argument("--encoder-size", default="4K")
    parser.add_argument("--face", action="store_true", help="each image places a face photo")
    parser.add_argument(
        "--face-memo",
        type=int,
        default=None,
        help="with --face: generation.providers.local.FACE_PHOTO_MEMO (0: every image decodes,"
        " detects and cuts out the photo again)",
    )
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    face_memo = None
    if args.face:
        from PIL import Image

        assert Image.open(FACE_PHOTO).size == FACE_SIZE, Image.open(FACE_PHOTO).size
        face_memo = 4 if args.face_memo is None else args.face_memo
    if args.child:
        child(args.child, args.jobs, args.variations, args.threads, args.watermark, face_memo)
        return
    if args.encoders:
        encoders(args.encoder_size)
        return
    print(
        f"{args.jobs} jobs x {args.variations} variations, {args.threads} worker threads, "
        f"offline renderer, 16:9, database: {os.environ.get('DATABASE_URL', 'sqlite')[:11]}"
        + (f", a face photo (FACE_PHOTO_MEMO={face_memo})" if face_memo is not None else "")
    )
    for size in args.sizes.split(","):
        command = [sys.executable, str(HERE / "worker_images.py"), "--child", size]
        command += ["--jobs", str(args.jobs), "--variations", str(args.variations)]
        command += ["--threads", str(args.threads)] + (["--watermark"] if args.watermark else [])
        if face_memo is not None:
            command += ["--face", "--face-memo", str(face_memo)]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(out.stdout[-2000:], out.stderr[-4000:])
            raise SystemExit(f"{size}: child failed")
        data = json.loads(lines[-1])
        print(
            f"{size}: {data['images']} images, {data['cpu_s'] / data['images']:.2f} CPU s/image, "
            f"wall {data['wall_s']:.1f} s, peak RSS {data['peak_rss_kib'] / 1024:,.0f} MiB "
            f"(before the jobs {data['rss_before_kib'] / 1024:,.0f} MiB)"
        )


if __name__ == "__main__":
    main()
