"""Releases: layout, formats that load and train, privacy, exclusions, determinism."""

from __future__ import annotations

import json
import os
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from aggregation import metrics, selectors
from aggregation.metrics import bradley_terry_from_counts
from aggregation.models import ExportJob, Release
from aggregation.release import files, jobs, kinds, pipeline, plots, privacy
from collection import services as collection_services
from collection.models import Audience, Campaign
from tests.factories import AudienceFactory, make_campaign, ready_participant
from tests.helpers import answer_all, demonstration_campaign

pytestmark = pytest.mark.django_db


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


def release_dir(releases_root, job):
    return releases_root / job.release_path


def load_splits(path, name):
    """Every split of a config, as `datasets` loads it."""
    import datasets

    os.environ["HF_HUB_OFFLINE"] = "1"
    return datasets.load_dataset(str(path), name=name, cache_dir=str(path.parent / ".hf-cache"))


def load(path, name):
    return load_splits(path, name)["train"]


@pytest.fixture
def published(preference_campaign, owner, releases_root, django_capture_on_commit_callbacks):
    """The preference fixture's first release, with JSONL and OpenAI twins: (folder, job)."""
    job = build(
        preference_campaign,
        django_capture_on_commit_callbacks,
        created_by=owner,
        formats=["jsonl", "openai"],
    )
    return release_dir(releases_root, job), job


def test_a_release_is_published_as_a_version_folder_of_its_campaign(published):
    folder, job = published
    assert folder.name == "v1" and folder.parent.name == "advice-pairs"
    release = Release.objects.get(job=job)
    assert release.version == 1 and (folder / release.zip_name).exists()


def test_the_card_names_a_config_per_audience_and_dataset_and_each_loads(published):
    folder, _ = published
    readme = (folder / "README.md").read_text()
    header = readme.split("---")[1]
    names = [line.split('"')[1] for line in header.splitlines() if "config_name" in line]
    views = {
        "preferences",
        "preference-votes",
        "preferences-by-participant",
        "preferences-by-item",
        "soft-labels",
        "icl-packs",
        "participants",
    }
    # Held-out participants get a config when the people the split holds out have
    # decided pairs (the split hashes internal ids; uk-adults has one who only ties).
    heldout = {"everyone-heldout-participants", "uk-adults-heldout-participants"}
    assert set(names) - heldout == {f"everyone-{view}" for view in views} | {
        f"uk-adults-{view}" for view in {*views, "ratings-kto", "ties"}
    }
    assert "everyone-heldout-participants" in names
    for name in names:
        splits = load_splits(folder, name)
        assert splits and all(len(rows) > 0 for rows in splits.values()), name


def test_preference_pairs_have_trl_columns_in_standard_form_and_scope_columns(published):
    folder, _ = published
    pairs = load(folder, "uk-adults-preferences")
    # Standard (not conversational) form: DPOTrainer's prompt / chosen / rejected strings.
    row = pairs[0]
    assert isinstance(row["prompt"], str) and row["prompt"].startswith("Question number")
    assert isinstance(row["chosen"], str) and isinstance(row["rejected"], str)
    assert row["chosen"] != row["rejected"]
    for column in ("item_id", "audience", "competence", "transience", "participant_id", "weight"):
        assert column in pairs.column_names
    assert set(pairs["audience"]) == {"uk-adults"} and set(pairs["competence"]) == {"behaviour"}


def test_ties_are_kept_apart_from_dpo_pairs_in_listed_order(published):
    folder, _ = published
    pairs = load(folder, "uk-adults-preferences")
    ties = load(folder, "uk-adults-ties")
    assert "tie" not in pairs.column_names and all(
        r["chosen_id"] != r["rejected_id"] for r in pairs
    )
    # One of the six ties on every item: kept, with the candidates in listed order.
    assert len(ties) == 8 and all((r["id_a"], r["id_b"]) == ("a", "b") for r in ties)


def test_kto_rows_are_labelled_by_the_scale_midpoint_and_leave_it_out(published):
    folder, _ = published
    kto = load(folder, "uk-adults-ratings-kto")
    assert {"prompt", "completion", "label"} <= set(kto.column_names)
    assert all(r["label"] == (r["rating"] > 3) for r in kto) and 3 not in set(kto["rating"])


def test_vote_distributions_have_one_row_per_item_with_shares_summing_to_one(published):
    folder, _ = published
    votes = pq.read_table(folder / "uk-adults" / "preference_votes.parquet").to_pylist()
    assert len(votes) == 8
    for vote in votes:
        assert vote["total"] == 6 and abs(sum(vote["shares"]) - 1) < 1e-9
        assert [c["id"] for c in vote["candidates"]] == ["a", "b"]


def test_jsonl_twins_hold_the_same_rows_and_openai_files_only_decided_pairs(published):
    folder, _ = published
    pairs = load(folder, "uk-adults-preferences")
    jsonl = (folder / "uk-adults" / "preferences.jsonl").read_text().splitlines()
    assert len(jsonl) == len(pairs)
    openai = [
        json.loads(line)
        for line in (folder / "uk-adults" / "preferences.openai.jsonl").read_text().splitlines()
    ]
    assert len(openai) == len(pairs)
    assert openai[0]["input"]["messages"][-1]["role"] == "user"
    assert openai[0]["preferred_output"][0]["role"] == "assistant"
    assert openai[0]["non_preferred_output"][0]["content"]


def test_the_manifest_holds_each_files_sha256_and_the_export_parameters(published):
    folder, _ = published
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert entry["sha256"] == files.sha256_of(folder / entry["path"])
    assert manifest["parameters"]["options"]["min_cell_size"] == 5


def test_metrics_json_covers_every_audience_and_the_plots_are_drawn(published):
    folder, _ = published
    metrics_doc = json.loads((folder / "metrics.json").read_text())
    assert set(metrics_doc["metrics"]["audiences"]) == {"everyone", "uk-adults"}
    assert metrics_doc["metrics"]["pluralism"]["divergence"][0]["shared_items"] == 8
    assert {p.name for p in (folder / "plots").iterdir()} == {
        "coverage.png",
        "agreement.png",
        "divergence.png",
    }


def test_each_dataset_file_has_the_columns_its_module_declares(published):
    folder, _ = published
    paths = [*folder.glob("*/*.parquet"), *folder.glob("*/*/*.parquet")]
    assert {path.parent.name for path in paths} >= {"preferences_by_participant"}
    for path in paths:
        name = path.stem if path.parent.parent == folder else path.parent.name
        declared = kinds.dataset(name).columns
        assert set(declared) <= set(pq.read_schema(path).names), path


def test_excluded_and_withdrawn_people_are_absent_and_no_username_leaves(
    preference_campaign, owner, releases_root, django_capture_on_commit_callbacks
):
    people = preference_campaign.test_people
    withdrawn, unconsented, inattentive = people["everyone"][:3]
    job = build(preference_campaign, django_capture_on_commit_callbacks, formats=["jsonl"])
    folder = release_dir(releases_root, job)
    everyone = pq.read_table(folder / "everyone" / "preferences.parquet").to_pandas()
    present = set(everyone["participant_id"])
    audience_id = Audience.objects.get(slug="everyone").pk
    for person in (withdrawn, unconsented, inattentive):
        assert privacy.pseudonym(job.pseudonym_key, person.pk, audience_id) not in present
    kept = people["everyone"][3:]
    assert present == {privacy.pseudonym(job.pseudonym_key, p.pk, audience_id) for p in kept}
    assert "Attention check" not in everyone["prompt"].str.cat()
    counts = json.loads((folder / "metrics.json").read_text())["counts"]
    assert counts["excluded_unconsented_participants"] == 1
    assert counts["excluded_failed_attention_participants"] == 1
    assert counts["withdrawn_since_previous"] == 1
    assert "1 participant withdrew since the campaign began" in (folder / "README.md").read_text()

    everything = b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())
    for person in [*people["everyone"], *people["uk-adults"]]:
        assert person.user.username.encode() not in everything
        assert person.user.email.encode() not in everything
    assert owner.username.encode() not in everything

    # Keeping inattentive participants is an option.
    job = build(
        preference_campaign,
        django_capture_on_commit_callbacks,
        options={"exclude_failed_attention": False},
    )
    table = pq.read_table(release_dir(releases_root, job) / "everyone" / "preferences.parquet")
    assert privacy.pseudonym(job.pseudonym_key, inattentive.pk, audience_id) in set(
        table.column("participant_id").to_pylist()
    )


def test_small_cells_are_suppressed_and_stated(
    preference_campaign, releases_root, django_capture_on_commit_callbacks
):
    job = build(preference_campaign, django_capture_on_commit_callbacks)
    folder = release_dir(releases_root, job)
    rows = pq.read_table(folder / "uk-adults" / "participants.parquet").to_pandas()
    by_person = rows.set_index("participant_id")["attr_age_band"]
    # The one '40+' member is suppressed; so is the cell of five aged 18-39, for with it
    # shown, every reader would know the member without an age to be 40+.
    assert len(by_person) == 6 and by_person.isna().all()
    pairs = pq.read_table(folder / "uk-adults" / "preferences.parquet").to_pandas()
    assert pairs["attr_age_band"].isna().all()
    assert (
        "Attribute values of 6 participants are suppressed (null)"
        in (folder / "README.md").read_text()
    )
    shares = json.loads((folder / "metrics.json").read_text())["metrics"]["audiences"]
    cells = shares["uk-adults"]["coverage"]["attributes"]["age_band"]
    assert [(c["value"], c["count"]) for c in cells["values"]] == [("18-39", 0), ("40+", 0)]
    assert cells["suppressed_participants"] == 6
    # Raking has no published value to work on: weights stay 1, and the card says so.
    weights = rows.groupby("participant_id")["weight"].first()
    assert set(weights) == {1.0}
    assert shares["uk-adults"]["coverage"]["weights"]["note"].startswith("not raked")
    assert set(
        pq.read_table(folder / "everyone" / "preferences.parquet")["weight"].to_pylist()
    ) == {1.0}

    # A smaller threshold keeps the cell.
    job = build(
        preference_campaign, django_capture_on_commit_callbacks, options={"min_cell_size": 1}
    )
    rows = pq.read_table(
        release_dir(releases_root, job) / "uk-adults" / "participants.parquet"
    ).to_pandas()
    assert rows["attr_age_band"].notna().all()
    # With every value published, rows carry raking weights (mean 1 over participants).
    weights = rows.set_index("participant_id")["weight"]
    assert weights.round(6).nunique() == 2 and abs(weights.mean() - 1) < 1e-9


def test_pseudonyms_differ_between_releases_and_withdrawals_are_counted(
    preference_campaign, releases_root, django_capture_on_commit_callbacks
):
    first = build(preference_campaign, django_capture_on_commit_callbacks)
    leaver = preference_campaign.test_people["uk-adults"][0]
    collection_services.participant_withdraw(participant=leaver, campaign=preference_campaign)
    second = build(preference_campaign, django_capture_on_commit_callbacks)
    assert (first.version, second.version) == (1, 2)

    def pseudonyms(job):
        path = release_dir(releases_root, job) / "uk-adults" / "preferences.parquet"
        return set(pq.read_table(path).column("participant_id").to_pylist())

    assert pseudonyms(first).isdisjoint(pseudonyms(second))
    assert len(pseudonyms(second)) == len(pseudonyms(first)) - 1
    release = Release.objects.get(job=second)
    assert release.withdrawn_since_previous == 1
    assert (
        "1 participant withdrew since release v1"
        in (release_dir(releases_root, second) / "README.md").read_text()
    )


def test_two_builds_of_a_job_are_byte_identical(preference_campaign, tmp_path):
    job = jobs.export_job_create(
        campaign=preference_campaign, formats=["jsonl", "openai"], enqueue=False
    )
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
        pipeline.release_write(job=job, directory=folder, progress=lambda f, m: None)
    names = sorted(p.relative_to(folders[0]) for p in folders[0].rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(folders[1]) for p in folders[1].rglob("*") if p.is_file())
    for name in names:
        one, two = (folder / name for folder in folders)
        if name.name == "manifest.json":
            first, second = json.loads(one.read_text()), json.loads(two.read_text())
            first.pop("built_at"), second.pop("built_at")
            assert first == second
        elif name.suffix != ".zip":  # the zip holds the manifest, and so its build time
            assert one.read_bytes() == two.read_bytes(), name
    assert pq.ParquetFile(folders[0] / "everyone" / "preferences.parquet").metadata.created_by


def test_conversational_items_give_message_lists(
    owner, releases_root, django_capture_on_commit_callbacks
):
    audience = AudienceFactory(slug="nurses", kind=Audience.Kind.GROUP, max_members=10)
    pairs = make_campaign(
        audiences={audience: 3},
        items=3,
        owners=[owner],
        slug="ward-pairs",
        transience=Campaign.Transience.EPISODIC,
        preference_format=Campaign.PreferenceFormat.RANKING,
    )
    for n in range(3):
        person = ready_participant(audience=audience, campaign=pairs)
        answer_all(
            person, pairs, lambda item, n=n: {"ranking": ["c", "a", "b"] if n else ["a", "b", "c"]}
        )
    job = build(pairs, django_capture_on_commit_callbacks, formats=["openai"])
    folder = release_dir(releases_root, job)
    rows = load(folder, "nurses-preferences")
    assert len(rows) == 3 * 3 * 3  # three rankings of three give three pairs each
    row = rows[0]
    assert (
        row["prompt"]
        == [
            {"role": "user", "content": "Earlier turn"},
        ]
        or row["prompt"][-1]["role"] == "user"
    )
    assert row["chosen"] == [{"role": "assistant", "content": row["chosen"][0]["content"]}]
    assert row["rejected"][0]["role"] == "assistant" and set(rows["pair_from"]) == {"ranking"}
    agreement = json.loads((folder / "metrics.json").read_text())["metrics"]["audiences"]["nurses"]
    assert "alpha_ordinal" in agreement["agreement"]["ranking"]

    demos = demonstration_campaign(owner, AudienceFactory(slug="ward-7"))
    job = build(demos, django_capture_on_commit_callbacks, formats=["openai", "jsonl"])
    folder = release_dir(releases_root, job)
    rows = load(folder, "ward-7-demonstrations")
    assert len(rows) == 4 * 5
    row = rows[0]
    assert row["messages"][0] == {"role": "user", "content": "Earlier turn"}
    assert row["messages"][-1]["role"] == "assistant"
    assert row["completion"] == [row["messages"][-1]] and row["prompt"] == row["messages"][:-1]
    sft = json.loads(
        (folder / "ward-7" / "demonstrations.openai.jsonl").read_text().splitlines()[0]
    )
    assert sft["messages"][-1]["role"] == "assistant"


def test_campaign_metrics_are_what_the_release_reports(
    preference_campaign, releases_root, django_capture_on_commit_callbacks
):
    job = build(preference_campaign, django_capture_on_commit_callbacks)
    reported = json.loads((release_dir(releases_root, job) / "metrics.json").read_text())
    again = pipeline.campaign_metrics(campaign=preference_campaign, snapshot_at=job.snapshot_at)
    assert json.loads(json.dumps(again)) == reported["metrics"]


def test_bradley_terry_from_counts_matches_the_metric():
    pairs = pd.DataFrame(
        {
            "winner_source": ["x", "x", "y", "z", "x", "z", "y", "x"],
            "loser_source": ["y", "z", "z", "x", "y", "y", "x", "z"],
        }
    )
    counts = pairs.value_counts().to_dict()
    expected = metrics.bradley_terry(pairs)
    assert bradley_terry_from_counts(counts).round(9).equals(expected.round(9))


def test_a_failed_build_publishes_nothing_and_can_be_run_again(
    preference_campaign, releases_root, monkeypatch, django_capture_on_commit_callbacks
):
    real = pipeline.release_write

    def broken(**kwargs):
        real(**kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "release_write", broken)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=preference_campaign)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "disk full" in job.error
    assert not Release.objects.exists()
    assert list((releases_root / "advice-pairs").iterdir()) == []
    monkeypatch.setattr(pipeline, "release_write", real)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.export_job_retry(job=job)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED and job.attempts == 2
    # A second delivery of the same task finds it done and publishes nothing new.
    assert jobs.export_job_run(job_id=job.pk).status == ExportJob.Status.SUCCEEDED
    assert Release.objects.count() == 1 and job.version == 1


def test_export_release_command(preference_campaign, releases_root, capsys):
    call_command("export_release", "advice-pairs", "--audience", "uk-adults", "--format", "jsonl")
    folder = releases_root / "advice-pairs" / "v1"
    assert (folder / "uk-adults" / "preferences.jsonl").exists()
    assert not (folder / "everyone").exists()
    assert "Published" in capsys.readouterr().out


def live_judgements(campaign) -> pd.DataFrame:
    """Every judgement a release of the fixture keeps, one row each, read with the ORM:
    live responses to ordinary items by participants who consented and passed."""
    from collection.models import Response

    failed = set(
        Response.objects.filter(campaign=campaign, attention_passed=False).values_list(
            "participant_id", flat=True
        )
    )
    rows = []
    for response in (
        Response.objects.filter(
            campaign=campaign, withdrawn_at__isnull=True, item__is_attention_check=False
        )
        .select_related("item", "audience")
        .order_by("id")
    ):
        if response.participant_id in failed or not response.participant.consents.filter(
            campaign=campaign
        ):
            continue
        ids = [c["id"] for c in response.item.payload["candidates"]]
        choice = response.payload.get("choice")
        rows.append(
            {
                "item_id": response.item_id,
                "audience": response.audience.slug,
                "rater_id": response.participant_id,
                "choice": ids.index(choice) if choice in ids else "tie",
                "ratings": response.payload.get("ratings"),
            }
        )
    return pd.DataFrame(rows)


def test_release_metrics_are_the_metric_functions_on_every_judgement(
    preference_campaign, releases_root, django_capture_on_commit_callbacks
):
    # Releases count first (per item, audience and candidate) and compute from the counts;
    # the frame-based functions on one row per judgement must give the same numbers.
    job = build(preference_campaign, django_capture_on_commit_callbacks)
    reported = json.loads((release_dir(releases_root, job) / "metrics.json").read_text())
    found = reported["metrics"]
    data = live_judgements(preference_campaign)

    for slug, mine in data.groupby("audience"):
        choices = mine.rename(columns={"item_id": "unit_id", "choice": "value"})
        agreement = found["audiences"][slug]["agreement"]["choice"]
        assert agreement["alpha_nominal"] == pytest.approx(
            metrics.krippendorff_alpha(choices, level="nominal"), abs=1e-6
        )
        assert agreement["percent_agreement"] == pytest.approx(
            metrics.percent_agreement(choices), abs=1e-6
        )
        assert agreement["judgements"] == len(mine)
        rated = mine.dropna(subset=["ratings"])
        if len(rated):
            long = pd.DataFrame(
                [
                    {"unit_id": (row.item_id, c), "rater_id": row.rater_id, "value": value}
                    for row in rated.itertuples()
                    for c, value in row.ratings.items()
                ]
            )
            for level in ("interval", "ordinal"):
                assert found["audiences"][slug]["agreement"]["ratings"][
                    f"alpha_{level}"
                ] == pytest.approx(metrics.krippendorff_alpha(long, level=level), abs=1e-6)

    distribution = metrics.vote_distribution(data, candidates=[0, 1], tie="tie")
    divergence = metrics.audience_divergence(
        distribution, audience_a="everyone", audience_b="uk-adults"
    )
    (entry,) = found["pluralism"]["divergence"]
    assert entry["shared_items"] == divergence.items
    assert entry["mean_jsd"] == pytest.approx(divergence.mean, abs=1e-6)
    assert [item["item_id"] for item in entry["most_divergent_items"]] == list(divergence.top.index)
    scores = pd.concat(
        [
            metrics.group_aware_consensus(data, candidate=position).rename(position)
            for position in (0, 1)
        ],
        axis=1,
    )
    consensus = found["pluralism"]["consensus"]
    assert consensus["mean_best_candidate"] == pytest.approx(scores.max(axis=1).mean(), abs=1e-6)
    best = consensus["top_items"][0]
    assert best["consensus"] == pytest.approx(scores.to_numpy().max(), abs=1e-6)


def test_coverage_alone_is_counted_by_the_database_and_matches(
    preference_campaign, releases_root, django_capture_on_commit_callbacks
):
    full = pipeline.campaign_metrics(campaign=preference_campaign)
    coverage = pipeline.campaign_metrics(campaign=preference_campaign, parts={"coverage"})
    assert set(coverage) == {"items", "audiences"}
    for slug, report in full["audiences"].items():
        assert coverage["audiences"][slug] == {
            "kind": report["kind"],
            "coverage": report["coverage"],
            "privacy": report["privacy"],
        }
    # Excluded and withdrawn people count nowhere: 3 of the 6 in "everyone" remain.
    assert coverage["audiences"]["everyone"]["coverage"]["participants"] == 3
    assert coverage["audiences"]["everyone"]["coverage"]["responses"] == 3 * 8

    agreement = pipeline.campaign_metrics(campaign=preference_campaign, parts={"agreement"})
    assert set(agreement) == {"items", "audiences"}
    assert (
        agreement["audiences"]["uk-adults"]["agreement"]
        == (full["audiences"]["uk-adults"]["agreement"])
    )
    assert "coverage" not in agreement["audiences"]["uk-adults"]
    with pytest.raises(ValueError, match="unknown metric parts"):
        pipeline.campaign_metrics(campaign=preference_campaign, parts={"speed"})


@pytest.mark.parametrize("where", ["reading", "writing", "drawing"])
def test_a_build_failing_in_a_thread_fails_cleanly(
    preference_campaign, releases_root, monkeypatch, where, django_capture_on_commit_callbacks
):
    # Chunks are fetched and files written in threads beside the build, and the first
    # plot is drawn in a forked child; an error in any (a lost connection, a full disk)
    # fails the job, publishes nothing and leaves no thread or child process behind.
    threads = threading.active_count()

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    if where == "writing":
        monkeypatch.setattr(files.TableFile, "_write", broken)
    elif where == "drawing":
        monkeypatch.setattr(plots, "coverage", broken)
    else:
        monkeypatch.setattr(selectors.judgements, "_fetch_chunk", broken)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=preference_campaign, options={"batch_rows": 100})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "No space left" in job.error
    assert not Release.objects.exists()
    assert list((releases_root / "advice-pairs").iterdir()) == []
    assert threading.active_count() == threads
    if where == "drawing" and plots.CAN_FORK:
        assert "coverage.png" in job.error
        with pytest.raises(ChildProcessError):  # the child was waited for: no zombie left
            os.waitpid(-1, os.WNOHANG)


@pytest.fixture
def card_inputs(preference_campaign):
    """What a release hands the card's plots: the campaign's metrics, and its selection."""
    return (
        pipeline.campaign_metrics(campaign=preference_campaign),
        pipeline.selection_for(preference_campaign, audience_slugs=None),
    )


def _kind_plots(selection):
    """The plots the campaign's item kind adds (a preference campaign's divergence)."""
    return kinds.get(selection.campaign.item_kind).plots


def test_plots_drawn_in_two_processes_are_the_bytes_one_process_draws(
    card_inputs, tmp_path, monkeypatch
):
    metrics_doc, selection = card_inputs
    drawn = {}
    for can_fork in (True, False):
        monkeypatch.setattr(plots, "CAN_FORK", can_fork and plots.CAN_FORK)
        folder = tmp_path / str(can_fork)
        names = plots.draw_all(folder, metrics=metrics_doc, extra=_kind_plots(selection))
        assert names == ["coverage.png", "agreement.png", "divergence.png"]
        drawn[can_fork] = {name: (folder / name).read_bytes() for name in names}
    assert drawn[True] == drawn[False]
    assert all(data.startswith(b"\x89PNG") for data in drawn[True].values())


@pytest.mark.skipif(not plots.CAN_FORK, reason="plots are drawn in one process here")
def test_a_plot_child_that_hangs_is_killed_and_its_plot_drawn_here(
    card_inputs, tmp_path, monkeypatch
):
    metrics_doc, selection = card_inputs
    expected = tmp_path / "expected"
    expected.mkdir()
    plots.coverage(metrics_doc, expected / "coverage.png")
    parent, real = os.getpid(), plots.coverage

    def coverage(metrics_doc, path):
        if os.getpid() != parent:  # in the child: stuck, as on a lock nobody will free
            time.sleep(600)
        real(metrics_doc, path)

    monkeypatch.setattr(plots, "coverage", coverage)
    monkeypatch.setattr(plots, "CHILD_SECONDS", 1)
    started = time.monotonic()
    names = plots.draw_all(tmp_path / "drawn", metrics=metrics_doc, extra=_kind_plots(selection))
    assert time.monotonic() - started < 30
    assert names == ["coverage.png", "agreement.png", "divergence.png"]
    drawn = tmp_path / "drawn" / "coverage.png"
    assert drawn.read_bytes() == (expected / "coverage.png").read_bytes()
    with pytest.raises(ChildProcessError):  # killed and waited for
        os.waitpid(-1, os.WNOHANG)
