"""Releases: nothing published lets a reader recover a suppressed participant's attributes.

The attack is the one an outside probe ran (issue #10, item 1): raking weights
are a product of one factor per attribute value, so fitting those factors on
the rows whose attributes are published, by least squares on log weight,
predicts the weight of every attribute combination, and a suppressed row's
weight then names its combination. A second reader subtracts the published
rows' counts from the counts in metrics.json.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from aggregation.models import ExportJob
from aggregation.release import jobs, privacy
from collection.models import Audience
from tests.factories import (
    AudienceFactory,
    MembershipFactory,
    UserFactory,
    make_campaign,
    ready_participant,
)
from tests.helpers import respond

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "age_band", "label": "Age band", "choices": ["18-29", "30-44", "45-64", "65+"]},
    {"name": "sex", "label": "Sex", "choices": ["female", "male"]},
    {"name": "ethnicity", "label": "Ethnicity", "choices": ["white", "asian", "black", "mixed"]},
]
# Skewed, as a real sample is: many of the 32 cells end up under the minimum of 5.
SHARES = {
    "age_band": [0.3, 0.3, 0.25, 0.15],
    "sex": [0.55, 0.45],
    "ethnicity": [0.5, 0.2, 0.15, 0.15],
}
TARGETS = {
    "age_band": {"18-29": 0.2, "30-44": 0.25, "45-64": 0.33, "65+": 0.22},
    "sex": {"female": 0.51, "male": 0.49},
    "ethnicity": {"white": 0.8, "asian": 0.1, "black": 0.05, "mixed": 0.05},
}
NAMES = [attribute["name"] for attribute in SCHEMA]


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def build(campaign, django_capture_on_commit_callbacks, **fields) -> ExportJob:
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign, **fields)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


@pytest.fixture
def census_campaign():
    """A public audience of 160 members with three attributes and census targets, each
    member answering two items; ``true`` maps each pseudonymised id to their true values."""
    owner = UserFactory()
    public = AudienceFactory(
        slug="census",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=SCHEMA,
        target_marginals=TARGETS,
    )
    campaign = make_campaign(audiences={public: 200}, items=2, owners=[owner], slug="census-pairs")
    items = list(campaign.items.order_by("id"))
    rng = np.random.default_rng(10)
    true = {}
    for n in range(160):
        values = {
            attribute["name"]: attribute["choices"][
                rng.choice(len(attribute["choices"]), p=SHARES[attribute["name"]])
            ]
            for attribute in SCHEMA
        }
        person = ready_participant(audience=public, campaign=campaign, attributes=values)
        respond(person, campaign, public, items, lambda item, n=n: {"choice": "ab"[n % 2]})
        true[person.pk] = values
    campaign.true_values = true
    return campaign


def published_people(folder, audience: str, names: list[str] = NAMES) -> pd.DataFrame:
    """One row per participant as the release shows them: weight and attributes."""
    rows = pq.read_table(folder / audience / "preferences.parquet").to_pandas()
    columns = ["weight", *[f"attr_{name}" for name in names]]
    return rows.groupby("participant_id")[columns].first()


def fit_and_recover(people: pd.DataFrame) -> pd.Series:
    """The probe's attack: fit log weight = Σ factor(attribute value) on the rows with
    published attributes; give each suppressed row the combination whose predicted
    weight is nearest its own."""
    columns = [f"attr_{name}" for name in NAMES]
    shown = people[columns].notna().all(axis=1)
    levels = [
        (name, value)
        for attribute in SCHEMA
        for name, value in [(attribute["name"], v) for v in attribute["choices"]]
    ]

    def design(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [np.ones(len(frame))]
            + [(frame[f"attr_{name}"] == value).to_numpy(float) for name, value in levels]
        )

    factors, *_ = np.linalg.lstsq(design(people[shown]), np.log(people["weight"][shown]))
    combos = pd.DataFrame(
        list(itertools.product(*[attribute["choices"] for attribute in SCHEMA])), columns=columns
    )
    predicted = design(combos) @ factors
    guesses = {}
    for participant, weight in people["weight"][~shown].items():
        best = int(np.argmin(np.abs(predicted - math.log(weight))))
        guesses[participant] = tuple(combos.iloc[best])
    return pd.Series(guesses, dtype=object)


def values_left_open(people: pd.DataFrame, schema: list[dict]) -> dict[str, set]:
    """The second attack: a suppressed member's combination is one that no published
    cell has (published cells are shown whole), so per attribute, the values that such
    a combination can still have."""
    columns = [f"attr_{attribute['name']}" for attribute in schema]
    shown = people[columns].dropna()
    published = set(shown.itertuples(index=False, name=None))
    unpublished = [
        combo
        for combo in itertools.product(*[attribute["choices"] for attribute in schema])
        if combo not in published
    ]
    return {
        attribute["name"]: {combo[i] for combo in unpublished} for i, attribute in enumerate(schema)
    }


def test_suppressed_participants_attributes_cannot_be_recovered_from_weights(
    census_campaign, releases_root, django_capture_on_commit_callbacks
):
    job = build(census_campaign, django_capture_on_commit_callbacks)
    folder = releases_root / job.release_path
    people = published_people(folder, "census")
    census = Audience.objects.get(slug="census").pk
    truth = {
        privacy.pseudonym(job.pseudonym_key, pk, census): tuple(values[name] for name in NAMES)
        for pk, values in census_campaign.true_values.items()
    }
    guesses = fit_and_recover(people)
    counts = json.loads((folder / "metrics.json").read_text())["counts"]["audiences"]["census"]
    # The fixture leaves many participants suppressed, as in the probe's release.
    assert len(guesses) == counts["suppressed_participants"] >= 30
    actual = pd.Series({p: truth[p] for p in guesses.index}, dtype=object)
    recovered = int((guesses == actual).sum())
    # Chance: the best a reader does with no per-person information, naming for everyone
    # the combination most suppressed participants have.
    chance = int(actual.value_counts().max())
    assert recovered <= chance, f"recovered {recovered} of {len(guesses)} (chance: {chance})"
    for i, name in enumerate(NAMES):
        wanted = actual.map(lambda combo, i=i: combo[i])
        guessed = guesses.map(lambda combo, i=i: combo[i])
        assert (guessed == wanted).sum() <= wanted.value_counts().max(), name
    assert all(len(open_values) >= 2 for open_values in values_left_open(people, SCHEMA).values())


def test_which_cells_are_published_does_not_imply_a_suppressed_participants_values(
    releases_root, django_capture_on_commit_callbacks
):
    # Six members aged 18-39 and two aged 40+: suppressing only the two would tell every
    # reader that the people with no age shown are 40+, so the six go unshown too.
    schema = [{"name": "age_band", "label": "Age band", "choices": ["18-39", "40+"]}]
    public = AudienceFactory(
        slug="town",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=schema,
        target_marginals={"age_band": {"18-39": 0.5, "40+": 0.5}},
    )
    campaign = make_campaign(audiences={public: 20}, items=1, owners=[UserFactory()])
    for band in ["18-39"] * 6 + ["40+"] * 2:
        person = ready_participant(
            audience=public, campaign=campaign, attributes={"age_band": band}
        )
        respond(person, campaign, public, campaign.items.all(), lambda item: {"choice": "a"})
    job = build(campaign, django_capture_on_commit_callbacks)
    folder = releases_root / job.release_path
    people = published_people(folder, "town", ["age_band"])
    assert people["attr_age_band"].isna().any()
    assert values_left_open(people, schema) == {"age_band": {"18-39", "40+"}}
    assert people["weight"].nunique() == 1
    counts = json.loads((folder / "metrics.json").read_text())["counts"]["audiences"]["town"]
    assert counts["suppressed_participants"] == 8


def test_metrics_count_suppressed_participants_as_suppressed_not_by_their_values(
    census_campaign, releases_root, django_capture_on_commit_callbacks
):
    # Counts over every participant, less the published rows' counts, would give the
    # suppressed group's values (for a group of one, the person's): every number in
    # metrics.json must come from the published rows alone.
    job = build(census_campaign, django_capture_on_commit_callbacks)
    folder = releases_root / job.release_path
    people = published_people(folder, "census")
    document = json.loads((folder / "metrics.json").read_text())
    report = document["metrics"]["audiences"]["census"]
    suppressed = document["counts"]["audiences"]["census"]["suppressed_participants"]
    assert suppressed == people[f"attr_{NAMES[0]}"].isna().sum() > 0
    for attribute in SCHEMA:
        name = attribute["name"]
        shown = people[f"attr_{name}"].dropna()
        entry = report["coverage"]["attributes"][name]
        for row in entry["values"]:
            in_rows = int((shown == row["value"]).sum())
            if row["count"] is not None:
                assert row["count"] == in_rows, (name, row)
                assert row["observed_share"] == pytest.approx(in_rows / len(shown), abs=1e-6)
        assert entry["suppressed_participants"] == suppressed
        shares = shown.value_counts(normalize=True)
        entropy = -(shares * np.log(shares)).sum() / math.log(len(attribute["choices"]))
        assert report["diversity"]["attribute_entropy"][name] == pytest.approx(entropy, abs=1e-6)
    weights = people["weight"]
    kish = weights.sum() ** 2 / (weights**2).sum()
    assert report["coverage"]["weights"]["kish_effective_sample_size"] == pytest.approx(
        kish, abs=1e-5
    )
    # The card says how suppressed participants are counted, and no longer how many
    # cells they fall in (two suppressed people in one cell: each learns the other's values).
    card = (folder / "README.md").read_text()
    assert f"Attribute values of {suppressed} participants are suppressed" in card
    assert "counted as suppressed" in card
    assert "suppressed_cells" not in json.dumps(document)


def test_a_dyadic_release_publishes_nothing_derived_from_its_members_attributes(
    releases_root, django_capture_on_commit_callbacks
):
    owner = UserFactory()
    alex = AudienceFactory(
        slug="alex",
        kind=Audience.Kind.DYADIC,
        attribute_schema=[{"name": "sex", "label": "Sex", "choices": ["female", "male"]}],
    )
    campaign = make_campaign(audiences={alex: 1}, items=3, owners=[owner], slug="alex-pairs")
    person = ready_participant(audience=alex, campaign=campaign, attributes={"sex": "female"})
    respond(person, campaign, alex, campaign.items.all(), lambda item: {"choice": "a"})
    # Even when the researcher turns cell suppression off.
    for options in ({}, {"min_cell_size": 1}):
        job = build(campaign, django_capture_on_commit_callbacks, options=options)
        folder = releases_root / job.release_path
        rows = pq.read_table(folder / "alex" / "preferences.parquet").to_pandas()
        assert len(rows) == 3 and rows["attr_sex"].isna().all(), options
        report = json.loads((folder / "metrics.json").read_text())["metrics"]["audiences"]["alex"]
        entry = report["coverage"]["attributes"]["sex"]
        assert [(row["value"], row["count"]) for row in entry["values"]] == [
            ("female", 0),
            ("male", 0),
        ], options
        assert entry["suppressed_participants"] == 1
        assert report["diversity"]["attribute_entropy"]["sex"] is None, options


def test_one_person_in_two_audiences_cannot_be_linked_across_them(
    releases_root, django_capture_on_commit_callbacks
):
    # Suppressed in a small audience, published in a large one that asks the same
    # attribute: a shared pseudonym would carry the published value across.
    schema = [{"name": "age_band", "label": "Age", "choices": ["18-39", "40+"]}]
    small = AudienceFactory(slug="small", attribute_schema=schema)
    large = AudienceFactory(slug="large", attribute_schema=schema)
    campaign = make_campaign(audiences={small: 3, large: 9}, items=4, owners=[UserFactory()])
    items = list(campaign.items.order_by("id"))
    both = ready_participant(audience=small, campaign=campaign, attributes={"age_band": "40+"})
    MembershipFactory(participant=both, audience=large, attributes={"age_band": "40+"})
    # One answer per item, whichever audience it counts for.
    respond(both, campaign, small, items[:2], lambda item: {"choice": "a"})
    respond(both, campaign, large, items[2:], lambda item: {"choice": "a"})
    for _ in range(6):
        person = ready_participant(
            audience=large, campaign=campaign, attributes={"age_band": "40+"}
        )
        respond(person, campaign, large, items, lambda item: {"choice": "b"})
    job = build(campaign, django_capture_on_commit_callbacks)
    folder = releases_root / job.release_path
    small_rows = pq.read_table(folder / "small" / "preferences.parquet").to_pandas()
    large_rows = pq.read_table(folder / "large" / "preferences.parquet").to_pandas()
    assert small_rows["attr_age_band"].isna().all()  # a cell of one: suppressed
    assert (large_rows["attr_age_band"] == "40+").all()  # seven alike: published
    assert set(small_rows["participant_id"]).isdisjoint(set(large_rows["participant_id"]))
