"""The admin's change forms of styles, palettes, faces and projects refuse a name another row of
the same owner has (case and surrounding spaces aside), as the studio does: a form error on the
name, nothing saved. Another owner's row of that name, or the row's own name, is no matter. Were
the form's check to miss one, Django's validation of the models' unique name constraints refuses
it in the same form (studio.models.owner_name_unique)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model

from studio import services
from studio.models import Face, Palette, Project, Style
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

COLORS = ["#000000", "#FFFFFF", "#FF0000"]


EXTRA: dict[type[Model], dict[str, Any]] = {
    Style: {"prompt": "x"},
    Palette: {"colors": COLORS},
    Face: {},
    Project: {},
}


def make(model: type[Model], owner: Any, name: str) -> Any:
    return model._default_manager.create(owner=owner, name=name, **EXTRA[model])


def change_form_data(admin_client: Any, url: str) -> dict[str, Any]:
    """The POST a save of the change page at `url` sends, as the page shows the row (its main
    form's and inlines' current values, with their management forms)."""
    page = admin_client.get(url)
    assert page.status_code == 200
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for bound in form:
            value = bound.value()
            if isinstance(value, bool | list):
                if value:  # an unticked box is not sent
                    data[bound.html_name] = value
                continue
            shown = None if value is None else bound.field.widget.format_value(value)
            if shown is not None:
                data[bound.html_name] = shown

    add(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


@pytest.mark.parametrize("model", [Style, Palette, Face, Project])
def test_an_admin_change_to_a_name_the_owner_has_is_a_form_error(
    admin_client: Any, model: type[Model]
) -> None:
    owner, someone = make_user("named@example.com"), make_user("someone@example.com")
    make(model, owner, "Travel")
    make(model, someone, "Cooking")
    row = make(model, owner, "Food")
    url = f"/admin/studio/{model._meta.model_name}/{row.pk}/change/"
    data = change_form_data(admin_client, url)

    refused = admin_client.post(url, {**data, "name": "  tRAVEL "})

    assert refused.status_code == 200  # the form again, not the redirect of a save
    noun = model._meta.verbose_name
    form = refused.context["adminform"].form
    assert form.errors["name"] == [f"named@example.com already has a {noun} named “tRAVEL”."]
    assert not form.non_field_errors()  # said once: the name's error keeps the index's away
    row.refresh_from_db()
    assert row.name == "Food"
    # Another owner's name, and the row's own name in other case, are saved.
    for name in ("Cooking", "FOOD"):
        saved = admin_client.post(url, {**data, "name": name})
        assert saved.status_code == 302, saved.context["adminform"].form.errors
        row.refresh_from_db()
        assert row.name == name


def test_an_admin_add_of_a_name_the_owner_has_is_a_form_error(admin_client: Any) -> None:
    owner = make_user("added@example.com")
    make(Palette, owner, "Dusk")
    data = {"owner": owner.pk, "name": "dusk", "colors": '["#000000", "#FFFFFF", "#FF0000"]'}
    refused = admin_client.post("/admin/studio/palette/add/", data)
    assert refused.status_code == 200
    assert "name" in refused.context["adminform"].form.errors
    assert Palette.objects.filter(owner=owner).count() == 1


@pytest.mark.parametrize("model", [Style, Palette, Face, Project])
def test_a_duplicate_the_form_lets_through_is_refused_by_the_index_as_a_form_error(
    admin_client: Any, model: type[Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the form's check to miss a duplicate, Django's validation of the model's per-owner
    name constraint (`full_clean`) still refuses it, with a readable message above the form:
    no IntegrityError, no 500, nothing saved."""
    monkeypatch.setattr(
        services, "check_asset_name", lambda model, owner, name, row=None: name.strip()
    )
    owner = make_user("backstop@example.com")
    make(model, owner, "Travel")
    row = make(model, owner, "Food")
    url = f"/admin/studio/{model._meta.model_name}/{row.pk}/change/"

    refused = admin_client.post(url, {**change_form_data(admin_client, url), "name": " travel"})

    assert refused.status_code == 200
    noun = model._meta.verbose_name
    message = f"Its owner already has a {noun} of this name (case and surrounding spaces aside)."
    assert refused.context["adminform"].form.non_field_errors() == [message]
    assert message in refused.content.decode()
    row.refresh_from_db()
    assert row.name == "Food"


@pytest.mark.parametrize("model", [Style, Palette, Face, Project])
def test_a_name_taken_after_the_form_was_checked_is_a_message_not_a_500(
    admin_client: Any, model: type[Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two saves at once both pass the form's checks; the later one's write fails on the
    index. Here both checks pass a taken name, as they would have a moment before the other
    save: rolled back, and the admin says why on the change page."""
    monkeypatch.setattr(
        services, "check_asset_name", lambda model, owner, name, row=None: name.strip()
    )
    monkeypatch.setattr(model, "validate_constraints", lambda self, exclude=None: None)
    owner = make_user("meanwhile@example.com")
    make(model, owner, "Travel")
    row = make(model, owner, "Food")
    url = f"/admin/studio/{model._meta.model_name}/{row.pk}/change/"

    refused = admin_client.post(url, {**change_form_data(admin_client, url), "name": "TRAVEL"})

    assert refused.status_code == 302 and refused["Location"] == url
    page = admin_client.get(url).content.decode()
    noun = model._meta.verbose_name
    assert f"Not saved: another of its owner&#x27;s {noun}s took this name meanwhile" in page
    row.refresh_from_db()
    assert row.name == "Food"
