"""Adaptive overlap (issue #15, item 3): extra judgements go where audiences disagree,
through the real engine, the real pass and PostgreSQL."""

import uuid
from collections import Counter

import pytest

from aggregation import tasks
from collection import services
from collection.models import AllocationDecision, Slot
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db

BASE_K = 3


def adaptive_campaign(*, items: int = 4, max_k: int = 7, step: int = 2, **setting):
    left, right = AudienceFactory(slug="left"), AudienceFactory(slug="right")
    campaign = make_campaign(audiences={left: BASE_K, right: BASE_K}, items=items)
    services.campaign_set_adaptive(
        campaign=campaign,
        setting=services.AdaptiveSetting(max_k=max_k, step=step, **setting),
    )
    return campaign, left, right


def fill(campaign, audience, choose, *, people: int) -> int:
    """``people`` new members of ``audience`` answer everything the engine serves them."""
    done = 0
    for _ in range(people):
        person = ready_participant(audience=audience, campaign=campaign)
        while not isinstance(
            lease := services.assignment_next(participant=person, campaign=campaign),
            services.NoItem,
        ):
            services.response_submit(
                participant=person,
                assignment_id=lease.pk,
                payload={"choice": choose(lease.item)},
                time_on_task_ms=900,
                idempotency_key=uuid.uuid4(),
            )
            done += 1
    return done


def slots_per_item(campaign, audience) -> Counter:
    return Counter(
        Slot.objects.filter(campaign=campaign, audience=audience).values_list("item_id", flat=True)
    )


def test_items_where_audiences_disagree_get_more_judgements_up_to_max_k_and_agreed_ones_none():
    campaign, left, right = adaptive_campaign()
    items = list(campaign.items.order_by("id"))
    disputed = {items[0].pk, items[1].pk}
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b" if item.pk in disputed else "a", people=BASE_K)

    result = tasks.adaptive_overlap_allocate()
    assert result[campaign.slug]["items_decided"] == 4
    assert result[campaign.slug]["items_extended"] == 2
    for audience in (left, right):
        per_item = slots_per_item(campaign, audience)
        assert {pk for pk, k in per_item.items() if k > BASE_K} == disputed
        assert all(per_item[pk] == BASE_K + 2 for pk in disputed)
    # Run again before anyone answered: nothing is pending, nothing is added twice.
    assert tasks.adaptive_overlap_allocate()[campaign.slug]["items_decided"] == 0

    # The extra slots are served to new members, and the disagreement persists up to max k.
    for _ in range(2):
        fill(campaign, left, lambda item: "a", people=2)
        fill(campaign, right, lambda item: "b" if item.pk in disputed else "a", people=2)
        tasks.adaptive_overlap_allocate()
    for audience in (left, right):
        per_item = slots_per_item(campaign, audience)
        assert all(per_item[pk] == 7 for pk in disputed)
        assert all(per_item[item.pk] == BASE_K for item in items if item.pk not in disputed)
    assert Slot.objects.filter(campaign=campaign, filled=False).count() == 0

    log = AllocationDecision.objects.filter(campaign=campaign, item_id=items[0].pk, audience=left)
    assert [(d.k_before, d.k_after, d.reason) for d in log.order_by("k_before")] == [
        (3, 5, "divergence"),
        (5, 7, "divergence"),
        (7, 7, "max_k"),
    ]
    first = log.order_by("k_before").first()
    assert first.jsd == pytest.approx(1.0) and first.votes == 3
    agreed = AllocationDecision.objects.get(item_id=items[3].pk, audience=right)
    assert (agreed.reason, agreed.jsd, agreed.k_after) == ("agree", 0.0, BASE_K)


def test_the_entropy_rule_gives_more_only_to_the_audience_that_is_split():
    campaign, left, right = adaptive_campaign(items=1, rule="entropy")
    votes = iter("aab")
    fill(campaign, left, lambda item: next(votes), people=BASE_K)  # 2–1: entropy 0.918
    fill(campaign, right, lambda item: "a", people=BASE_K)  # 3–0: entropy 0
    tasks.adaptive_overlap_allocate()
    assert list(slots_per_item(campaign, left).values()) == [5]
    assert list(slots_per_item(campaign, right).values()) == [BASE_K]
    split = AllocationDecision.objects.get(audience=left)
    assert split.reason == "entropy" and split.entropy == pytest.approx(0.918, abs=1e-3)


def test_raising_the_base_k_keeps_the_slots_adaptive_overlap_added():
    campaign, left, right = adaptive_campaign(items=2)
    first = campaign.items.order_by("id").first()
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b" if item.pk == first.pk else "a", people=BASE_K)
    tasks.adaptive_overlap_allocate()
    assert slots_per_item(campaign, left)[first.pk] == 5
    # The researcher changes the base k (the sync trims free slots above it): the item
    # keeps the free slots it earned, the others follow the new k.
    services.campaign_set_target(campaign=campaign, audience=left, overlap_k=4)
    per_item = slots_per_item(campaign, left)
    assert per_item[first.pk] == 5 and sorted(per_item.values()) == [4, 5]
    indexes = Slot.objects.filter(item=first, audience=left).values_list("index", flat=True)
    assert sorted(indexes) == [0, 1, 2, 3, 4]


def test_an_item_not_full_in_every_audience_waits_and_a_plain_campaign_is_left_alone():
    campaign, left, right = adaptive_campaign(items=1)
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b", people=BASE_K - 1)
    plain_left, plain_right = AudienceFactory(), AudienceFactory()
    plain = make_campaign(audiences={plain_left: 1, plain_right: 1}, items=1)
    fill(plain, plain_left, lambda item: "a", people=1)
    fill(plain, plain_right, lambda item: "b", people=1)
    result = tasks.adaptive_overlap_allocate()
    assert result[campaign.slug]["items_decided"] == 0 and plain.slug not in result
    assert Slot.objects.filter(campaign=campaign).count() == 2 * BASE_K
    assert not AllocationDecision.objects.exists()


def researcher_api():
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from collection.permissions import RESEARCHERS_GROUP
    from tests.factories import UserFactory

    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_campaign_takes_adaptive_overlap_over_the_api_and_bad_values_name_their_field():
    from collection.models import AdaptiveOverlap, Campaign
    from tests.helpers import error_fields

    client = researcher_api()
    AudienceFactory(slug="everyone")
    body = {
        "slug": "adaptive-api",
        "name": "Adaptive",
        "item_kind": "preference",
        "targets": [{"audience": "everyone", "overlap_k": 3}],
    }
    for adaptive, field in (
        ({"max_k": 3}, "adaptive.max_k"),  # not above the base k: nothing to add
        ({"max_k": 1}, "adaptive.max_k"),
        ({"max_k": 9, "jsd_threshold": 1.5}, "adaptive.jsd_threshold"),
        ({"max_k": 9, "rule": "vibes"}, "adaptive.rule"),
        ({"max_k": 9, "step": 0}, "adaptive.step"),
        ({"step": 2}, "adaptive.max_k"),
    ):
        refused = client.post("/api/v1/campaigns/", {**body, "adaptive": adaptive}, format="json")
        assert refused.status_code == 400, refused.json()
        assert error_fields(refused.json()) == {field}, (adaptive, refused.json())
        assert not Campaign.objects.filter(slug="adaptive-api").exists()
    qa = {**body, "slug": "adaptive-qa", "item_kind": "qa", "adaptive": {"max_k": 9}}
    refused = client.post("/api/v1/campaigns/", qa, format="json")
    assert refused.status_code == 400 and error_fields(refused.json()) == {"adaptive"}

    created = client.post("/api/v1/campaigns/", {**body, "adaptive": {"max_k": 9}}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["adaptive"] == {
        "max_k": 9,
        "step": 2,
        "rule": "divergence",
        "jsd_threshold": 0.2,
        "entropy_threshold": 0.8,
    }
    changed = client.patch(
        "/api/v1/campaigns/adaptive-api/",
        {"adaptive": {"rule": "either", "entropy_threshold": 0.9}},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["adaptive"]["max_k"] == 9
    assert changed.json()["adaptive"]["rule"] == "either"
    listed = client.get("/api/v1/campaigns/").json()["results"]
    assert listed[0]["adaptive"]["entropy_threshold"] == 0.9
    off = client.patch("/api/v1/campaigns/adaptive-api/", {"adaptive": None}, format="json")
    assert off.status_code == 200 and off.json()["adaptive"] is None
    assert not AdaptiveOverlap.objects.exists()


def test_the_workbench_campaign_form_sets_adaptive_overlap_and_shows_a_bad_maximum(client):
    from django.contrib.auth.models import Group
    from django.urls import reverse

    from collection.models import AdaptiveOverlap, Campaign
    from collection.permissions import RESEARCHERS_GROUP
    from tests.factories import UserFactory

    me = UserFactory()
    me.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    client.force_login(me)
    audience = AudienceFactory()
    form = {
        "slug": "tone",
        "name": "Tone",
        "item_kind": "preference",
        "transience": "semantic",
        "preference_format": "choice",
        "attention_check_share": "0",
        "lease_seconds": "900",
        "consent_text": "I agree.",
        "consent_version": "1",
        "target": [audience.slug],
        f"k-{audience.slug}": "3",
        "adaptive": "on",
    }
    refused = client.post(reverse("workbench:campaign_create"), {**form, "adaptive_max_k": "3"})
    assert refused.status_code == 200
    assert "adaptive.max_k" in refused.content.decode()
    assert not Campaign.objects.filter(slug="tone").exists()

    made = client.post(
        reverse("workbench:campaign_create"),
        {**form, "adaptive_max_k": "8", "adaptive_rule": "either"},
    )
    assert made.status_code == 302
    setting = AdaptiveOverlap.objects.get(campaign__slug="tone")
    assert (setting.max_k, setting.rule, setting.jsd_threshold) == (8, "either", 0.2)
    edit = client.get(reverse("workbench:campaign_edit", args=["tone"])).content.decode()
    assert 'name="adaptive_max_k" value="8"' in edit

    off = {key: value for key, value in form.items() if key != "adaptive"}
    saved = client.post(reverse("workbench:campaign_edit", args=["tone"]), off)
    assert saved.status_code == 302 and not AdaptiveOverlap.objects.exists()


def test_the_admin_edits_adaptive_overlap_on_the_campaign_and_lists_the_log(client):
    from tests.factories import UserFactory

    campaign, left, right = adaptive_campaign(items=1)
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b", people=BASE_K)
    tasks.adaptive_overlap_allocate()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/collection/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="adaptive-0-max_k"' in page and 'value="7"' in page
    log = client.get("/admin/collection/allocationdecision/", {"reason": "divergence"})
    assert log.status_code == 200 and "Audiences diverge" in log.content.decode()


def test_a_duplicate_campaign_keeps_the_adaptive_overlap():
    from tests.factories import UserFactory

    campaign, _, _ = adaptive_campaign(items=1, rule="either", jsd_threshold=0.2)
    copy = services.campaign_duplicate(
        campaign=campaign, slug="copy", name="Copy", owner=UserFactory()
    )
    assert services.campaign_adaptive_setting(campaign=copy) == services.AdaptiveSetting(
        max_k=7, step=2, rule="either", jsd_threshold=0.2
    )


def test_the_campaign_page_and_dashboard_show_where_the_extra_judgements_went(client):
    from django.urls import reverse

    from tests.factories import UserFactory, make_researcher

    campaign, left, right = adaptive_campaign(items=3)
    owner = make_researcher()
    campaign.owners.set([owner])
    disputed = campaign.items.order_by("id").first().pk
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b" if item.pk == disputed else "a", people=BASE_K)
    tasks.adaptive_overlap_allocate()
    fill(campaign, left, lambda item: "a", people=1)
    staff = UserFactory(is_staff=True, is_superuser=True)
    for user, url in (
        (owner, reverse("campaign_detail", args=[campaign.slug])),
        (staff, reverse("coverage_dashboard")),
    ):
        client.force_login(user)
        page = client.get(url).content.decode()
        assert "Where the extra judgements went" in page, url
        row = page[page.index('data-table="allocation"') :]
        left_row = row[row.index('data-audience="left"') :].split("</tr>")[0]
        assert 'data-metric="items_decided">3<' in left_row
        assert 'data-metric="items_extra">1<' in left_row
        assert 'data-metric="extra_slots">2<' in left_row
        assert 'data-metric="extra_judgements">1<' in left_row  # one new member so far
        assert 'data-metric="divergence">1<' in left_row and 'data-metric="agree">2<' in left_row


def test_the_rule_against_hand_worked_values():
    """JSD (Lin 1991, bits) of 3–0 against 1–2: M = (2/3, 1/3), H(M) = 0.918, so
    JSD = 0.918 − (0 + 0.918) / 2 = 0.459; of 2–1 against 2–1: 0. Normalised entropy of
    2–1: H = 0.918 bits over log₂ 2 = 1."""
    from aggregation.metrics.adaptive import AudienceVotes, Rule, item_allocate, vote_entropy

    rule = Rule(max_k=7, step=2, rule="either", jsd_threshold=0.2, entropy_threshold=0.95)
    opposite = item_allocate({1: AudienceVotes([3, 0], 0, 3), 2: AudienceVotes([1, 2], 0, 3)}, rule)
    assert opposite[1].jsd == pytest.approx(0.4591, abs=1e-4)
    assert [(o.reason, o.k_after) for o in opposite.values()] == [("divergence", 5)] * 2
    alike = item_allocate({1: AudienceVotes([2, 1], 0, 5), 2: AudienceVotes([2, 1], 0, 7)}, rule)
    assert alike[1].jsd == 0.0 and alike[1].entropy == pytest.approx(0.9183, abs=1e-4)
    assert (alike[1].reason, alike[1].k_after) == ("agree", 5)  # 0.918 is under 0.95
    assert (alike[2].reason, alike[2].k_after) == ("agree", 7)
    split = item_allocate({1: AudienceVotes([1, 1], 1, 7)}, rule)  # one audience, a tie
    assert split[1].jsd is None and split[1].entropy == 1.0 and split[1].reason == "max_k"
    assert vote_entropy([1.0, 0.0]) == 0.0 and vote_entropy([0.25] * 4) == 1.0
