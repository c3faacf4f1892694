"""Releases of single-response rating campaigns: KTO rows, per-attribute regression
targets per audience, and Krippendorff's α per attribute, checked by hand and against
Krippendorff's published worked example."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from aggregation.metrics import krippendorff_alpha_from_counts
from aggregation.models import ExportJob
from aggregation.release import jobs, pipeline
from collection import services
from collection.models import Campaign
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.helpers import respond

pytestmark = pytest.mark.django_db

RUBRIC = [
    {"name": "helpfulness", "description": "How useful the response <b>really</b> is."},
    {"name": "verbosity", "description": "Too short (0) to too long (4)."},
]


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def rating_campaign(audiences: dict, *, items: int, rubric=RUBRIC, scale=(0, 4), slug="rated"):
    owner = make_researcher()
    campaign = services.campaign_create(
        slug=slug,
        name="Rated replies",
        item_kind="rating",
        owners=[owner],
        rating_min=scale[0],
        rating_max=scale[1],
        rating_rubric=rubric,
        targets=audiences,
    )
    campaign.status = Campaign.Status.OPEN
    campaign.save()
    if not items:
        return campaign
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "external_id": f"r{n}",
                "prompt": f"How long should I boil an egg? ({n})",
                "payload": {"response": {"text": f"{n + 6} minutes.", "source": f"m{n % 2}"}},
            }
            for n in range(items)
        ],
    )
    return campaign


def rate(campaign, audience, table: dict[str, list]) -> None:
    """One participant per column of ``table`` (external id -> scores per participant;
    None: that participant did not rate the item)."""
    items = {item.external_id: item for item in campaign.items.all()}
    raters = len(next(iter(table.values())))
    for person_index in range(raters):
        person = ready_participant(audience=audience, campaign=campaign)
        for external_id, scores in table.items():
            if scores[person_index] is not None:
                respond(
                    person,
                    campaign,
                    audience,
                    [items[external_id]],
                    lambda item, s=scores[person_index]: {"scores": s},
                )


def build(campaign, django_capture_on_commit_callbacks) -> ExportJob:
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign, formats=["jsonl"])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def load(folder, name):
    import datasets

    os.environ["HF_HUB_OFFLINE"] = "1"
    return datasets.load_dataset(
        str(folder), name=name, cache_dir=str(folder.parent / ".hf-cache")
    )["train"]


def h(helpfulness, verbosity):
    return {"helpfulness": helpfulness, "verbosity": verbosity}


def test_a_rating_release_loads_kto_rows_and_per_audience_targets_with_hand_computed_means(
    releases_root, django_capture_on_commit_callbacks
):
    everyone = AudienceFactory(slug="everyone")
    nurses = AudienceFactory(slug="nurses")
    campaign = rating_campaign({everyone: 3, nurses: 2}, items=2)
    rate(
        campaign,
        everyone,
        {"r0": [h(4, 1), h(3, 1), h(2, 4)], "r1": [h(0, 2), h(1, 3), None]},
    )
    rate(campaign, nurses, {"r0": [h(1, 0), h(1, 2)], "r1": [h(4, 4), h(3, 3)]})
    job = build(campaign, django_capture_on_commit_callbacks)
    folder = releases_root / job.release_path

    readme = (folder / "README.md").read_text()
    header = readme.split("---")[1].splitlines()
    names = {line.split('"')[1] for line in header if "config_name" in line}
    assert names == {
        "everyone-rating-kto",
        "everyone-rating-targets",
        "everyone-participants",
        "nurses-rating-kto",
        "nurses-rating-targets",
        "nurses-participants",
    }
    # The card states the label's attribute and threshold.
    assert "`label` is true when `helpfulness` is above 2, the middle of the 0–4 scale" in readme
    assert "- `verbosity` (Verbosity): Too short (0) to too long (4)." in readme
    assert "response &lt;b&gt;really&lt;/b&gt; is." in readme and "<b>" not in readme

    targets = {
        (row["audience"], row["external_id"]): row
        for name in ("everyone-rating-targets", "nurses-rating-targets")
        for row in load(folder, name)
    }
    # Hand-computed: everyone on r0 gave helpfulness 4, 3, 2 and verbosity 1, 1, 4.
    r0 = targets[("everyone", "r0")]
    assert (r0["n"], r0["mean_helpfulness"], r0["mean_verbosity"]) == (3, 3.0, 2.0)
    assert r0["std_helpfulness"] == pytest.approx(1.0)
    assert r0["std_verbosity"] == pytest.approx(math.sqrt(3))
    assert (r0["prompt"], r0["response"], r0["source"]) == (
        "How long should I boil an egg? (0)",
        "6 minutes.",
        "m0",
    )
    r1 = targets[("everyone", "r1")]
    assert (r1["n"], r1["mean_helpfulness"], r1["mean_verbosity"]) == (2, 0.5, 2.5)
    nurses_r1 = targets[("nurses", "r1")]
    assert (nurses_r1["mean_helpfulness"], nurses_r1["mean_verbosity"]) == (3.5, 3.5)
    assert nurses_r1["std_verbosity"] == pytest.approx(math.sqrt(0.5))

    kto = load(folder, "everyone-rating-kto")
    # The helpfulness 2 on r0 sits at the midpoint and is left out.
    assert len(kto) == 4
    rows = sorted((row["external_id"], row["rating"], row["label"]) for row in kto)
    assert rows == [("r0", 3, True), ("r0", 4, True), ("r1", 0, False), ("r1", 1, False)]
    first = next(row for row in kto if row["rating"] == 4)
    assert (first["prompt"], first["completion"], first["rated_attribute"]) == (
        "How long should I boil an egg? (0)",
        "6 minutes.",
        "helpfulness",
    )
    assert (first["score_helpfulness"], first["score_verbosity"]) == (4, 1)
    assert len(first["participant_id"]) > 10 and first["weight"] == 1.0

    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    agreement = metrics["audiences"]["everyone"]["agreement"]
    assert set(agreement) == {"helpfulness", "verbosity"}
    assert agreement["helpfulness"]["judgements"] == 5
    # Two items judged at least twice: too few to show α (the card says so).
    assert agreement["helpfulness"]["pairable_units"] == 2
    assert agreement["helpfulness"]["too_few_overlapping_judgements"] is True
    assert "too few overlapping judgements" in readme

    # Between audiences, per attribute: Jensen–Shannon divergence of the score
    # distributions of each shared item. Helpfulness never overlaps (1 bit on both
    # items); verbosity on r1 is {2, 3} against {3, 4}: with M = (¼, ½, ¼) each side
    # is ½·log2(½/¼) = ½ bit away, so the JSD is ½, and the mean (1 + ½) / 2.
    divergence = {entry["attribute"]: entry for entry in metrics["pluralism"]["divergence"]}
    assert divergence["helpfulness"]["mean_jsd"] == pytest.approx(1.0)
    assert divergence["verbosity"]["mean_jsd"] == pytest.approx(0.75)
    assert divergence["verbosity"]["shared_items"] == 2
    assert divergence["verbosity"]["most_divergent_items"][-1]["external_id"] == "r1"
    assert "score most differently on `helpfulness`" in readme


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1-5, missing where an observer did not code the unit.
# The published coefficients: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797,
# over n = 40 pairable values in 11 units (unit 12 has one value and is not pairable).
WORKED_EXAMPLE = {
    "u1": [1, 1, None, 1],
    "u2": [2, 2, 3, 2],
    "u3": [3, 3, 3, 3],
    "u4": [3, 3, 3, 3],
    "u5": [2, 2, 2, 2],
    "u6": [1, 2, 3, 4],
    "u7": [4, 4, 4, 4],
    "u8": [1, 1, 2, 1],
    "u9": [2, 2, 2, 2],
    "u10": [None, 5, 5, 5],
    "u11": [None, None, 1, 1],
    "u12": [None, 3, None, None],
}


def test_alpha_per_attribute_reproduces_krippendorffs_worked_example_entered_as_ratings():
    raters = AudienceFactory(slug="observers")
    campaign = rating_campaign({raters: 4}, items=0, rubric=[], scale=(1, 5))
    services.items_create(
        campaign=campaign,
        rows=[
            {"external_id": unit, "prompt": f"Unit {unit}", "payload": {"response": unit}}
            for unit in WORKED_EXAMPLE
        ],
    )
    rate(
        campaign,
        raters,
        {
            unit: [None if v is None else {"overall": v} for v in values]
            for unit, values in WORKED_EXAMPLE.items()
        },
    )
    metrics = pipeline.campaign_metrics(campaign=campaign, parts={"agreement"})
    overall = metrics["audiences"]["observers"]["agreement"]["overall"]
    assert round(overall["alpha_interval"], 3) == 0.849
    assert round(overall["alpha_ordinal"], 3) == 0.815
    assert overall["judgements"] == 41  # 40 pairable values and unit 12's lone one
    assert (overall["pairable_units"], overall["pairable_values"]) == (11, 40)
    assert overall["too_few_overlapping_judgements"] is False
    low, high = overall["alpha_interval_ci95"]
    assert low < 0.849 < high

    # The same counts (units × values 1..5) give the nominal and ratio coefficients too.
    counts = np.zeros((12, 5))
    for u, values in enumerate(WORKED_EXAMPLE.values()):
        for value in values:
            if value is not None:
                counts[u, value - 1] += 1
    domain = range(1, 6)
    assert round(krippendorff_alpha_from_counts(counts, level="nominal"), 3) == 0.743
    assert round(krippendorff_alpha_from_counts(counts, level="ratio", value_domain=domain), 3) == (
        0.797
    )
