"""The OpenAPI schema at /api/schema/ describes the JSON API, checked by schemathesis: for every
operation, generated valid and invalid requests from a signed-in creator get no 5xx and answers
that match the documented shapes (status, content type, body)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.serializers import Serializer

pytestmark = pytest.mark.django_db

CSRF = "schemacsrfschemacsrfschemacsrf12"  # a 32-character CSRF secret, cookie and header


def test_schema_and_docs_are_served_without_a_cdn(anon_client) -> None:
    schema = anon_client.get("/api/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/generate" in schema["paths"]
    assert "Error" in schema["components"]["schemas"]
    docs = anon_client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()
    assert "<script>" not in docs  # only <script src=...>: the CSP allows no inline script
    assert '<a href="/">&larr; ViewBait</a>' in docs  # a way back to the product
    script = anon_client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


def test_an_unknown_schema_format_is_a_json_error(anon_client) -> None:
    """`?format=xml` answered 404 with a YAML body (DRF renders a failed negotiation's error
    with the view's first renderer); under /api/ every error is JSON `{"error", "code"}`."""
    for query, status in (("?format=xml", 404), ("?format=openapi", 404)):
        response = anon_client.get(f"/api/schema/{query}")
        assert response.status_code == status, query
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        assert response.json() == {"error": "Not found.", "code": "not_found"}
    not_acceptable = anon_client.get("/api/schema/", HTTP_ACCEPT="application/xml")
    assert not_acceptable.status_code == 406
    assert not_acceptable.json()["code"] == "not_acceptable"
    assert anon_client.get("/api/schema/").content.startswith(b"openapi: 3.")  # YAML still


def _job_request_shapes_match_the_registry(spec: dict[str, Any]) -> None:
    """POST /api/jobs's JSON and multipart bodies are each oneOf one shape per registered job
    type, picked by `type`: the JSON shape's `input` has exactly the input serializer's fields
    (and its required ones), the multipart shape those fields flat with `type` and the job
    type's upload fields."""
    from generation.registry import job_types

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    registered = job_types()
    content = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]
    for media_type, nested in (("application/json", True), ("multipart/form-data", False)):
        union = resolve(content[media_type]["schema"])
        assert union["discriminator"]["propertyName"] == "type"
        mapping = union["discriminator"]["mapping"]
        assert list(mapping) == list(registered), media_type
        assert union["oneOf"] == [{"$ref": ref} for ref in mapping.values()]
        for name, job_type in registered.items():
            shape = resolve({"$ref": mapping[name]})
            assert resolve(shape["properties"]["type"]) == {"type": "string", "enum": [name]}
            assert "type" in shape["required"]
            fields = job_type.input_serializer().fields
            declared = {field_name for field_name, f in fields.items() if not f.read_only}
            required = {field_name for field_name, f in fields.items() if f.required}
            assert declared, name
            if nested:
                described = resolve(shape["properties"]["input"])
                assert set(described["properties"]) == declared, name
                assert set(described.get("required", [])) == required, name
            else:
                # A nested input (edit_thumbnail's `changes`) goes flat: `changes.title`, ...
                flat = {
                    f"{field_name}.{sub}" if sub else field_name
                    for field_name in declared
                    for sub in (
                        list(fields[field_name].fields)
                        if isinstance(fields[field_name], Serializer)
                        else [""]
                    )
                }
                files = set(job_type.upload_fields)
                assert set(shape["properties"]) == flat | files | {"type"}, name
                assert set(shape["required"]) == required | {"type"}, name
                for file_field in files:
                    described = shape["properties"][file_field]
                    assert "binary" in (described.get("items") or described).get("format", "")


def test_jobs_request_body_says_each_job_types_input(anon_client) -> None:
    spec = anon_client.get("/api/schema/?format=json").json()
    _job_request_shapes_match_the_registry(spec)
    content = spec["paths"]["/api/jobs"]["post"]["requestBody"]
    assert content["required"] is True
    # One that reads a file: analyse palette's `{"thumbnail_id"}` or its multipart `image`.
    shapes = spec["components"]["schemas"]
    assert shapes["AnalysePaletteInputRequest"]["properties"]["thumbnail_id"]["type"] == "integer"
    assert shapes["AnalysePaletteJobFormRequest"]["properties"]["image"]["format"] == "binary"
    # An edit's changes as the studio's form sends them, one key per changed field.
    form = shapes["EditThumbnailJobFormRequest"]["properties"]
    assert "changes" not in form
    assert form["changes.title"]["type"] == "string"
    assert form["changes.face_ids"]["type"] == "array"


def test_a_job_type_registered_later_is_in_the_schema(anon_client, monkeypatch) -> None:
    from rest_framework import serializers

    from generation import registry

    class CountInput(serializers.Serializer):
        """`{"count", "note"?}`."""

        count = serializers.IntegerField(min_value=1, max_value=9)
        note = serializers.CharField(required=False, max_length=20)

    class CountSheep(registry.JobType):
        name = "count_sheep"
        label = "Count sheep"
        input_serializer = CountInput
        upload_fields = {"sheep": 3}
        rate_limit_route = "enhance_title"

    monkeypatch.setitem(registry._registry, CountSheep.name, CountSheep())
    spec = anon_client.get("/api/schema/?format=json").json()
    _job_request_shapes_match_the_registry(spec)
    shapes = spec["components"]["schemas"]
    assert shapes["CountSheepJobRequest"]["properties"]["input"] == {
        "$ref": "#/components/schemas/CountInputRequest"
    }
    assert shapes["CountInputRequest"]["properties"]["count"]["maximum"] == 9
    assert shapes["CountSheepJobFormRequest"]["properties"]["sheep"]["maxItems"] == 3
    assert "count_sheep" in shapes["JobTypeEnum"]["enum"]  # a job's `type` may name it


# The operations that submit a job and read the Idempotency-Key header (studio.api._submit).
JOB_SUBMITTING = ["/api/generate", "/api/jobs"]


def test_job_submitting_operations_declare_their_headers(anon_client) -> None:
    """A client made from the schema can send an Idempotency-Key (without it, its retries were
    charged twice) and read the headers the answers carry: Idempotent-Replayed and the RateLimit
    pair on a 202, Retry-After and the RateLimit pair on a 429, Retry-After on a 503."""
    from generation.pipeline import IDEMPOTENCY_KEY_MAX_CHARS

    spec = anon_client.get("/api/schema/?format=json").json()
    for path in JOB_SUBMITTING:
        operation = spec["paths"][path]["post"]
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        key = headers["Idempotency-Key"]["schema"]
        assert key["type"] == "string" and key["minLength"] == 1, path
        assert key["maxLength"] == IDEMPOTENCY_KEY_MAX_CHARS, path
        responses = operation["responses"]
        accepted = responses["202"]["headers"]
        assert accepted["Idempotent-Replayed"]["schema"]["enum"] == ["true", "false"], path
        assert accepted["Idempotent-Replayed"]["required"] is True, path
        assert {"RateLimit", "RateLimit-Policy"} <= set(accepted), path
        assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(
            responses["429"]["headers"]
        ), path
        assert "Retry-After" in responses["503"]["headers"], path


def rate_limited_operations() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every API operation that counts against a rate limit, read
    from the limiter's marks on the URL table's views (core.ratelimits.limited_methods: their
    `limit` decorators and `counted_within` marks)."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    from core import ratelimits

    found: set[tuple[str, str]] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and prefix.startswith("/api/"):
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(entry.pattern))
                for method in ratelimits.limited_methods(entry.callback):
                    found.add((method.lower(), path))

    walk(get_resolver().url_patterns, "/")
    return found


def test_every_rate_limited_operation_documents_its_429(anon_client) -> None:
    """POST /api/projects answered a Free creator's 6th project in a minute with 429
    `rate_limited` and Retry-After, which its operation did not list. Every operation that
    counts against a limit lists the 429 (the Error shape with `retry_after`, Retry-After
    required, the RateLimit headers) and the RateLimit headers on its successes; no other
    operation lists a 429. (Retry-After is not required: a job submit's 429 `too_many_jobs`
    has none.)"""
    spec = anon_client.get("/api/schema/?format=json").json()
    limited = rate_limited_operations()
    # The limits' kinds: a `limit` decorator (projects, faces, a PATCH only) and a job type's.
    assert {
        ("post", "/api/projects"),
        ("post", "/api/faces"),
        ("patch", "/api/styles/{style_id}"),
        ("post", "/api/generate"),
        ("post", "/api/jobs"),
    } <= limited, limited
    documented = {
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "429" in operation["responses"]
    }
    assert documented == limited
    for method, path in limited:
        responses = spec["paths"][path][method]["responses"]
        too_many = responses["429"]
        ref = too_many["content"]["application/json"]["schema"]["$ref"]
        shape = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert {"error", "code"} <= set(shape["required"]), (method, path)
        assert shape["properties"]["retry_after"]["type"] == "integer", (method, path)
        assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(too_many["headers"])
        for status, response in responses.items():
            if status.startswith("2"):
                assert {"RateLimit", "RateLimit-Policy"} <= set(response["headers"]), path


def test_every_operation_documents_406_and_every_write_403(anon_client, owner) -> None:
    """Any operation answers an Accept it cannot meet with 406 `not_acceptable`, and any write
    without the session's CSRF token with 403 `permission_denied` (both before the view runs),
    so every operation lists the 406 and every write the 403, with the Error shape."""
    from django.test import Client

    spec = anon_client.get("/api/schema/?format=json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "406" in responses, (method, path)
            assert "content" in responses["406"], (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "403" in responses, (method, path)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    not_acceptable = client.get("/api/me", HTTP_ACCEPT="application/xml")
    assert (not_acceptable.status_code, not_acceptable.json()["code"]) == (406, "not_acceptable")
    forbidden = client.post("/api/projects", {"name": "x"}, content_type="application/json")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "permission_denied")


# Where a creator names a project, style, palette or face through the API.
NAMING = [
    ("post", "/api/projects"),
    ("patch", "/api/projects/{project_id}"),
    ("post", "/api/faces"),
    ("patch", "/api/styles/{style_id}"),
    ("patch", "/api/palettes/{palette_id}"),
]


def test_a_taken_name_is_documented_as_409_name_taken(anon_client) -> None:
    spec = anon_client.get("/api/schema/?format=json").json()
    components = spec["components"]["schemas"]
    for method, path in NAMING:
        conflict = spec["paths"][path][method]["responses"]["409"]
        assert "name_taken" in conflict["description"], (method, path)
        shape = components[conflict["content"]["application/json"]["schema"]["$ref"][21:]]
        assert set(shape["required"]) == {"error", "code"}
        code = components[shape["properties"]["code"]["$ref"][21:]]
        assert code["enum"] == ["name_taken"], (method, path)


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """The project's WSGI app, keeping the test's database connection open between requests
    (as Django's test client does: the handler would close it at each request's end)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_every_operation_answers_as_documented(owner_client, wsgi_app) -> None:
    # Imported here, not at collection: schemathesis costs every xdist worker about a second to
    # import, and only the one that runs this test needs it (its pytest plugin is off too:
    # pyproject.toml addopts).
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    # check()'s source text seeds its derandomized examples: it reads CHECKS, as it always has.
    CHECKS = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,  # e.g. a 202's Idempotent-Replayed, which is required
    ]
    app = wsgi_app
    api = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    cookies = {"sessionid": owner_client.cookies["sessionid"].value, "csrftoken": CSRF}
    # identity: the WSGI transport does not undo Content-Encoding (compression: test_serving.py)
    headers = {"X-CSRFToken": CSRF, "Accept-Encoding": "identity"}
    operations = [result.ok() for result in api.get_all_operations()]
    statuses: set[int] = set()
    assert len(operations) >= 20
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, 3), (GenerationMode.NEGATIVE, 2)):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)
                statuses.add(response.status_code)

            check()
    assert 401 not in statuses  # the requests were the creator's
    assert {200, 202, 400, 404} <= statuses, statuses


# Operations whose every schema-valid request must be accepted (2xx, or 403/404/409/429: a
# refusal of what the caller may do, not of the request's shape), run on the creator's own
# objects. A 400 there means the schema allows what the server refuses: a required field marked
# optional, a blank name, a form body the operation cannot read, a query value it rejects.
# Left out: POST /api/faces (its images must be real photos), POST /api/jobs (each job type's
# `validate` asks more than a schema says: a title not blank, 1-10 images in all, ...), and
# `cursor` (opaque and signed).
ACCEPTING = [
    ("GET", "/api/thumbnails"),
    ("GET", "/api/projects/{project_id}/thumbnails"),
    ("POST", "/api/projects"),
    ("PATCH", "/api/projects/{project_id}"),
    ("PATCH", "/api/thumbnails/{thumbnail_id}"),
    ("POST", "/api/thumbnails/move"),
    ("PATCH", "/api/palettes/{palette_id}"),
    ("POST", "/api/generate"),
]


def test_every_valid_request_is_accepted(owner, owner_client, wsgi_app) -> None:
    import schemathesis
    from django.db import transaction
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from studio.models import Palette
    from tests.factories.studio import ProjectFactory, ThumbnailFactory

    project: Any = ProjectFactory(owner=owner)
    thumbnail: Any = ThumbnailFactory(owner=owner, project=project)
    ids = {
        "project_id": project.pk,
        "thumbnail_id": thumbnail.pk,
        "palette_id": Palette.objects.create(
            owner=owner, name="Mine", colors=["#112233", "#445566", "#778899"]
        ).pk,
    }
    CHECKS: list[Any] = [positive_data_acceptance]
    api = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    # NUL and lone surrogates are refused in any text (400 invalid_characters, documented for
    # every operation), which a JSON schema cannot say.
    api.config.generation.update(allow_x00=False, codec="utf-8")
    cookies = {"sessionid": owner_client.cookies["sessionid"].value, "csrftoken": CSRF}
    headers = {"X-CSRFToken": CSRF, "Accept-Encoding": "identity"}
    operations = [api[path][method] for method, path in ACCEPTING]
    statuses: set[int] = set()
    for operation in operations:

        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def check(case: schemathesis.Case) -> None:
            for name in case.path_parameters or {}:
                case.path_parameters[name] = ids[name]
            (case.query or {}).pop("cursor", None)
            with transaction.atomic():  # each request on the same objects, none left behind
                response = case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)
                transaction.set_rollback(True)
            statuses.add(response.status_code)

        check()
    assert 200 in statuses and 201 in statuses, statuses


# The error helpers and exceptions that take a `code`: name -> the index of its argument.
ERROR_HELPERS = {
    "json_error": 1,
    "error_body": 1,
    "APIError": 1,
    "JobRefused": 1,
    "StudioError": 1,
    "Refusal": 1,
    "InvalidJSON": 1,
    "ImageRejected": 1,
    "refusal": 2,  # viewbait.input_guard's
}
# Where the API's answers are made. Not billing: its JSON answers are Stripe's webhook and the
# plans page's checkout, under /billing/, not the API.
ERROR_SOURCES = ["core", "generation", "studio", "viewbait"]


def error_codes_in_source() -> dict[str, list[str]]:
    """Every code written as a literal where an error helper is called (positionally or as
    `code=`), or as a `"code"` key of a dict literal: {code: [file:line, ...]}."""
    import ast

    found: dict[str, list[str]] = {}
    for where, node in source_nodes(ERROR_SOURCES):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ERROR_HELPERS:
                index = ERROR_HELPERS[name]
                values += node.args[index : index + 1]
                values += [k.value for k in node.keywords if k.arg == "code"]
        elif isinstance(node, ast.Dict):
            values += [
                v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "code"
            ]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.setdefault(value.value, []).append(where)
    return found


@functools.cache
def _parsed(path: Path) -> Any:
    """The module at `path`, parsed once per test process (two tests scan generation/ and
    studio/); nodes are only read."""
    import ast

    return ast.parse(path.read_text())


def source_nodes(packages: list[str]) -> Iterator[tuple[str, Any]]:
    """("package/module.py:line", node) for every AST node of the packages' modules, their
    migrations left out."""
    import ast

    from django.conf import settings as django_settings

    for package in packages:
        for path in sorted((Path(django_settings.BASE_DIR) / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(django_settings.BASE_DIR)  # once a file, not a node
            for node in ast.walk(_parsed(path)):
                yield f"{relative}:{getattr(node, 'lineno', 0)}", node


def test_every_error_code_is_in_the_one_list(anon_client) -> None:
    """README said a 400 is "`invalid` with `fields`", but most `invalid` answers have none, and
    it named only some codes. Every code the source hands an error helper, DRF's refusals the
    exception handler passes on and the limiter's are in studio.api_schema.ERROR_CODES, which is
    the schema's Error.code enum and README's error table, code for code and status for status."""
    import inspect
    import re
    from pathlib import Path

    from django.conf import settings as django_settings
    from rest_framework import exceptions

    from studio.api_schema import ERROR_CODES
    from studio.images import ImageRejected

    in_source = error_codes_in_source()
    assert {"invalid", "invalid_cursor", "job_finished", "not_authenticated"} <= set(in_source)
    assert len(in_source) >= 30, in_source  # the scan found the helpers' calls
    unlisted = {code: where for code, where in in_source.items() if code not in ERROR_CODES}
    assert not unlisted, unlisted
    drf = [
        exceptions.ParseError,
        exceptions.PermissionDenied,
        exceptions.MethodNotAllowed,
        exceptions.NotAcceptable,
        exceptions.UnsupportedMediaType,
    ]
    assert {e.default_code for e in drf} <= set(ERROR_CODES)
    assert inspect.signature(ImageRejected).parameters["code"].default in ERROR_CODES
    assert {"rate_limited", "limiter_unavailable"} <= set(ERROR_CODES)  # core.ratelimits'

    spec = anon_client.get("/api/schema/?format=json").json()
    enum = spec["components"]["schemas"]["ErrorCodeEnum"]["enum"]
    assert enum == list(ERROR_CODES)

    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", readme, re.MULTILINE))
    assert table == {code: str(status) for code, (status, _) in ERROR_CODES.items()}


def test_a_jobs_type_status_and_stage_are_enums(anon_client) -> None:
    """JobOut's `type`, `status` and `stage` were any string: a client could not tell which
    values to handle. `type` is a registered job type's name, `status` the model's choices,
    `stage` Job.STAGES."""
    from generation.models import Job
    from generation.registry import job_types

    spec = anon_client.get("/api/schema/?format=json").json()
    shapes = spec["components"]["schemas"]

    def enum(schema: dict[str, Any]) -> list[str]:
        ref = (schema.get("allOf") or [schema])[0]["$ref"]
        return list(shapes[ref.rsplit("/", 1)[1]]["enum"])

    for name in ("JobOut", "JobAccepted"):
        job = shapes[name]["properties"]
        assert enum(job["type"]) == list(job_types()), name
        assert enum(job["status"]) == list(Job.Status.values), name
        assert enum(job["stage"]) == list(Job.STAGES), name


def test_every_stage_the_source_names_is_listed() -> None:
    """Each stage a job can be put in, written as a literal (`ctx.progress("x", ...)`, any
    `stage="x"` argument, `job.stage = "x"`) in generation/ or studio/, is in Job.STAGES, the
    schema's enum of JobOut.stage."""
    import ast

    from generation.models import Job

    found: dict[str, str] = {}
    for where, node in source_nodes(["generation", "studio"]):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call):
            if getattr(node.func, "attr", None) == "progress":
                values += node.args[:1]
            values += [k.value for k in node.keywords if k.arg == "stage"]
        elif isinstance(node, ast.Assign) and any(
            getattr(t, "attr", None) == "stage" for t in node.targets
        ):
            values.append(node.value)
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found[value.value] = where
    assert {"preparing", "rendering", "reading_channel", "waiting", "running"} <= set(found)
    unlisted = {stage: where for stage, where in found.items() if stage not in Job.STAGES}
    assert not unlisted, unlisted


def test_a_moves_project_id_is_required_and_nullable(anon_client) -> None:
    spec = anon_client.get("/api/schema/?format=json").json()
    body = spec["paths"]["/api/thumbnails/move"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"]
    shape = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(shape["required"]) == {"thumbnail_ids", "project_id"}
    assert shape["properties"]["project_id"]["nullable"] is True


def test_every_401_declares_its_challenge(anon_client) -> None:
    """Every operation's 401 documents the WWW-Authenticate challenge core.api sends with it."""
    from core.api import SESSION_CHALLENGE

    paths = anon_client.get("/api/schema/?format=json").json()["paths"]
    unauthorized = [
        (path, method, operation["responses"]["401"])
        for path, item in paths.items()
        for method, operation in item.items()
        if "401" in operation.get("responses", {})
    ]
    assert len(unauthorized) > 20
    for path, method, response in unauthorized:
        header = response.get("headers", {}).get("WWW-Authenticate")
        assert header and header["schema"]["enum"] == [SESSION_CHALLENGE], (path, method)
