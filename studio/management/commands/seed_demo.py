from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import override_settings

from billing.models import Plan
from billing.services import (
    change_plan,
    effective_plan,
    get_balance,
    grant_credits,
    open_account,
)
from generation import catalog
from generation.services import execute_job, submit_job
from studio.job_types.generate import GenerateThumbnails
from studio.models import Face, Palette, Project, Style, Thumbnail
from studio.services import do_create_face, do_update_project
from studio.style_previews import ensure_preview

FACE_PHOTO = Path(settings.BASE_DIR) / "tests" / "fixtures" / "face-eileen-collins.jpg"
# (title, style slug, palette name, aspect ratio, with the face, project)
DEMO_THUMBNAILS = (
    ("I Tried 100 Coffee Shops: Only 1 Was Worth It", "vlog-bright", "Sunset Pop", "16:9", True, 0),
    ("This Changed Everything", "cinematic", "Neon Night", "16:9", True, 0),
    ("Speedrun World Record: 4 Minutes Flat", "bold-gaming", "Neon Night", "16:9", False, 2),
    ("iPhone vs Pixel: The Honest Review", "clean-tech", "Clean Tech", "16:9", True, 1),
    ("Day 1 of 100", "retro-pop", "Candy", "9:16", True, 0),
    ("Why Nobody Talks About This", "documentary", "Mono Punch", "1:1", False, 1),
    ("Minimal Desk Setup Tour", "minimal", "Forest Calm", "4:3", False, 1),
    ("3 Levels Nobody Has Beaten: Can You?", "bold-gaming", "YouTube Red", "9:16", True, 2),
)
PROJECTS = ("Coffee series", "Tech reviews", "Speedruns")


def refusal(*, allow_database_url: bool) -> str:
    """Why the demo accounts may not be created here, or "" when they may: they have known
    passwords (one is a superuser), so only in an explicit local run (settings.LOCAL_DEV) and,
    unless asked with `allow_database_url`, only in the embedded SQLite database of VAR_DIR
    (never in a database given by DATABASE_URL)."""
    if not settings.LOCAL_DEV:
        return (
            "seed_demo creates accounts with known passwords, so it runs only with LOCAL_DEV=1 "
            "(`make run` sets it)."
        )
    if not settings.EMBEDDED_DATABASE and not allow_database_url:
        return (
            "seed_demo creates accounts with known passwords; DATABASE_URL names a database "
            "other than the embedded one, so nothing was created. Pass --allow-database-url "
            "(make run SEED_ARGS=--allow-database-url) to create them there anyway."
        )
    return ""


class Command(BaseCommand):
    help = (
        "Create the demo creator and an ops superuser, with known passwords, for a local run "
        "(idempotent; LOCAL_DEV=1 only, and only in the embedded database unless "
        "--allow-database-url). Built-in plans, styles and palettes come from migrations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@viewbait.local")
        parser.add_argument("--password", default="viewbait-demo")
        parser.add_argument("--admin-email", default="admin@viewbait.local")
        parser.add_argument("--admin-password", default="viewbait-admin")
        parser.add_argument(
            "--allow-database-url",
            action="store_true",
            help="create the accounts in the DATABASE_URL database too (never by default)",
        )
        parser.add_argument(
            "--or-skip",
            action="store_true",
            help="when refused, say why and exit 0 instead of failing (what `make run` uses)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason = refusal(allow_database_url=options["allow_database_url"])
        if reason:
            if options["or_skip"]:
                self.stderr.write(f"demo accounts skipped: {reason}")
                return
            raise CommandError(reason)
        User = get_user_model()
        for email, password, staff in (
            (options["email"], options["password"], False),
            (options["admin_email"], options["admin_password"], True),
        ):
            user, created = User.objects.get_or_create(
                username=email, defaults={"email": email, "is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            open_account(user=user)
            self._verify_email(user)
            state = "created" if created else "exists"
            self.stdout.write(
                f"{'admin' if staff else 'creator'} {email} ({state}); password {password}"
            )
            if not staff:
                self._demo_library(user)
        for style in Style.objects.filter(owner=None, preview=""):
            ensure_preview(style)  # the library's style previews, drawn once here

    def _demo_library(self, user: Any) -> None:
        """On the first run: the Pro plan (so every tool can be shown), a face, two projects and
        a gallery of thumbnails in several styles and ratios, rendered offline here."""
        if Thumbnail.objects.filter(owner=user).exists():
            return
        change_plan(user=user, plan=Plan.objects.get(slug="pro"), status="active")
        plan = effective_plan(user)
        # Topped up to the plan's monthly credits (on top of the Free grant every new account
        # gets), so the balance is the "700 monthly credits" the pages speak of.
        top_up = plan.monthly_credits - get_balance(user)
        if top_up > 0:
            grant_credits(
                user=user,
                amount=top_up,
                idempotency_key=f"demo:{user.pk}:pro-grant",
                reason=f"Demo account: topped up to the {plan.name} plan's monthly credits",
            )
        face = Face.objects.filter(owner=user).first()
        if face is None and FACE_PHOTO.exists():
            photo = SimpleUploadedFile("face.jpg", FACE_PHOTO.read_bytes(), "image/jpeg")
            face = do_create_face(owner=user, name="Eileen", files=[photo])
        projects = [Project.objects.get_or_create(owner=user, name=n)[0] for n in PROJECTS]
        # One shared project, so the library shows a share link and its public page has a gallery.
        do_update_project(project=projects[0], share_mode=Project.ShareMode.ALL)
        job_type = GenerateThumbnails()
        local = catalog.get_model(catalog.LOCAL)
        # Rendered right here (execute_job below); the message each submit also sends finds the
        # job finished. No in-process worker is started for it.
        with override_settings(JOBS_RUN_INLINE=False):
            self._render(user, plan, face, projects, job_type, local)
        self.stdout.write(
            f"demo library: {Thumbnail.objects.filter(owner=user).count()} thumbnails"
        )

    def _render(
        self,
        user: Any,
        plan: Plan,
        face: Face | None,
        projects: list[Project],
        job_type: GenerateThumbnails,
        local: catalog.ModelSpec,
    ) -> None:
        for title, slug, palette_name, ratio, with_face, project in DEMO_THUMBNAILS:
            validated = {
                "title": title,
                "instructions": "",
                "style_id": Style.objects.get(slug=slug, owner=None).pk,
                "palette_id": Palette.objects.get(name=palette_name, owner=None).pk,
                "face_ids": [face.pk] if face is not None and with_face else [],
                "expression": "excited" if with_face else "",
                "pose": "",
                "aspect_ratio": ratio,
                "resolution": "1K",
                "variations": 1,
                "project_id": projects[project].pk,
                "model": "",
            }
            params = job_type.snapshot(user=user, validated=validated, plan=plan, model=local)
            job, _, _ = submit_job(
                user=user,
                job_type=job_type.name,
                params=params,
                units=1,
                unit_cost=1,
                model=catalog.LOCAL,
                idempotency_key=f"demo:{title}",
                priority=plan.queue_priority,
            )
            execute_job(str(job.pk))

    def _verify_email(self, user: Any) -> None:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
