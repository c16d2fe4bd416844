"""Server-rendered pages (htmx). Thin views: parse, call one service, render.

Every partial a page uses is also a permission-checked view of its own, so requesting a partial
directly never skips a check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from billing import payments
from billing.models import ALL_ASPECT_RATIOS, ALL_RESOLUTIONS, Plan
from billing.services import (
    credits_renew_at,
    effective_plan,
    get_balance,
    ledger_page,
    plan_on_hold,
    plan_table,
)
from core import ratelimits
from core.api import renders_refusals
from core.auth import prefetch_with_user
from core.types import AuthenticatedHttpRequest
from generation import catalog
from generation.errors import form_message, refusal_for
from generation.pipeline import Submission, submit
from generation.progress import job_payload
from generation.services import cancel_job as do_cancel_job
from studio import form_cache, page_memo, services
from studio.api_schema import PalettePatch, StylePatch
from studio.cards import prepare_cards
from studio.credit_history import history_rows
from studio.forms import FaceForm, PaletteForm, StyleForm, form_fields
from studio.gallery import GalleryFilter, parse_filters
from studio.gallery_cache import first_page_html
from studio.job_types import generate_prices
from studio.job_types.analyse_video import VIDEO_CREDITS
from studio.job_types.generate import GenerateThumbnails
from studio.library_cache import usable_palettes, usable_styles
from studio.media import media_url
from studio.models import Face, Project, Style, Thumbnail
from studio.prompts import EXPRESSIONS, POSES
from studio.serializers import YouTubeChannelInput
from studio.services import StudioError
from studio.studio_data import load_studio, studio_namespaces
from studio.style_previews import ensure_preview

GALLERY_ORDERS = [
    ("newest", "Newest"),
    ("oldest", "Oldest"),
    ("title", "Title A-Z"),
    ("clicks", "Most share clicks"),
]
# The studio forms' labels of the job inputs, for their error messages (generation.errors).
FORM_LABELS = {
    "title": "Thumbnail text",
    "instructions": "Custom instructions",
    "style_id": "Style",
    "palette_id": "Palette",
    "face_ids": "Faces",
    "thumbnail_ids": "Thumbnails",
    "images": "Images",
    "video_url": "YouTube video",
}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("studio")
    return TemplateResponse(
        request, "studio/home.html", {"plans": plan_table(), "offline": catalog.is_offline()}
    )


def _unlocked_by(plans: list[Plan], allows: Callable[..., bool]) -> str:
    """The first plan (in plan order) that allows an option, for "upgrade" hints."""
    return next((plan.name for plan in plans if allows(plan)), "")


def _plan_options(plan: Plan) -> dict[str, list[tuple[Any, bool, str]]]:
    """Each plan-limited choice as `(value, allowed, name of the plan that unlocks it or "")`."""
    plans = plan_table()
    return {
        "aspect_ratios": [
            (r, r in plan.aspect_ratios, _unlocked_by(plans, lambda p, r=r: r in p.aspect_ratios))
            for r in ALL_ASPECT_RATIOS
        ],
        "resolutions": [
            (r, r in plan.resolutions, _unlocked_by(plans, lambda p, r=r: r in p.resolutions))
            for r in ALL_RESOLUTIONS
        ],
        "variation_choices": [
            (n, n <= plan.max_variations, _unlocked_by(plans, lambda p, n=n: n <= p.max_variations))
            for n in range(1, 5)
        ],
    }


def _generate_price(plan: Plan, resolutions: list[tuple[Any, bool, str]]) -> dict[str, Any]:
    """The generate job type's prices for the form's choices (`generate_prices`, for studio.js)
    and `generate_cost`, the price of the choices the form opens with (the plan's first
    resolution, one variation, the default model), for Generate's label and whether the
    balance can pay for it before any script runs; `resolution_prices`, [(resolution, credits
    for one image)] with the default model, for the hint under the output settings."""
    prices = generate_prices(plan)
    first = next((r for r, allowed, _ in resolutions if allowed), ALL_RESOLUTIONS[0])
    by_resolution = prices["prices"][prices["default"]]
    return {
        "generate_prices": prices,
        "generate_cost": by_resolution[first]["1"],
        # One image at each resolution with the default model, for the form's hint.
        "resolution_prices": [
            (resolution, by_resolution[resolution]["1"]) for resolution in ALL_RESOLUTIONS
        ],
    }


def _studio_context(
    request: AuthenticatedHttpRequest, filters: GalleryFilter, cooldown_left: int | None = None
) -> dict[str, Any]:
    """The studio page's context; `cooldown_left` when the view has read it already."""
    user = request.user
    landing = filters == GalleryFilter()  # the unfiltered first page: from the fragment cache
    data = load_studio(user, filters, with_page=not landing)
    gallery_html = None
    if landing:
        gallery_html = first_page_html(
            user, data.projects, can_analyse_palette=data.plan.has_feature("analyse_palette")
        )
    else:
        assert data.page is not None
        prepare_cards(user, data.page.items)
    context = {
        "plan": data.plan,
        # Past due, paused, canceled: the plan subscribed to, whose limits are off (the pill
        # names it, as /plans/ does).
        "on_hold": plan_on_hold(user),
        "styles": data.styles,
        "palettes": data.palettes,
        "faces": data.faces,
        "projects": data.projects,
        **_plan_options(data.plan),
        "expressions": EXPRESSIONS,
        "poses": POSES,
        "models": catalog.image_models(data.plan.slug),
        "default_model": catalog.default_image_model(data.plan.slug).id,
        "offline": catalog.is_offline(),
        "video_credits": VIDEO_CREDITS,  # what Analyse video and Suggest concepts cost
        "page": data.page,
        "gallery_html": gallery_html,
        "user_id": user.pk,  # read once, not through the lazy request.user in the styles loop
        "filters": filters,
        "gallery_orders": GALLERY_ORDERS,
        "jobs": _with_subjects(user, data.jobs),
        "idempotency_key": uuid.uuid4().hex,
        "cooldown_left": (
            _cooldown_left(request, data.plan) if cooldown_left is None else cooldown_left
        ),
        **out_of_credits(request.user, data.credits),
    }
    context.update(_generate_price(data.plan, context["resolutions"]))
    context["pickers_html"] = form_cache.pickers_html(context)
    return context


def _with_subjects(user: Any, jobs: list[tuple[Any, Any]]) -> list[tuple[Any, Any, Any]]:
    """The studio's cards of jobs in flight as `(job, payload, subject)`: a tool's thumbnail
    (`job_subject`, which its card names), None for the rest; one query for all of them."""
    ids = {i for job, _ in jobs if (i := _subject_id(job)) is not None}
    found = {t.pk: t for t in Thumbnail.objects.filter(owner=user, pk__in=ids)} if ids else {}
    return [(job, payload, found.get(_subject_id(job) or 0)) for job, payload in jobs]


def _subject_id(job: Any) -> int | None:
    """The id of the thumbnail a tool's job was run on (`params["thumbnail_id"]`), or None."""
    found = job.params.get("thumbnail_id") if isinstance(job.params, dict) else None
    return found if isinstance(found, int) else None


def _studio_filters(request: HttpRequest) -> GalleryFilter:
    """The gallery filters of the studio's address; unreadable ones show the unfiltered page."""
    try:
        return parse_filters(request.GET)
    except ValueError:
        return GalleryFilter()


def _studio_namespaces(request: HttpRequest, user_id: Any) -> list[str]:
    # The cached first gallery page only where `_studio_context` uses it: the unfiltered page.
    return studio_namespaces(user_id, with_gallery=_studio_filters(request) == GalleryFilter())


@prefetch_with_user(_studio_namespaces)
@login_required
@vary_on_headers("HX-Request")
def studio(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = _studio_filters(request)
    if (
        isinstance(filters.project, int)
        and not Project.objects.for_owner(request.user).filter(pk=filters.project).exists()
    ):
        # A project deleted since its address was kept (the library's "open in the studio",
        # the Back button): the gallery said "No thumbnails match." under "All projects".
        messages.info(request, "That project no longer exists; the gallery shows all projects.")
        rest = replace(filters, project=None)
        query = "" if rest == GalleryFilter() else f"?{rest.query()}"
        return redirect(reverse("studio") + query)
    # The plain page comes from this process's memo while nothing it shows has changed
    # (studio.page_memo); a running generate cooldown is drawn on the page, so never then.
    plain = page_memo.plain_request(request, filters)
    key = page_memo.page_key(request.user.pk) if plain else None
    # Read once: the context below takes it (a Redis read, on plans with a cooldown).
    cooldown = _cooldown_left(request, effective_plan(request.user)) if key is not None else None
    if key is not None and not cooldown:
        html = page_memo.lookup(key)
        if html is not None:
            return page_memo.respond(request, html)
    context = _studio_context(request, filters, cooldown)
    if plain and page_memo.rememberable(context):
        key = page_memo.page_key(request.user.pk)  # after the page's reads: every token known
        if key is not None:
            context.update(page_memo.placeholders())
            html = render_to_string("studio/studio.html", context, request)
            page_memo.store(key, html, request.user.pk)
            return page_memo.respond(request, html)
    return TemplateResponse(request, "studio/studio.html", context)


def _cooldown_left(request: HttpRequest, plan: Plan) -> int:
    """Seconds left of a generate cooldown from before this page (plans with one), else 0."""
    if not plan.generate_cooldown_seconds:
        return 0
    return ratelimits.cooldown_left(request, GenerateThumbnails.rate_limit_route)


def out_of_credits(user: Any, credits: int) -> dict[str, Any]:
    """`credits` and what the "You are out of credits" hint needs (the page's, or one sent out
    of band with a job card): when the plan's credits renew (a query, made only at 0 credits)
    and whether credit packs can be bought (Stripe configured)."""
    if credits != 0:
        return {"credits": credits, "renews_at": None, "payments": False}
    return {"credits": 0, "renews_at": credits_renew_at(user), "payments": payments.configured()}


def renewal_sentence(user: Any) -> str:
    """ "Your plan's credits renew on 3 January." (the subscription's period end), or an empty
    string before the account is opened."""
    renews_at = credits_renew_at(user)
    if renews_at is None:
        return ""
    return f"Your plan's credits renew on {date_format(localtime(renews_at), 'j F')}."


def _form_error(
    request: AuthenticatedHttpRequest,
    message: str,
    status: int,
    *,
    new_key: bool = False,
    target: str = "#generate-errors",
    plans_link: bool = False,
    expires_in: int | None = None,
) -> TemplateResponse:
    """The error fragment for `target` (HX-Retarget; studio.js swaps such error answers).
    `new_key` also sends a fresh idempotency key out of band, for when the sent one is spent;
    `plans_link` adds a link to the plans page; `expires_in` (seconds, e.g. a rate limit's
    Retry-After) lets studio.js count the message down and remove it once it stops being true."""
    context: dict[str, Any] = {
        "error": message,
        "plans_link": plans_link,
        "expires_in": expires_in,
    }
    if new_key:
        context.update(idempotency_key=uuid.uuid4().hex, oob=True)
    response = TemplateResponse(request, "studio/studio.html#form-error", context, status=status)
    response["HX-Retarget"] = target
    response["HX-Reswap"] = "innerHTML"
    return response


def _refused_fragment(
    request: AuthenticatedHttpRequest, exc: Exception, target: str
) -> TemplateResponse:
    """A refused job request as the form's error fragment (generation.errors' table). A spent
    idempotency key (409) also sends a fresh one."""
    refusal = refusal_for(exc)
    if refusal is None:
        raise exc
    message = form_message(refusal, FORM_LABELS)
    if refusal.code == "idempotency_key_reused":
        message = "This form was already sent with other values; check your jobs, then try again."
    if refusal.code == "insufficient_credits":
        message = f"{message} {renewal_sentence(request.user)}"
    response = _form_error(
        request,
        message,
        refusal.status,
        new_key=refusal.code == "idempotency_key_reused",
        target=target,
        plans_link=refusal.code in ("plan_feature", "insufficient_credits"),
        expires_in=refusal.retry_after if refusal.code == "rate_limited" else None,
    )
    return ratelimits.add_headers(response, refusal.usages, refusal.retry_after)


def _job_accepted(
    request: AuthenticatedHttpRequest,
    submission: Submission,
    *,
    fresh_key: bool,
    clear_errors: str = "",
) -> TemplateResponse:
    """The new job's card, with the credits badge out of band; `fresh_key` (the generate form)
    also sends a new idempotency key and clears #generate-errors; `clear_errors` (a tool's
    error box id) empties that box, so an earlier refusal does not stay beside the new card."""
    response = TemplateResponse(
        request,
        "studio/studio.html#job-card",
        {
            "job": submission.job,
            "payload": job_payload(submission.job, with_result=submission.has_result),
            "subject": job_subject(request, submission.job),
            **out_of_credits(request.user, submission.balance(request.user)),
            "idempotency_key": uuid.uuid4().hex if fresh_key else "",
            "clear_errors": clear_errors,
            "oob": True,
        },
        status=202,
    )
    if not submission.created:
        response["HX-Reswap"] = "none"
    ratelimits.add_headers(response, submission.usages)
    return response


def guard_message(request: HttpRequest, code: str, message: str) -> str:
    """A refusal of viewbait.input_guard (made before any view runs) as a creator reads it."""
    if code == "invalid_characters":
        return (
            "Some text holds a character the studio cannot keep (an invisible NUL, or half of "
            "an emoji); remove it and try again."
        )
    if code == "request_too_large" and request.content_type == "multipart/form-data":
        # UPLOAD_MAX_REQUEST_BYTES is 10 images of UPLOAD_MAX_BYTES and 1 MiB for the fields.
        each = max(1, round(settings.UPLOAD_MAX_BYTES / 2**20))
        in_all = max(each, (settings.UPLOAD_MAX_REQUEST_BYTES - 2**20) // 2**20)
        return (
            f"The images are too large: up to {each} MB each and {in_all} MB in all; send "
            "smaller or fewer images."
        )
    if code == "request_too_large":
        return "The form holds more text than the studio takes; shorten it and try again."
    if code == "invalid_form":
        return "The form could not be read; reload the page and try again."
    return message


def _guard_fragment(
    request: HttpRequest, message: str, code: str, status: int, target: str
) -> HttpResponse:
    """viewbait.input_guard's refusal as the form's error fragment for `target` (as
    `_form_error`, rendered at once: the guard answers before any view or template response
    machinery runs, and before the request has a user)."""
    html = render_to_string(
        "studio/studio.html#form-error", {"error": guard_message(request, code, message)}
    )
    response = HttpResponse(html, status=status)
    response["HX-Retarget"] = target
    response["HX-Reswap"] = "innerHTML"
    return response


def _generate_refusal(
    request: HttpRequest, message: str, code: str, status: int, kwargs: dict[str, Any]
) -> HttpResponse:
    return _guard_fragment(request, message, code, status, "#generate-errors")


def _tool_refusal(
    request: HttpRequest, message: str, code: str, status: int, kwargs: dict[str, Any]
) -> HttpResponse:
    target = _tool_errors_target(request, str(kwargs.get("type_name", "")))
    return _guard_fragment(request, message, code, status, target)


@renders_refusals(_generate_refusal)
@login_required
@require_POST
def generate(request: AuthenticatedHttpRequest) -> TemplateResponse:
    """htmx form post: answers the new job's card (prepended to #jobs) with the credits badge, a
    fresh idempotency key and a cleared #generate-errors out of band; or a readable error for
    #generate-errors. A replay of the same key (a double submit) charges nothing and adds no
    second card (HX-Reswap: none), but still refreshes the key."""
    return _submit_form(request, "generate_thumbnails", "#generate-errors")


def _tool_errors_target(request: HttpRequest, type_name: str) -> str:
    """Where a tool form's errors go: `#errors-<type>` under a form that targets its own
    `#results-<type>` (htmx sends the target's id as HX-Target), else #tool-errors."""
    own_results = request.headers.get("HX-Target") == f"results-{type_name}"
    return f"#errors-{type_name}" if own_results and type_name.isidentifier() else "#tool-errors"


@renders_refusals(_tool_refusal)
@login_required
@require_POST
def run_tool(request: AuthenticatedHttpRequest, type_name: str) -> TemplateResponse:
    """htmx post of any job type's form (`/studio/tools/<type>`; fields and files as its input
    schema takes them): the job's card for the form's target, or an error fragment. A tool on a
    thumbnail's large view targets `#results-<type>` and gets its errors in `#errors-<type>`,
    under its own form; other forms in #tool-errors (`_tool_errors_target`)."""
    return _submit_form(request, type_name, _tool_errors_target(request, type_name))


def _submit_form(
    request: AuthenticatedHttpRequest, type_name: str, errors_target: str
) -> TemplateResponse:
    """Submit a job from a form post: fields named `*_ids` (and any sent more than once) are
    lists, files go by field name, `idempotency_key` is the form's hidden key."""
    data = form_fields(request.POST)
    try:
        submission = submit(
            request,
            type_name=type_name,
            data=data,
            files={name: request.FILES.getlist(name) for name in request.FILES},
            idempotency_key=request.POST.get("idempotency_key") or None,
        )
    except Exception as exc:
        return _refused_fragment(request, exc, errors_target)
    if errors_target == "#generate-errors":
        return _job_accepted(request, submission, fresh_key=True)
    return _job_accepted(request, submission, fresh_key=False, clear_errors=errors_target[1:])


@login_required
@require_POST
def cancel_job(request: AuthenticatedHttpRequest, job_id: str) -> TemplateResponse:
    """Cancel a queued or running job (undelivered units refunded); answers its card."""
    job = services.access_job(request.user, job_id)
    job = do_cancel_job(job)
    return TemplateResponse(
        request,
        "studio/studio.html#job-card",
        {
            **_job_card_context(job),
            **out_of_credits(request.user, get_balance(request.user)),
            "oob": True,
        },
    )


def current_path(request: HttpRequest) -> str:
    """The path of the page htmx sent this request from (`HX-Current-URL`), or "" when the
    header is missing or not a URL (e.g. "http://[oops/")."""
    try:
        return urlsplit(request.headers.get("HX-Current-URL", "")).path
    except ValueError:
        return ""


def _job_card_context(job: Any) -> dict[str, Any]:
    return {"job": job, "payload": job_payload(job)}


def job_subject(request: AuthenticatedHttpRequest, job: Any) -> Thumbnail | None:
    """The thumbnail a tool's job was run on (`params["thumbnail_id"]`: Analyse palette from a
    gallery card, a check or an edit from another tab), for its card on the studio page, where
    it is named: "Analyse palette" alone did not say which of the gallery's thumbnails it
    measured. None elsewhere (a thumbnail's own page shows the card under its picture), for
    other jobs, or once the thumbnail is gone."""
    thumbnail_id = _subject_id(job)
    if thumbnail_id is None or current_path(request) != reverse("studio"):
        return None
    return Thumbnail.objects.filter(pk=thumbnail_id, owner_id=job.user_id).first()


def gallery_filters_of_page(request: HttpRequest) -> GalleryFilter | None:
    """The studio gallery's filters in the address htmx sent this request from
    (`HX-Current-URL`'s query), or None when they cannot be read."""
    try:
        query = urlsplit(request.headers.get("HX-Current-URL", "")).query
        return parse_filters(QueryDict(query))
    except ValueError:
        return None


def under_gallery_filters(
    filters: GalleryFilter | None, thumbnails: list[Thumbnail]
) -> list[Thumbnail]:
    """Those of `thumbnails` the studio's gallery shows under `filters` (favourites, a search,
    a project), in their order: a new thumbnail the filters leave out is not put at the top of
    the gallery, where it vanished on a reload. Unreadable filters (None) show them all, as the
    gallery does."""
    if not thumbnails or filters is None or filters == GalleryFilter(order=filters.order):
        return thumbnails
    shown = set(
        filters.apply(Thumbnail.objects.filter(pk__in=[t.pk for t in thumbnails])).values_list(
            "pk", flat=True
        )
    )
    return [thumbnail for thumbnail in thumbnails if thumbnail.pk in shown]


@login_required
@require_safe
def job_card(request: AuthenticatedHttpRequest, job_id: str) -> TemplateResponse:
    """The job's card; once finished, its thumbnails are also swapped into the studio's gallery
    (OOB) when the card is refreshed from the studio page (other pages have no gallery)."""
    job = services.access_job(request.user, job_id)
    on_studio = current_path(request) == reverse("studio")
    made = list(job.thumbnails.order_by("variation_index")) if job.is_finished and on_studio else []
    filters = gallery_filters_of_page(request)
    thumbnails = under_gallery_filters(filters, made)
    # Only the newest-first gallery has a new thumbnail's place at its top; under another
    # order the card says where they went instead of putting them first.
    out_of_order = 0
    newest_url = ""
    elsewhere: list[Thumbnail] = []  # those, each linked to its page from the card's note
    if thumbnails and filters is not None and filters.order != "newest":
        out_of_order, elsewhere, thumbnails = len(thumbnails), thumbnails, []
        newest = replace(filters, order="newest")
        newest_url = reverse("studio") + ("" if newest == GalleryFilter() else f"?{newest.query()}")
    # "Show all" drops the filters that hid a thumbnail, not the order the creator chose.
    every = GalleryFilter(order=filters.order if filters is not None else "newest")
    show_all_url = reverse("studio") + ("" if every == GalleryFilter() else f"?{every.query()}")
    prepare_cards(request.user, thumbnails)
    return TemplateResponse(
        request,
        "studio/studio.html#job-card",
        {
            **_job_card_context(job),
            "subject": job_subject(request, job),
            "new_thumbnails": thumbnails,
            "made_thumbnails": len(made),
            "hidden_thumbnails": len(made) - len(thumbnails) - out_of_order,
            "out_of_order": out_of_order,
            "out_of_order_thumbnails": elsewhere,
            "order_label": dict(GALLERY_ORDERS).get(filters.order, "") if filters else "",
            "newest_url": newest_url,
            "show_all_url": show_all_url,
            "projects": list(Project.objects.for_owner(request.user)) if thumbnails else [],
            **out_of_credits(request.user, get_balance(request.user)),
            "oob": True,
        },
    )


@login_required
@require_safe
def credit_history(request: AuthenticatedHttpRequest) -> TemplateResponse:
    """The creator's credit movements, newest first, 50 a page (`?before=<entry id>` for
    older ones; an unreadable value shows the first page), with the balance, plan and when
    its credits renew."""
    user = request.user
    before = request.GET.get("before", "")
    before_id = int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None
    entries, next_before = ledger_page(user, before=before_id)
    return TemplateResponse(
        request,
        "studio/credits.html",
        {
            "plan": effective_plan(user),
            "credits": get_balance(user),
            "renews_at": credits_renew_at(user),
            "rows": history_rows(entries),
            "next_before": next_before,
            "paged": before_id is not None,
        },
    )


def account_deleted_message(thumbnails: int) -> str:
    """What the sign-up page says after an account went with its `thumbnails` thumbnails:
    "Your account was deleted." for none ("its 0 thumbnails" read as a fault), else "Your
    account and its 1 thumbnail were deleted." / "... its 3 thumbnails were deleted."."""
    if not thumbnails:
        return gettext("Your account was deleted.")
    return ngettext(
        "Your account and its %(count)d thumbnail were deleted.",
        "Your account and its %(count)d thumbnails were deleted.",
        thumbnails,
    ) % {"count": thumbnails}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@ratelimits.limit("login")  # a password check: the log-in budget, so no way round it
def account_delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: what deleting the account removes, and a password field. POST `password`: the
    account and everything in it go (`services.do_delete_account`), the creator is signed out
    and sent to the sign-up page with a message. A wrong password, or a Stripe plan that still
    renews (409 `subscription_active`), shows the page again with the reason (status 400/409);
    while the plan renews the page has no password field, but Manage billing to cancel it."""
    from django.contrib.auth import logout

    user = request.user
    error, status = "", 200
    if request.method == "POST":
        if not user.check_password(request.POST.get("password", "")):
            error, status = "That password is not this account's.", 400
        else:
            try:
                count = services.do_delete_account(user=user)
            except StudioError as exc:
                error, status = exc.message, exc.status
            else:
                logout(request)
                messages.success(request, account_deleted_message(count))
                return redirect("account_signup")
    return TemplateResponse(
        request,
        "account/delete.html",
        {
            "error": error,
            # Said before the password is typed, with the way to cancel (the POST refuses too):
            # the billing portal's form, with its operation id (billing.views._operation_id).
            "still_renews": services.renews_through_stripe(user),
            "operation_id": uuid.uuid4().hex,
            "thumbnails": user.thumbnails.count(),
            "faces": user.faces.count(),
            "credits": get_balance(user),
        },
        status=status,
    )


def _palette_panel(user: Any, plan: Plan) -> dict[str, Any]:
    """The library's palette list and whether its New palette form gives way to the plan's
    limit note (services.check_custom_asset_quota still refuses a post): for the library page,
    and for a palette saved from an analysis on it."""
    palettes = usable_palettes(user)
    limit = plan.custom_asset_limit
    return {
        "palettes": palettes,
        "palette_limit_reached": limit is not None
        and sum(palette.owner_id == user.pk for palette in palettes) >= limit,
    }


@login_required
def library(request: AuthenticatedHttpRequest) -> TemplateResponse:
    user = request.user
    plan = effective_plan(user)
    styles = usable_styles(user)
    # The creator's own tiles list their reference images: one query for all of them, whether
    # the styles came from the shared cache or the database (the cached lists hold none, so an
    # added or removed reference is never served stale). Prefetched on this request's copies.
    prefetch_related_objects([s for s in styles if s.owner_id == user.pk], "reference_images")
    limit = plan.custom_asset_limit
    return TemplateResponse(
        request,
        "studio/library.html",
        {
            "plan": plan,
            "credits": get_balance(user),
            "faces": services.measure_unmeasured_faces(
                Face.objects.for_owner(user).prefetch_related("images")
            ),
            "styles": styles,
            **_palette_panel(user, plan),
            # The forms give way to a note at the plan's limit, as the faces' form does
            # (services.check_custom_asset_quota still refuses a post).
            "style_limit_reached": limit is not None
            and sum(style.owner_id == user.pk for style in styles) >= limit,
            "face_form": FaceForm(),
            "style_form": StyleForm(),
            "palette_form": PaletteForm(),
            # With their thumbnail and favourite counts, in the one query (COUNTs per project
            # group): a share link showing nothing yet says so beside it.
            "projects": Project.objects.for_owner(user).annotate(
                thumbnail_count=Count("thumbnails"),
                favorite_count=Count("thumbnails", filter=Q(thumbnails__is_favorite=True)),
            ),
            "share_modes": Project.ShareMode.choices,
            "offline": catalog.is_offline(),
            "max_references": services.MAX_STYLE_REFERENCES,
        },
    )


@login_required
@require_POST
@ratelimits.limit("face_upload")
def create_face(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = FaceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            face = services.do_create_face(
                owner=request.user,
                name=form.cleaned_data["name"],
                files=form.cleaned_data["images"],
            )
        except StudioError as exc:
            form.add_error(None, exc.message)
        else:
            note = " ".join(filter(None, ["Face saved.", face.photo_note]))
            messages.success(request, note, extra_tags="panel faces")
            return redirect("library")
    return _library_with_errors(request, face_form=form)


@login_required
@require_POST
@ratelimits.limit("library_create")
def create_style(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = StyleForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            data = dict(form.cleaned_data)
            services.do_create_style(
                owner=request.user, references=data.pop("reference_images"), **data
            )
        except StudioError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Style saved.", extra_tags="panel styles")
            return redirect("library")
    return _library_with_errors(request, style_form=form)


@login_required
@require_POST
@ratelimits.limit("library_create")
def create_palette(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PaletteForm(request.POST)
    if form.is_valid():
        try:
            services.do_create_palette(owner=request.user, **form.cleaned_data)
        except StudioError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Palette saved.", extra_tags="panel palettes")
            return redirect("library")
    return _library_with_errors(request, palette_form=form)


def _library_with_errors(request: AuthenticatedHttpRequest, **forms: Any) -> TemplateResponse:
    response = library(request)
    response.context_data.update(forms)  # type: ignore[union-attr]
    response.status_code = 400
    return response


@login_required
@require_http_methods(["POST"])
def delete_face(request: AuthenticatedHttpRequest, face_id: int) -> HttpResponse:
    services.do_delete_face(face=services.access_face(request.user, face_id))
    messages.success(request, "Face deleted.")
    return redirect("library")


@login_required
@require_http_methods(["POST"])
def delete_style(request: AuthenticatedHttpRequest, style_id: int) -> HttpResponse:
    services.do_delete_style(style=services.access_own_style(request.user, style_id))
    messages.success(request, "Style deleted.")
    return redirect("library")


@login_required
@require_http_methods(["POST"])
def delete_palette(request: AuthenticatedHttpRequest, palette_id: int) -> HttpResponse:
    services.do_delete_palette(palette=services.access_own_palette(request.user, palette_id))
    messages.success(request, "Palette deleted.")
    return redirect("library")


def _edited_tile(
    request: AuthenticatedHttpRequest, partial: str, panel: str, error: str, context: dict[str, Any]
) -> HttpResponse:
    """The answer to a library tile's Edit form. htmx: the tile again (`partial` of the library
    page), saying it was saved or why not (200 either way, so htmx swaps it in); otherwise a
    redirect to the library's `#<panel>` with the message."""
    if request.headers.get("HX-Request") == "true":
        return TemplateResponse(
            request,
            f"studio/library.html#{partial}",
            {
                **context,
                "edit_error": error,
                "edit_saved": not error,
                "max_references": services.MAX_STYLE_REFERENCES,
            },
        )
    noun = panel.rstrip("s").capitalize()
    if error:
        messages.error(
            request, f"The {noun.lower()} was not saved. {error}", extra_tags=f"panel {panel}"
        )
    else:
        messages.success(request, f"{noun} saved.", extra_tags=f"panel {panel}")
    return redirect(f"{reverse('library')}#{panel}")


@login_required
@require_POST
@ratelimits.limit("library_create")
def update_style(request: AuthenticatedHttpRequest, style_id: int) -> HttpResponse:
    """A style tile's Edit form: `name`, `description`, `prompt`, `remove_reference_ids`
    (checked boxes), `reference_images` (files), validated by `StylePatch` as the API does.
    404 for a style not the creator's own (built-in, public or a stranger's)."""
    style = services.access_own_style(request.user, style_id)
    data = {
        **form_fields(request.POST, only=("name", "description", "prompt")),
        "remove_reference_ids": request.POST.getlist("remove_reference_ids"),
        "reference_images": request.FILES.getlist("reference_images"),
    }
    serializer = StylePatch(data=data)
    error = ""
    if not serializer.is_valid():
        error = _first_error_message(serializer.errors)
    else:
        try:
            services.do_update_style(style=style, **serializer.changes())
        except StudioError as exc:
            if exc.status == 404:  # deleted meanwhile (another tab)
                raise Http404(exc.message) from exc
            error = exc.message
    context: dict[str, Any] = {"style": style}
    if error:  # the form shows what was typed (never saved), the tile the saved style
        style.refresh_from_db()
        context["edit"] = {
            name: data[name] if isinstance(data.get(name), str) else getattr(style, name)
            for name in ("name", "description", "prompt")
        }
    return _edited_tile(request, "style-tile", "styles", error, context)


@login_required
@require_POST
@ratelimits.limit("library_create")
def update_palette(request: AuthenticatedHttpRequest, palette_id: int) -> HttpResponse:
    """A palette tile's Edit form: `name` and `colors` (text, as the New palette form takes
    them), validated by `PalettePatch` as the API does. 404 for a palette not the creator's."""
    palette = services.access_own_palette(request.user, palette_id)
    posted = form_fields(request.POST, only=("name", "colors"))
    data = dict(posted)
    if isinstance(posted.get("colors"), str):
        data["colors"] = [c for c in posted["colors"].replace(" ", ",").split(",") if c.strip()]
    serializer = PalettePatch(data=data)
    error = ""
    if not serializer.is_valid():
        error = _first_error_message(serializer.errors)
    else:
        fields = serializer.validated_data
        try:
            services.do_update_palette(
                palette=palette, name=fields.get("name"), colors=fields.get("colors")
            )
        except StudioError as exc:
            if exc.status == 404:  # deleted meanwhile (another tab)
                raise Http404(exc.message) from exc
            error = exc.message
    context: dict[str, Any] = {"palette": palette}
    if error:
        palette.refresh_from_db()
        context["edit_name"] = posted.get("name", "")
        context["edit_colors"] = posted.get("colors", "")
    return _edited_tile(request, "palette-tile", "palettes", error, context)


def _save_analysis(
    request: AuthenticatedHttpRequest,
    job_id: str,
    save: Callable[[Any], Any],
    *,
    partial: str,
    saved: Callable[[Any], dict[str, Any]],
    anchor: str,
) -> HttpResponse:
    """The "Save as my ..." button of an analysis result: `save(job)` makes (or finds) the
    asset. htmx: answers the result's save box (`#save-<anchor>-<job id>`) with `partial`
    (context `saved(asset)`), or with the refusal (400/403, HX-Retarget). Without htmx:
    redirects to the library's `#<anchor>s` panel (or back to the studio with the error). A
    stranger's job is a 404."""
    job = services.access_job(request.user, job_id)
    htmx = request.headers.get("HX-Request") == "true"
    try:
        asset = save(job)
    except StudioError as exc:
        if not htmx:
            messages.error(request, exc.message)
            return redirect("studio")
        response = TemplateResponse(
            request,
            partial,
            {"error": exc.message, "plans_link": exc.code == "plan_custom_assets_limit"},
            status=exc.status,
        )
        response["HX-Retarget"] = f"#save-{anchor}-{job.pk}"
        response["HX-Reswap"] = "innerHTML"
        return response
    if not htmx:
        messages.success(request, f"{anchor.capitalize()} “{asset.name}” saved.")
        done = redirect("library")
        done["Location"] += f"#{anchor}s"
        return done
    return TemplateResponse(request, partial, saved(asset))


@login_required
@require_POST
@ratelimits.limit("library_create")
def save_analysed_style(request: AuthenticatedHttpRequest, job_id: str) -> HttpResponse:
    """ "Save as my style" of an `analyse_style` result (`services.do_create_style_from_analysis`;
    `is_public` checkbox); see `_save_analysis`."""
    public = request.POST.get("is_public") in ("true", "on")
    return _save_analysis(
        request,
        job_id,
        lambda job: services.do_create_style_from_analysis(
            owner=request.user, job=job, is_public=public
        ),
        partial="studio/jobs/analyse_style.html#style-saved",
        saved=lambda style: {"style": style, "references": style.reference_images.count()},
        anchor="style",
    )


@login_required
@require_POST
@ratelimits.limit("library_create")
def save_analysed_palette(request: AuthenticatedHttpRequest, job_id: str) -> HttpResponse:
    """ "Save as my palette" of an `analyse_palette` result
    (`services.do_create_palette_from_analysis`: saving it again finds the palette saved
    first); see `_save_analysis`."""
    return _save_analysis(
        request,
        job_id,
        lambda job: services.do_create_palette_from_analysis(owner=request.user, job=job),
        partial="studio/jobs/analyse_palette.html#palette-saved",
        saved=lambda palette: _palette_saved(request, palette),
        anchor="palette",
    )


def _palette_saved(request: AuthenticatedHttpRequest, palette: Any) -> dict[str, Any]:
    """The saved message's context. Saved from the library page, the palette list there is sent
    again (out of band) with the new palette in it (and the plan's limit note in place of the
    New palette form once it is reached), and the message points to it, not to the library."""
    if current_path(request) != reverse("library"):
        return {"palette": palette}
    plan = effective_plan(request.user)
    return {
        "palette": palette,
        "on_library": True,
        "plan": plan,
        **_palette_panel(request.user, plan),
    }


@login_required
@require_safe
def style_preview(request: HttpRequest, style_id: int) -> HttpResponse:
    """Redirect to the style's preview image (drawn on first use, studio.style_previews); 404
    for a style the creator cannot use (another creator's private style)."""
    style = get_object_or_404(Style.objects.usable_by(request.user), pk=style_id)
    url = media_url(ensure_preview(style).preview)
    if url is None:  # no preview could be stored
        raise Http404("No preview for this style.")
    return redirect(url)


@login_required
@require_POST
def set_youtube_channel(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Account page's YouTube channel form (`channel`: an address, @handle or channel id;
    blank forgets it), validated by `YouTubeChannelInput`. htmx: the form's section again, with
    the saved channel or the error (200 either way, so htmx swaps it in: its refusal is the
    same as `PUT /api/me/youtube-channel`'s 400 `invalid` or 403 `plan_feature`); otherwise a
    redirect to the Account page with a message."""
    posted = request.POST.get("channel", "")
    serializer = YouTubeChannelInput(data={"channel": posted})
    error = ""
    if not serializer.is_valid():
        error = _first_error_message(serializer.errors)
    else:
        try:
            services.do_set_youtube_channel(
                user=request.user, reference=serializer.validated_data["channel"]
            )
        except StudioError as exc:
            error = exc.message
    if request.headers.get("HX-Request") == "true":
        return TemplateResponse(
            request,
            "studio/youtube_channel.html#channel-setting",
            {"error": error, "value": posted if error else "", "saved": not error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, gettext("Your YouTube channel was saved."))
    return redirect(reverse("account_email") + "#youtube-channel")


def _first_error_message(errors: Any) -> str:
    for value in errors.values():
        return str(value[0]) if isinstance(value, list) and value else str(value)
    return "Invalid input."
