"""The release's views for DPO and for pluralistic methods (PAL, VPL, GPO, in-context
alignment): strict DPO configs with ties apart, per-judgement fields, participants, splits
by participant and by item, held-out context/query sets, per-group soft labels and
in-context packs, each read back through `datasets` as a user would load them."""

from __future__ import annotations

import collections
import os
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
import yaml
from django.utils import timezone

from aggregation.models import ExportJob
from aggregation.release import jobs, pipeline
from collection import services
from collection.models import Audience, Campaign, Invitation, Response
from tests.factories import (
    AGE_SCHEMA,
    AudienceFactory,
    MembershipFactory,
    make_campaign,
    ready_participant,
)
from tests.helpers import demonstration_campaign, respond_to_all

pytestmark = pytest.mark.django_db

AUDIENCES = ("everyone", "panel", "ward-7", "alex")
PREFERENCE_CONFIGS = (
    "preferences",
    "preferences-by-participant",
    "preferences-by-item",
    "heldout-participants",
)


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def _join(audience, *, campaign, attributes=None, invited=False):
    if not invited:
        return ready_participant(audience=audience, campaign=campaign, attributes=attributes)
    invitation = Invitation.objects.create(audience=audience, max_uses=50)
    membership = MembershipFactory(
        audience=audience, attributes=attributes or {}, invitation=invitation
    )
    services.consent_give(participant=membership.participant, campaign=campaign)
    return membership.participant


def _choice(person: int, agreed: int):
    """Everyone picks "a" on the first ``agreed`` items; past them choices depend on the
    person (and person 3 ties every other item), so the items differ in how much the
    audience agrees, and everyone has decided pairs early and late (whoever the split
    holds out has a context and a query set)."""

    def choose(item):
        n = int(item.external_id[1:])
        if n < agreed:
            choice = "a"
        elif person == 3 and n % 2 == 0:
            choice = "tie"
        else:
            choice = "ab"[(person + n) % 2]
        return {
            "choice": choice,
            "confidence": 1 + (person + n) % 5,
            "ratings": {"a": 1 + (person * n) % 5, "b": 1 + (person + 2 * n) % 5},
            **({"rationale": f"Reason {person}-{n}"} if n % 3 == 0 else {}),
        }

    return choose


@pytest.fixture
def views_campaign(owner):
    """Ten items, choices with confidence, ratings and some rationales, judged by an open
    mass audience (8 people), a screened public one (6 aged 18-39 and 5 aged 40+), an
    invite-only group (4) and a dyad."""
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    panel = AudienceFactory(
        slug="panel",
        kind=Audience.Kind.PUBLIC,
        screened=True,
        attribute_schema=AGE_SCHEMA,
        target_marginals={"age_band": {"18-39": 0.5, "40+": 0.5}},
    )
    ward = AudienceFactory(slug="ward-7", kind=Audience.Kind.GROUP)
    dyad = AudienceFactory(slug="alex", kind=Audience.Kind.DYADIC)
    campaign = make_campaign(
        audiences={everyone: 8, panel: 11, ward: 4, dyad: 1},
        items=10,
        owners=[owner],
        slug="views",
        rating_min=1,
        rating_max=5,
    )
    for n in range(8):
        person = _join(everyone, campaign=campaign)
        respond_to_all(person, campaign, everyone, _choice(n, agreed=3))
    for n in range(11):
        band = "18-39" if n < 6 else "40+"
        person = _join(panel, campaign=campaign, attributes={"age_band": band}, invited=True)
        respond_to_all(person, campaign, panel, _choice(n, agreed=2))
    for n in range(4):
        person = _join(ward, campaign=campaign, invited=True)
        respond_to_all(person, campaign, ward, _choice(n, agreed=5))
    person = _join(dyad, campaign=campaign, invited=True)
    respond_to_all(person, campaign, dyad, _choice(1, agreed=4))
    return campaign


def _build(campaign, capture, **fields) -> ExportJob:
    with capture(execute=True):
        job = jobs.export_job_create(campaign=campaign, **fields)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


@pytest.fixture
def release(views_campaign, owner, releases_root, django_capture_on_commit_callbacks):
    job = _build(views_campaign, django_capture_on_commit_callbacks, created_by=owner)
    return releases_root / job.release_path


def _configs(folder) -> dict[str, dict]:
    header = (folder / "README.md").read_text().split("---")[1]
    return {
        config["config_name"]: {file["split"]: file["path"] for file in config["data_files"]}
        for config in yaml.safe_load(header)["configs"]
    }


def _load(folder, name, split="train"):
    import datasets

    os.environ["HF_HUB_OFFLINE"] = "1"
    return datasets.load_dataset(
        str(folder), name=name, split=split, cache_dir=str(folder.parent / ".hf-cache")
    )


def _rows(folder, path) -> list[dict]:
    return pq.read_table(folder / path).to_pylist()


def test_datasets_loads_every_config_and_split_the_card_declares(release):
    configs = _configs(release)
    for audience in ("everyone", "panel", "ward-7", "alex"):
        assert f"{audience}-preferences-by-participant" in configs
        assert f"{audience}-icl-packs" in configs
    assert set(configs["panel-preferences-by-participant"]) == {"train", "test"}
    assert set(configs["panel-preferences-by-item"]) == {"train", "test"}
    assert set(configs["panel-heldout-participants"]) == {"context", "query"}
    for name, files in configs.items():
        for split, path in files.items():
            assert len(_load(release, name, split)) == len(_rows(release, path)) > 0, name


def test_dpo_configs_hold_only_strict_preferences_and_the_ties_are_counted_apart(release):
    configs = _configs(release)
    for audience in ("everyone", "panel", "ward-7"):
        ties = _load(release, f"{audience}-ties")
        assert ties.num_rows and "chosen" not in ties.column_names
        strict = 0
        for config in PREFERENCE_CONFIGS:
            for split in configs[f"{audience}-{config}"]:
                rows = _load(release, f"{audience}-{config}", split)
                assert "tie" not in rows.column_names
                assert all(r["chosen_id"] != r["rejected_id"] for r in rows)
                if config == "preferences":
                    strict += len(rows)
        # Every judgement is one pair (choices of two): a strict one or a tie, never both.
        votes = _rows(release, f"{audience}/preference_votes.parquet")
        assert strict + len(ties) == sum(v["total"] for v in votes)
        assert len(ties) == sum(v["ties"] for v in votes)
        card = (release / "README.md").read_text()
        assert (
            f"`{audience}`: {strict:,} strict pairs; {len(ties):,} tied pairs left out "
            "of every DPO config" in card
        )


def test_a_rating_campaign_where_every_pair_ties_gives_no_dpo_rows(
    owner, releases_root, django_capture_on_commit_callbacks
):
    audience = AudienceFactory(slug="raters")
    campaign = make_campaign(
        audiences={audience: 3},
        items=4,
        owners=[owner],
        preference_format="rating",
        rating_min=1,
        rating_max=5,
    )
    for n in range(3):
        person = ready_participant(audience=audience, campaign=campaign)
        respond_to_all(
            person, campaign, audience, lambda item, n=n: {"ratings": dict.fromkeys("abc", 1 + n)}
        )
    job = _build(campaign, django_capture_on_commit_callbacks, created_by=owner)
    folder = releases_root / job.release_path
    configs = _configs(folder)
    assert "raters-preferences" not in configs
    assert "raters-preferences-by-participant" not in configs
    assert len(_load(folder, "raters-ties")) == 3 * 4 * 3  # 3 pairs of 3 candidates, each


def test_every_judgement_row_carries_pseudonym_audience_attributes_strength_rationale_and_entry(
    release,
):
    pairs = _load(release, "panel-preferences")
    assert set(pairs["audience"]) == {"panel"}
    assert set(pairs["attr_age_band"]) == {"18-39", "40+"}
    assert set(pairs["joined_via"]) == {"screened"}
    assert set(_load(release, "everyone-preferences")["joined_via"]) == {"open"}
    assert set(_load(release, "ward-7-preferences")["joined_via"]) == {"invited"}
    assert all(len(p) == 20 for p in pairs["participant_id"])
    assert {r["rationale"] for r in pairs} >= {None} and any(r["rationale"] for r in pairs)
    assert all(1 <= r["confidence"] <= 5 for r in pairs)
    # The rating gap is the chosen candidate's rating less the rejected one's: check a row
    # against its judgement's ratings (person and item decoded from the rationale).
    with_reason = [r for r in pairs if r["rationale"]]
    for row in with_reason:
        person, n = map(int, row["rationale"].removeprefix("Reason ").split("-"))
        ratings = _choice(person, agreed=2)(type("I", (), {"external_id": f"p{n}"}))["ratings"]
        assert row["rating_gap"] == ratings[row["chosen_id"]] - ratings[row["rejected_id"]]


def test_participants_file_has_one_row_per_participant_with_their_judgements_and_weight(release):
    people = _load(release, "panel-participants")
    assert len(people) == 11 and len(set(people["participant_id"])) == 11
    assert set(people["judgements"]) == {10}
    pairs = _load(release, "panel-preferences")
    ties = _load(release, "panel-ties")
    rows = collections.Counter(pairs["participant_id"]) + collections.Counter(
        ties["participant_id"]
    )
    weight = {r["participant_id"]: r["weight"] for r in pairs}
    band = {r["participant_id"]: r["attr_age_band"] for r in pairs}
    for person in people:
        assert rows[person["participant_id"]] == person["judgements"]
        assert person["weight"] == pytest.approx(weight[person["participant_id"]])
        assert person["attr_age_band"] == band[person["participant_id"]]
        assert person["joined_via"] == "screened"
    # Six and five people: raking to half and half weighs the smaller band up.
    assert sorted({round(w, 6) for w in people["weight"]}) == [
        pytest.approx(11 / 12),
        pytest.approx(11 / 10),
    ]


def test_no_participant_is_in_two_splits_and_no_item_either(release):
    configs = _configs(release)
    for audience in ("everyone", "panel", "ward-7"):
        name = f"{audience}-preferences-by-participant"
        train = set(_load(release, name, "train")["participant_id"])
        test = set(_load(release, name, "test")["participant_id"])
        assert train and test and not train & test
        people = _load(release, f"{audience}-participants")
        assert {p["participant_id"] for p in people if p["split"] == "test"} >= test
        assert {p["participant_id"] for p in people if p["split"] == "train"} >= train
        name = f"{audience}-preferences-by-item"
        train_items = set(_load(release, name, "train")["item_id"])
        test_items = set(_load(release, name, "test")["item_id"])
        assert train_items and test_items and not train_items & test_items
        assert set(configs[name]) == {"train", "test"}
    # The same items are held out for every audience (unseen prompts across the release).
    held = [
        set(_load(release, f"{audience}-preferences-by-item", "test")["item_id"])
        for audience in ("everyone", "panel")
    ]
    assert held[0] == held[1]


def test_held_out_participants_have_their_first_judgements_by_time_as_context(
    views_campaign, owner, releases_root, django_capture_on_commit_callbacks
):
    """The context set is each held-out person's first four judgements by submission time,
    not by item: here every panel member answered the items from the last to the first."""
    panel = Response.objects.filter(campaign=views_campaign, audience__slug="panel")
    start = timezone.now() - timedelta(days=1)
    stored = list(panel.select_related("item"))
    # By rank, not by id: ids keep growing over a session, and times past the build's
    # snapshot would leave the panel out of the release.
    rank = {pid: r for r, pid in enumerate(sorted({x.participant_id for x in stored}))}
    for response in stored:
        n = int(response.item.external_id[1:])
        response.created_at = start + timedelta(minutes=rank[response.participant_id] * 20 - n)
    Response.objects.bulk_update(stored, ["created_at"])
    job = _build(views_campaign, django_capture_on_commit_callbacks, created_by=owner)
    release = releases_root / job.release_path
    held_out = set(_load(release, "panel-preferences-by-participant", "test")["participant_id"])
    context = _load(release, "panel-heldout-participants", "context")
    query = _load(release, "panel-heldout-participants", "query")
    assert set(context["participant_id"]) | set(query["participant_id"]) == held_out
    strict = _load(release, "panel-preferences")
    ties = _load(release, "panel-ties")
    for person in held_out:
        decided = {r["item_id"] for r in strict if r["participant_id"] == person}
        tied = {r["item_id"] for r in ties if r["participant_id"] == person}
        # context_judgements (default 4): the four answered first, the highest item ids.
        first = set(sorted(decided | tied)[-4:])
        assert {r["item_id"] for r in context if r["participant_id"] == person} == decided & first
        assert {r["item_id"] for r in query if r["participant_id"] == person} == decided - first
    card = " ".join((release / "README.md").read_text().split())
    assert "first 4 judgements by submission time" in card


def test_soft_labels_give_each_items_shares_for_the_audience_and_each_large_enough_cell(release):
    labels = _load(release, "panel-soft-labels")
    votes = {v["item_id"]: v for v in _rows(release, "panel/preference_votes.parquet")}
    whole = [r for r in labels if r["group"] == "audience"]
    assert len(whole) == 10 and all(r["attr_age_band"] is None for r in whole)
    for row in whole:
        assert row["shares"] == pytest.approx(votes[row["item_id"]]["shares"])
        assert row["total"] == 11
    cells = [r for r in labels if r["group"] == "cell"]
    assert collections.Counter(r["attr_age_band"] for r in cells) == {"18-39": 10, "40+": 10}
    assert {r["total"] for r in cells if r["attr_age_band"] == "18-39"} == {6}
    # Item p4 for people 0-5 (18-39): person 3 ties, the others pick "ab"[(person + 4) % 2]:
    # people 0, 2 and 4 "a", people 1 and 5 "b"; a tie is half a vote each.
    p4 = next(r for r in cells if r["attr_age_band"] == "18-39" and r["external_id"] == "p4")
    assert p4["shares"] == pytest.approx([3.5 / 6, 2.5 / 6]) and p4["ties"] == 1


def test_soft_labels_have_no_rows_for_suppressed_cells(
    views_campaign, owner, releases_root, django_capture_on_commit_callbacks
):
    """At a minimum cell size of 6 the five people aged 40+ are suppressed, and so (by
    complementary suppression) are the six aged 18-39: no cell may then get rows."""
    job = _build(
        views_campaign,
        django_capture_on_commit_callbacks,
        created_by=owner,
        options={"min_cell_size": 6},
    )
    folder = releases_root / job.release_path
    assert set(_load(folder, "panel-preferences")["attr_age_band"]) == {None}
    labels = _load(folder, "panel-soft-labels")
    assert {r["group"] for r in labels} == {"audience"} and len(labels) == 10


def test_in_context_packs_take_the_audiences_most_agreed_items_and_a_dyads_own_judgements(
    release,
):
    packs = _load(release, "ward-7-icl-packs")
    assert len(packs) == 1 and packs[0]["pack"] == "audience"
    pack = packs[0]
    # Ward 7 agrees on the first five items (all pick "a"), 4 votes each: those come first.
    assert [e["external_id"] for e in pack["examples"][:5]] == ["p0", "p1", "p2", "p3", "p4"]
    assert all(e["share"] == 1.0 and e["chosen_id"] == "a" for e in pack["examples"][:5])
    assert pack["k"] == len(pack["examples"]) <= 8
    assert pack["messages"][0] == {"role": "user", "content": "Question number 0?"}
    assert pack["messages"][1] == {"role": "assistant", "content": "Answer a to 0"}
    assert [m["role"] for m in pack["messages"]] == ["user", "assistant"] * pack["k"]
    dyad = {p["pack"]: p for p in _load(release, "alex-icl-packs")}
    person = dyad["person"]
    assert person["participant_id"] == _load(release, "alex-preferences")[0]["participant_id"]
    # The dyad's own first eight judgements with a winner, in item order.
    own = _load(release, "alex-preferences")
    assert [e["item_id"] for e in person["examples"]] == sorted(own["item_id"])[:8]
    chosen = {r["item_id"]: r["chosen_id"] for r in own}
    assert all(e["chosen_id"] == chosen[e["item_id"]] for e in person["examples"])


def test_two_builds_give_the_same_views_and_another_seed_another_split(
    views_campaign, owner, releases_root, django_capture_on_commit_callbacks
):
    first = _build(views_campaign, django_capture_on_commit_callbacks, created_by=owner)
    again = _build(views_campaign, django_capture_on_commit_callbacks, created_by=owner)
    reseeded = _build(
        views_campaign,
        django_capture_on_commit_callbacks,
        created_by=owner,
        options={"split_seed": 7},
    )
    folders = [releases_root / job.release_path for job in (first, again, reseeded)]

    def item_sides(folder):
        return {
            split: sorted(set(_load(folder, "everyone-preferences-by-item", split)["item_id"]))
            for split in ("train", "test")
        }

    # Item sides depend on the seed and item ids only, so they hold across releases
    # (pseudonyms do not: they are keyed per release).
    assert item_sides(folders[0]) == item_sides(folders[1]) != item_sides(folders[2])
    manifest = (folders[2] / "manifest.json").read_text()
    assert '"split_seed": 7' in manifest


def _trl_check(folder, names, configs, tokenizer, *, conversational: bool) -> int:
    from trl import data_utils

    checked = 0
    for name in names:
        for split in configs[name]:
            for example in _load(folder, name, split):
                assert data_utils.is_conversational(example) is conversational, name
                example = data_utils.maybe_extract_prompt(example)
                text = data_utils.maybe_apply_chat_template(example, tokenizer)
                reply = "completion" if name.endswith("-ratings-kto") else "chosen"
                assert isinstance(text["prompt"], str) and isinstance(text[reply], str)
                if conversational:
                    assert "<|im_start|>user\nEarlier turn<|im_end|>" in text["prompt"]
                    assert text[reply].endswith("<|im_end|>\n")
                else:
                    assert text["prompt"] == example["prompt"]
                checked += 1
    return checked


def test_trl_data_functions_accept_every_preference_config(
    release, owner, releases_root, django_capture_on_commit_callbacks
):
    """TRL's own format checks and chat templating (trl.data_utils), on the standard
    release and on a conversational one, with a tokenizer built here."""
    from trl import data_utils

    tokenizer = _tiny_chat_tokenizer()
    configs = _configs(release)
    kinds = (*PREFERENCE_CONFIGS, "ratings-kto")
    names = [f"{a}-{kind}" for a in AUDIENCES for kind in kinds if f"{a}-{kind}" in configs]
    assert {n for n in names if n.startswith("panel-")} == {f"panel-{kind}" for kind in kinds}
    assert _trl_check(release, names, configs, tokenizer, conversational=False) > 0
    for example in _load(release, "everyone-icl-packs"):
        assert data_utils.is_conversational(example)
        rendered = data_utils.maybe_apply_chat_template(
            {"messages": example["messages"]}, tokenizer
        )
        assert "Question number 0?" in rendered["text"]

    audience = AudienceFactory(slug="nurses")
    campaign = make_campaign(
        audiences={audience: 5},
        items=6,
        owners=[owner],
        slug="ward-chat",
        transience=Campaign.Transience.EPISODIC,
        rating_min=1,
        rating_max=5,
    )
    for n in range(5):
        person = ready_participant(audience=audience, campaign=campaign)
        respond_to_all(person, campaign, audience, _choice(n, agreed=2))
    job = _build(campaign, django_capture_on_commit_callbacks, created_by=owner)
    folder = releases_root / job.release_path
    configs = _configs(folder)
    names = [name for name in configs if name.removeprefix("nurses-") in kinds]
    assert len(names) == len(kinds)
    assert _trl_check(folder, names, configs, tokenizer, conversational=True) > 0


def _tiny_chat_tokenizer():
    """A word-level tokenizer built here (nothing downloaded) with the chat template TRL
    ships for Qwen 2.5."""
    import pathlib

    import trl
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    backend = Tokenizer(models.WordLevel(vocab=words, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    template = pathlib.Path(trl.__file__).with_name("chat_templates") / "qwen2_5.jinja"
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        chat_template=template.read_text(),
    )


def test_two_builds_are_byte_identical_and_views_do_not_depend_on_chunking(
    views_campaign, tmp_path
):
    """The views that carry state from chunk to chunk (judgement order per person, the
    best items so far) give the same rows whether the campaign is read in one chunk or in
    several; and two builds of one job give the same bytes."""
    job = jobs.export_job_create(campaign=views_campaign, enqueue=False)
    folders = {name: tmp_path / name for name in ("one", "two", "chunked")}
    for name, folder in folders.items():
        folder.mkdir()
        if name == "chunked":
            job.options = {**job.options, "batch_rows": 100}  # 24 judgements per item
        pipeline.release_write(job=job, directory=folder, progress=lambda f, m: None)
    one, two, chunked = folders.values()
    paths = sorted(p.relative_to(one) for p in one.rglob("*.parquet"))
    assert len(paths) > 30
    for path in paths:
        assert (one / path).read_bytes() == (two / path).read_bytes(), path
        assert pq.read_table(one / path).to_pylist() == pq.read_table(chunked / path).to_pylist()


def test_demonstration_releases_list_their_participants_too(
    owner, releases_root, django_capture_on_commit_callbacks
):
    audience = AudienceFactory(slug="writers")
    campaign = demonstration_campaign(owner, audience)  # five writers, four items each
    job = _build(campaign, django_capture_on_commit_callbacks, created_by=owner)
    folder = releases_root / job.release_path
    people = _load(folder, "writers-participants")
    assert len(people) == 5 and set(people["judgements"]) == {4}
    assert set(people["joined_via"]) == {"open"}
    assert set(_load(folder, "writers-demonstrations")["joined_via"]) == {"open"}


SPLIT_CONFIGS = ("preferences-by-participant", "preferences-by-item", "heldout-participants")


@pytest.mark.parametrize("option", [False, "auto"])
def test_a_release_without_split_views_says_why_and_how_to_get_them(
    option, views_campaign, owner, releases_root, django_capture_on_commit_callbacks, monkeypatch
):
    """Split views are off when asked, and under "auto" above the size limit (lowered here
    below the campaign's 240 judgements); the strict pairs, the participants' sides and the
    other views stay, and the card tells how to build the splits."""
    from aggregation.release import splits

    monkeypatch.setattr(splits, "SPLIT_VIEWS_AUTO_LIMIT", 100)
    job = _build(
        views_campaign,
        django_capture_on_commit_callbacks,
        created_by=owner,
        options={"split_views": option},
    )
    folder = releases_root / job.release_path
    configs = _configs(folder)
    assert not [name for name in configs if name.endswith(SPLIT_CONFIGS)]
    assert not list(folder.glob("*/preferences_by_*")) and not list(folder.glob("*/heldout_*"))
    for audience in ("everyone", "panel", "ward-7"):
        for kind in ("preferences", "ties", "participants", "soft-labels", "icl-packs"):
            assert len(_load(folder, f"{audience}-{kind}")), (audience, kind)
    sides = {p["split"] for p in _load(folder, "panel-participants")}
    assert sides == {"train", "test"}
    card = " ".join((folder / "README.md").read_text().split())
    assert '`"split_views": true`' in card and "--split-views" in card
    reason = "`split_views: false`" if option is False else "more than 100 judgements"
    assert reason in card

    again = _build(
        views_campaign,
        django_capture_on_commit_callbacks,
        created_by=owner,
        options={"split_views": True},
    )
    configs = _configs(releases_root / again.release_path)
    assert set(configs["panel-preferences-by-participant"]) == {"train", "test"}
