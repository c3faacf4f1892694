"""Releases of fixed data keep their bytes: refactoring the release code must not move them.

Four campaigns cover what a release writes: choices with ties and ratings on episodic
items (context messages, persona, situation) for a mass, a public (age targets) and a
dyadic audience; rankings of three candidates for a group; demonstrations; and
question-answer items. Every id, date, pseudonym key and snapshot is fixed, so each
build gives the same bytes. `RELEASE_BYTES` holds the sha256 of every file but the zip
(which holds the manifest's build time), and of manifest.json without ``built_at``.

After a change that is meant to change release bytes, rewrite the file with
``PLURALIGN_WRITE_RELEASE_BYTES=1`` and say in the commit why the bytes moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib
import pytest

from aggregation import charts
from aggregation.models import ExportJob
from aggregation.release import jobs
from collection import services as collection_services
from collection.models import Audience, Campaign, Response
from tests.factories import AGE_SCHEMA, AudienceFactory, CampaignFactory, ready_participant
from tests.helpers import respond

RELEASE_BYTES = Path(__file__).with_name("release_bytes.json")
WRITE_ENV = "PLURALIGN_WRITE_RELEASE_BYTES"
DAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SNAPSHOT = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
KEY = "5eed" * 16

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def _respond(campaign, audience, person, answers: dict) -> None:
    """`respond` with ``answers`` (item -> payload), then fixed times: the card and
    metrics.json give the first and last."""
    respond(person, campaign, audience, list(answers), answers.__getitem__)
    stored = Response.objects.filter(campaign=campaign, participant=person).order_by("item_id")
    for n, response in enumerate(stored):
        response.created_at = DAY + timedelta(hours=person.pk, minutes=n)
    Response.objects.bulk_update(stored, ["created_at"])


def _context(n: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are a ward assistant."},
            {"role": "user", "content": f"Earlier turn {n % 3}"},
            {"role": "assistant", "content": "Go on."},
        ],
        "persona": "a night-shift nurse" if n % 2 else None,
        "situation": f"Bed {n % 4} needs attention.",
    }


def _campaign(slug: str, audiences: dict, rows: list[dict], **fields) -> Campaign:
    campaign = CampaignFactory(slug=slug, name=slug.replace("-", " ").title(), **fields)
    for audience, k in audiences.items():
        collection_services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
    collection_services.items_create(campaign=campaign, rows=rows)
    return campaign


def _items(campaign) -> list:
    return list(campaign.items.order_by("id"))


def _candidates(n: int, count: int) -> list[dict]:
    return [
        {
            "id": "abc"[i],
            "text": f"Reply {'abc'[i]} to case {n}: {'yes ' * (i + n % 3)}",
            **({"source": f"model-{(i + n) % 3}"} if (i + n) % 5 else {}),
        }
        for i in range(count)
    ]


def varied_campaigns() -> list[Campaign]:
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    public = AudienceFactory(
        slug="uk-adults",
        name="UK adults",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=AGE_SCHEMA,
        target_marginals={"age_band": {"18-39": 0.4, "40+": 0.6}},
    )
    alex = AudienceFactory(slug="alex", name="Alex", kind=Audience.Kind.DYADIC)
    nurses = AudienceFactory(slug="nurses", kind=Audience.Kind.GROUP, max_members=10)

    choices = _campaign(
        "ward-choices",
        {everyone: 3, public: 4, alex: 1},
        [
            {
                "external_id": f"c{n}",
                "prompt": f"Which reply helps with case {n}?",
                "context": _context(n),
                "payload": {"candidates": _candidates(n, 2)},
            }
            for n in range(7)
        ],
        transience=Campaign.Transience.EPISODIC,
        rating_min=1,
        rating_max=5,
    )
    items = _items(choices)
    for n in range(4):
        person = ready_participant(audience=everyone, campaign=choices)
        _respond(
            choices,
            everyone,
            person,
            {
                item: {"choice": ["a", "b", "tie"][(n + i) % 3], "rationale": f"r{n}{i}"}
                for i, item in enumerate(items)
            },
        )
    for n in range(9):
        person = ready_participant(
            audience=public,
            campaign=choices,
            attributes={"age_band": "18-39" if n < 6 else "40+"},
        )
        _respond(
            choices,
            public,
            person,
            {
                item: {
                    "choice": "tie" if (n + i) % 4 == 0 else "ab"[(n * i) % 2],
                    "ratings": {"a": 1 + (n + i) % 5, "b": 1 + (n * i) % 5},
                    "confidence": 1 + n % 5,
                }
                for i, item in enumerate(items)
                if (n + i) % 5
            },
        )
    _respond(
        choices,
        alex,
        ready_participant(audience=alex, campaign=choices),
        {item: {"choice": "ab"[i % 2]} for i, item in enumerate(items)},
    )

    ranking = _campaign(
        "ward-rankings",
        {nurses: 3, everyone: 2},
        [
            {
                "external_id": f"r{n}",
                "prompt": f"Order the replies to case {n}.",
                "payload": {"candidates": _candidates(n, 3)},
            }
            for n in range(5)
        ],
        preference_format=Campaign.PreferenceFormat.RANKING,
    )
    orders = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"], ["a", "c", "b"]]
    for n in range(4):
        audience = nurses if n < 3 else everyone
        person = ready_participant(audience=audience, campaign=ranking)
        _respond(
            ranking,
            audience,
            person,
            {item: {"ranking": orders[(n + i) % 4]} for i, item in enumerate(_items(ranking))},
        )

    demos = _campaign(
        "ward-demos",
        {everyone: 2, public: 2},
        [
            {
                "external_id": f"d{n}",
                "prompt": f"Write the handover for case {n}.",
                "context": _context(n),
                "payload": {"draft": f"Draft {n}" if n % 2 else None},
            }
            for n in range(4)
        ],
        item_kind=Campaign.ItemKind.DEMONSTRATION,
        transience=Campaign.Transience.EPISODIC,
    )
    for n, (audience, band) in enumerate([(everyone, None), (public, "40+"), (public, "18-39")]):
        person = ready_participant(
            audience=audience, campaign=demos, attributes={"age_band": band} if band else None
        )
        _respond(
            demos,
            audience,
            person,
            {
                item: {"text": f"Handover {n}.{i}: all calm."}
                for i, item in enumerate(_items(demos))
            },
        )

    qa = _campaign(
        "ward-qa",
        {everyone: 2},
        [
            {
                "external_id": f"q{n}",
                "prompt": f"Question {n}?",
                "payload": {
                    "question": f"What is dose {n}?",
                    "reference_answer": f"{n} mg",
                    "sources": [f"https://example.org/{n}"],
                },
            }
            for n in range(3)
        ],
        item_kind=Campaign.ItemKind.QA,
    )
    for n in range(2):
        person = ready_participant(audience=everyone, campaign=qa)
        _respond(
            qa,
            everyone,
            person,
            {
                item: {"answer": f"{i + n} mg", "sources": [f"https://example.org/{i}"] * n}
                for i, item in enumerate(_items(qa))
            },
        )
    leaver = Response.objects.filter(campaign=choices, audience=everyone).earliest("id")
    collection_services.participant_withdraw(
        participant=leaver.participant, campaign=choices, now=DAY + timedelta(days=10)
    )
    return [choices, ranking, demos, qa]


def _digests(folder: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".zip":
            continue
        data = path.read_bytes()
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest.pop("built_at")
            data = json.dumps(manifest, sort_keys=True).encode()
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


BUILDS = [
    ("ward-choices", {"formats": ["jsonl", "openai"]}),
    ("ward-choices", {"options": {"min_cell_size": 2}}),
    ("ward-rankings", {"formats": ["jsonl", "openai"]}),
    ("ward-demos", {"formats": ["jsonl", "openai"], "options": {"min_cell_size": 1}}),
    ("ward-qa", {"formats": ["jsonl", "openai"]}),
]


def test_a_release_of_fixed_data_has_the_recorded_bytes(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    campaigns = {campaign.slug: campaign for campaign in varied_campaigns()}
    found = {}
    for slug, fields in BUILDS:
        job = jobs.export_job_create(campaign=campaigns[slug], enqueue=False, **fields)
        ExportJob.objects.filter(pk=job.pk).update(pseudonym_key=KEY, snapshot_at=SNAPSHOT)
        job = jobs.export_job_run(job_id=job.pk)
        assert job.status == ExportJob.Status.SUCCEEDED, job.error
        folder = settings.RELEASES_ROOT / job.release_path
        found[job.release_path] = _digests(folder)
    if os.environ.get(WRITE_ENV):
        RELEASE_BYTES.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RELEASE_BYTES.read_text())
    assert sorted(found) == sorted(recorded)
    for release, digests in recorded.items():
        assert found[release] == digests, release


def _dashboard_charts_drawn_at_once() -> None:
    """What a browser does to the live server: fetch a page's charts together, each
    drawn in its own thread."""
    bars = [
        charts.ProgressBar(
            audience="a", fill=0.5, filled=5, slots=10, share_at_k=0.2, items_at_k=1, items=5
        )
    ]
    spec = charts.progress_spec(bars, title="Progress toward k")
    barrier = threading.Barrier(4)

    def draw() -> None:
        barrier.wait()
        for _ in range(10):
            charts.render(spec)

    workers = [threading.Thread(target=draw) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_the_bytes_do_not_depend_on_what_was_drawn_before_in_the_process(settings, tmp_path):
    # Dashboard charts drawn at once (a browser test's live server) once left their
    # style in matplotlib's global settings, and the card's plots came out different.
    before = dict(matplotlib.rcParams)
    _dashboard_charts_drawn_at_once()
    assert dict(matplotlib.rcParams) == before
    settings.RELEASES_ROOT = tmp_path / "releases"
    campaigns = {campaign.slug: campaign for campaign in varied_campaigns()}
    slug, fields = BUILDS[0]
    recorded = json.loads(RELEASE_BYTES.read_text())
    # Whatever another drawing might still leave set, the plots draw from the defaults.
    with matplotlib.rc_context({"font.size": 19, "axes.edgecolor": "red", "figure.dpi": 50}):
        job = jobs.export_job_create(campaign=campaigns[slug], enqueue=False, **fields)
        ExportJob.objects.filter(pk=job.pk).update(pseudonym_key=KEY, snapshot_at=SNAPSHOT)
        job = jobs.export_job_run(job_id=job.pk)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    found = _digests(settings.RELEASES_ROOT / job.release_path)
    plots = {name: digest for name, digest in found.items() if name.startswith("plots/")}
    assert plots, sorted(found)
    assert found == recorded[job.release_path]
