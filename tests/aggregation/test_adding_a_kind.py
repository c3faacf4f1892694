"""Adding an item kind is one module per side: the toy kind of `tests/toy_kind` (a claim,
agreed or disagreed with) goes from campaign and import through annotation to a release
through the API, with no other edit; and every registered kind declares every capability."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid

import pyarrow.parquet as pq
import pytest
from rest_framework.test import APIClient

from aggregation import selectors
from aggregation.release import kinds as release_kinds
from aggregation.release.kinds import ReleaseKind
from collection import kinds as collection_kinds
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.toy_kind import collection_side, release_side

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


@pytest.fixture
def verdict_kind():
    collection_side.register()
    release_side.register()
    yield
    release_kinds.unregister("verdict")
    collection_kinds.unregister("verdict")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_kind_of_one_module_per_side_goes_from_import_through_annotation_to_a_release(
    verdict_kind, releases_root, django_capture_on_commit_callbacks
):
    owner = make_researcher(username="claims-owner")
    audience = AudienceFactory(slug="everyone")
    researcher = _api(owner)
    created = researcher.post(
        "/api/v1/campaigns/",
        {
            "slug": "claims",
            "name": "Claims",
            "item_kind": "verdict",
            "targets": [{"audience": "everyone", "overlap_k": 2}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["competence"] == "behaviour"

    rows = [
        {"prompt": f"Claim {n}", "payload": {"claim": f"Tea beats coffee ({n})."}} for n in (1, 2)
    ]
    bad = io.BytesIO(
        "\n".join(json.dumps(row) for row in [*rows, {"prompt": "Q", "payload": {}}]).encode()
    )
    refused = researcher.post(
        "/api/v1/campaigns/claims/items/import/",
        {"format": "jsonl", "file": bad},
        format="multipart",
    )
    assert refused.status_code == 400
    assert refused.json()["line"] == 3 and refused.json()["field"] == "payload.claim"
    good = io.BytesIO("\n".join(json.dumps(row) for row in rows).encode())
    imported = researcher.post(
        "/api/v1/campaigns/claims/items/import/",
        {"format": "jsonl", "file": good},
        format="multipart",
    )
    assert imported.status_code == 201, imported.content
    opened = researcher.post("/api/v1/campaigns/claims/status/", {"status": "open"}, format="json")
    assert opened.status_code == 200, opened.content

    campaign = owner.owned_campaigns.get(slug="claims")
    verdicts = {}
    for n, verdict in enumerate(["agree", "disagree"]):
        participant = ready_participant(audience=audience, campaign=campaign)
        annotator = _api(participant.user)
        for _ in rows:
            leased = annotator.post("/api/v1/campaigns/claims/next/").json()
            assert leased["item"]["claim"].startswith("Tea beats coffee")
            submit = f"/api/v1/assignments/{leased['assignment']}/submit/"
            answer = {"time_on_task_ms": 900, "idempotency_key": str(uuid.uuid4())}
            wrong = annotator.post(
                submit, {**answer, "payload": {"verdict": "maybe"}}, format="json"
            )
            assert wrong.status_code == 400 and wrong.json()["field"] == "verdict"
            saved = annotator.post(
                submit, {**answer, "payload": {"verdict": verdict}}, format="json"
            )
            assert saved.status_code == 201, saved.content
            verdicts[(leased["item"]["prompt"], n)] = verdict

    with django_capture_on_commit_callbacks(execute=True):
        export = researcher.post(
            "/api/v1/campaigns/claims/exports/", {"options": {"min_cell_size": 1}}, format="json"
        )
    assert export.status_code == 201, export.content
    release = researcher.get(export["Location"]).json()
    assert release["status"] == "succeeded", release
    paths = {entry["path"] for entry in release["release"]["files"]}
    assert {"everyone/verdicts.parquet", "everyone/participants.parquet"} <= paths

    folder = next(releases_root.glob("claims/*"))
    table = pq.read_table(folder / "everyone" / "verdicts.parquet").to_pylist()
    assert len(table) == 4
    assert sorted((row["prompt"], row["verdict"]) for row in table) == sorted(
        (prompt, verdict) for (prompt, _), verdict in verdicts.items()
    )
    assert {row["claim"] for row in table} == {"Tea beats coffee (1).", "Tea beats coffee (2)."}
    card = (folder / "README.md").read_text()
    assert '- "text-classification"' in card and "`claim`, and `verdict`" in card
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["metrics"]["items"] == 2


# What a kind must give (no default on the base class), per side.
REQUIRED = {
    collection_kinds.Kind: {
        "attributes": ("name", "label", "competence"),
        "methods": (
            "validate_payload",
            "validate_response",
            "form_fields",
            "form_payload",
            "summary",
        ),
    },
    ReleaseKind: {"attributes": ("name", "datasets", "card_tags"), "methods": ()},
}


@pytest.mark.parametrize("side", [collection_kinds, release_kinds], ids=["collection", "release"])
def test_every_registered_kind_declares_what_its_side_requires(side):
    base = collection_kinds.Kind if side is collection_kinds else ReleaseKind
    for kind in side.all():
        missing = [name for name in REQUIRED[base]["attributes"] if not hasattr(kind, name)]
        missing += [
            name
            for name in REQUIRED[base]["methods"]
            if getattr(type(kind), name) is getattr(base, name)
        ]
        assert not missing, (kind.name, missing)


def test_every_kind_has_both_sides_and_reads_only_known_judgement_columns():
    assert [kind.name for kind in collection_kinds.all()] == [
        kind.name for kind in release_kinds.all()
    ]
    for kind in release_kinds.all():
        assert set(kind.judgement_columns) <= set(selectors.JUDGEMENT_COLUMNS), kind.name
        assert kind.datasets and kind.card_tags, kind.name


def test_a_dataset_name_belongs_to_one_dataset():
    class Thief(ReleaseKind):
        name = "thief"
        datasets = (release_side.VERDICTS,)
        card_tags = ()

    class Copycat(ReleaseKind):
        name = "copycat"
        datasets = (dataclasses.replace(release_side.VERDICTS, contents="another"),)
        card_tags = ()

    release_kinds.register(Thief())
    try:
        with pytest.raises(ValueError, match="verdicts"):
            release_kinds.register(Copycat())
    finally:
        release_kinds.unregister("thief")
    assert "copycat" not in [kind.name for kind in release_kinds.all()]
