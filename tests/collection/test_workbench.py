"""The researcher workbench in the browser, through Django's test client."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from aggregation.release.privacy import pseudonym
from collection import services
from collection.models import Assignment, Audience, Campaign, Invitation, Item, Response, Slot
from collection.permissions import RESEARCHERS_GROUP
from tests.factories import (
    PASSWORD,
    AudienceFactory,
    UserFactory,
    make_campaign,
    preference_row,
    public_age_audience,
    ready_participant,
)
from workbench.items import pseudonym_key

pytestmark = pytest.mark.django_db


def researcher(**kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def me(client):
    user = researcher()
    client.force_login(user)
    return user


def audience_form(**overrides) -> dict:
    return {
        "slug": "uk-adults",
        "name": "UK adults",
        "kind": "public",
        "description": "",
        "attributes": "age_band: 18-39, 40+",
        "targets": "attribute\tvalue\tshare\nage_band\t18-39\t41%\nage_band\t40+\t59%",
        "max_members": "",
        **overrides,
    }


def campaign_form(**overrides) -> dict:
    return {
        "slug": "tone",
        "name": "Tone",
        "item_kind": "preference",
        "transience": "semantic",
        "preference_format": "choice",
        "attention_check_share": "0",
        "lease_seconds": "900",
        "consent_text": "I agree.",
        "consent_version": "1",
        "instructions": "Pick the **kinder** reply.",
        **overrides,
    }


def upload(client, campaign, lines: list[str], name="items.jsonl", file_format="jsonl"):
    body = io.BytesIO("\n".join(lines).encode() + b"\n")
    body.name = name
    return client.post(
        reverse("workbench:item_import", args=[campaign.slug]),
        {"file": body, "format": file_format},
    )


# Audiences ---------------------------------------------------------------------------


def test_a_pasted_census_table_becomes_the_audience_targets(client, me):
    page = client.post(reverse("workbench:audience_create"), audience_form())
    assert page.status_code == 302
    audience = Audience.objects.get(slug="uk-adults")
    assert audience.created_by == me
    assert audience.target_marginals == {"age_band": {"18-39": 0.41, "40+": 0.59}}


def test_shares_that_do_not_add_up_to_one_are_refused_with_the_api_message(client, me):
    page = client.post(
        reverse("workbench:audience_create"),
        audience_form(targets="age_band,18-39,0.4\nage_band,40+,0.5"),
    )
    assert page.status_code == 200
    assert "Shares must add up to 1 (they add up to 0.9)." in page.content.decode()
    assert not Audience.objects.filter(slug="uk-adults").exists()


def test_targets_on_a_mass_audience_are_refused_under_the_target_shares_field(client, me):
    # The service calls the field target_marginals; the page calls it "Target shares".
    page = client.post(reverse("workbench:audience_create"), audience_form(kind="mass"))
    assert page.status_code == 200
    form = page.context["form"]
    assert form.errors["targets"] == ["Only public audiences have target marginals."]
    assert not form.non_field_errors()
    assert "target_marginals" not in page.content.decode()
    assert not Audience.objects.filter(slug="uk-adults").exists()


def test_another_researchers_audience_answers_404_like_a_made_up_slug(client, me):
    theirs = AudienceFactory(created_by=researcher())
    for url in (
        reverse("workbench:audience_detail", args=[theirs.slug]),
        reverse("workbench:audience_detail", args=["no-such-audience"]),
    ):
        assert client.get(url).status_code == 404
    assert (
        client.post(reverse("workbench:invitation_create", args=[theirs.slug])).status_code == 404
    )


def test_the_kind_cannot_change_once_someone_has_joined(client, me):
    audience = AudienceFactory(created_by=me, kind="mass")
    ready_participant(audience=audience)
    page = client.post(
        reverse("workbench:audience_detail", args=[audience.slug]),
        audience_form(slug=audience.slug, kind="group", targets="", max_members="5"),
    )
    assert "People have joined, so the kind cannot change." in page.content.decode()
    audience.refresh_from_db()
    assert audience.kind == "mass"


def test_a_revoked_invitation_link_stops_working_and_joined_members_are_listed(client, me):
    audience = AudienceFactory(created_by=me, kind="group", max_members=5)
    client.post(
        reverse("workbench:invitation_create", args=[audience.slug]),
        {"note": "Team A", "max_uses": "3"},
    )
    invitation = Invitation.objects.get(audience=audience)
    joiner = UserFactory()
    client.force_login(joiner)
    client.get(reverse("invitation_join", args=[invitation.token]))
    client.post(reverse("invitation_join", args=[invitation.token]))
    client.force_login(me)
    page = client.get(reverse("workbench:audience_detail", args=[audience.slug])).content.decode()
    assert f"/join/{invitation.token}/" in page
    assert "used 1 of 3" in page
    assert joiner.username not in page and joiner.email not in page
    client.post(reverse("workbench:invitation_revoke", args=[audience.slug, invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.revoked and not invitation.is_usable()


# Campaigns ---------------------------------------------------------------------------


def test_a_campaign_created_in_the_browser_has_its_targets_and_k(client, me):
    audience = AudienceFactory()
    page = client.post(
        reverse("workbench:campaign_create"),
        {**campaign_form(), "target": [audience.slug], f"k-{audience.slug}": "4"},
    )
    assert page.status_code == 302
    campaign = Campaign.objects.get(slug="tone")
    assert campaign.status == "draft" and list(campaign.owners.all()) == [me]
    assert campaign.targets.get().overlap_k == 4


def test_a_bad_rating_scale_gets_the_services_message_beside_the_field(client, me):
    page = client.post(
        reverse("workbench:campaign_create"),
        campaign_form(preference_format="rating", rating_min="1", rating_max="40"),
    )
    assert page.status_code == 200
    assert "rating" in page.content.decode().lower()
    assert not Campaign.objects.filter(slug="tone").exists()


def test_the_instructions_preview_renders_markdown_and_escapes_html(client, me):
    page = client.post(
        reverse("workbench:campaign_create"),
        {**campaign_form(instructions="Be **kind**. <script>alert(1)</script>"), "preview": "1"},
    ).content.decode()
    assert "<strong>kind</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not Campaign.objects.filter(slug="tone").exists()


def test_open_pause_close_and_duplicate(client, me):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=3, status="draft", owners=[me])
    status_url = reverse("workbench:campaign_status", args=[campaign.slug])
    for status in ("open", "paused", "open", "closed"):
        client.post(status_url, {"status": status})
        campaign.refresh_from_db()
        assert campaign.status == status
    client.post(status_url, {"status": "open"})
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    client.post(
        reverse("workbench:campaign_duplicate", args=[campaign.slug]),
        {"slug": "copy", "name": "Copy"},
    )
    copy = Campaign.objects.get(slug="copy")
    assert copy.status == "draft" and copy.items.count() == 0
    assert copy.targets.get().overlap_k == 2 and list(copy.owners.all()) == [me]


def test_another_researchers_campaign_answers_404_on_every_workbench_page(client, me):
    campaign = make_campaign(audiences={AudienceFactory(): 1}, items=1, owners=[researcher()])
    item = campaign.items.get()
    for name, args in (
        ("campaign_edit", []),
        ("campaign_duplicate", []),
        ("item_import", []),
        ("item_list", []),
        ("item_detail", [item.pk]),
        ("flag_queue", []),
        ("review_queue", []),
    ):
        url = reverse(f"workbench:{name}", args=[campaign.slug, *args])
        assert client.get(url).status_code == 404, name
    assert (
        client.post(
            reverse("workbench:campaign_status", args=[campaign.slug]), {"status": "closed"}
        )
    ).status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == "open"


# Imports -----------------------------------------------------------------------------


def test_an_import_with_bad_lines_reports_each_line_and_stores_nothing(client, me):
    campaign = make_campaign(audiences={AudienceFactory(): 1}, items=0, owners=[me])
    good = [json.dumps(preference_row(n)) for n in range(3)]
    bad = json.dumps({"external_id": "x", "prompt": "", "payload": {"candidates": []}})
    page = upload(client, campaign, [good[0], bad, good[1], bad.replace('"x"', '"y"'), good[2]])
    assert page.status_code == 400
    text = page.content.decode()
    assert "Nothing was imported" in text
    assert "Line 2: payload.candidates: Give at least two candidate responses." in text
    assert "Line 4: payload.candidates:" in text
    assert "First rows" in text
    assert campaign.items.count() == 0


def test_a_line_with_candidates_at_the_top_level_is_told_which_fields_exist(client, me):
    # Label Studio and Argilla habits put "candidates" beside "prompt"; "Unknown field."
    # alone left the researcher guessing that it belongs under "payload".
    campaign = make_campaign(audiences={AudienceFactory(): 1}, items=0, owners=[me])
    page = upload(client, campaign, [json.dumps({"prompt": "Q", "candidates": ["A", "B"]})])
    assert page.status_code == 400
    assert (
        "Line 1: candidates: Unknown field; expected one of context, expected, external_id,"
        " payload, prompt." in page.content.decode()
    )
    assert campaign.items.count() == 0


def test_a_good_file_is_imported_and_its_items_get_slots(client, me):
    campaign = make_campaign(audiences={AudienceFactory(): 2}, items=0, owners=[me])
    page = upload(client, campaign, [json.dumps(preference_row(n)) for n in range(4)])
    assert page.status_code == 200
    assert "Imported 4 items." in page.content.decode()
    assert Slot.objects.filter(campaign=campaign).count() == 8


def test_a_keep_valid_import_stores_the_good_lines_and_lists_the_rejected_ones(client, me):
    campaign = make_campaign(audiences={AudienceFactory(): 1}, items=0, owners=[me])
    good = [json.dumps(preference_row(n)) for n in range(3)]
    bad = json.dumps({"external_id": "x", "prompt": "", "payload": {"candidates": []}})
    body = io.BytesIO(gzip.compress(("\n".join([good[0], bad, good[1], good[2]]) + "\n").encode()))
    body.name = "items.jsonl.gz"
    page = client.post(
        reverse("workbench:item_import", args=[campaign.slug]),
        {"file": body, "format": "auto", "keep_valid": "on"},
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "Imported 3 items (read as jsonl); 1 row rejected and left out." in text
    assert "Line 2: payload.candidates: Give at least two candidate responses." in text
    assert campaign.items.count() == 3


def test_a_parquet_file_is_checked_and_imported_from_the_page(client, me, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    campaign = make_campaign(audiences={AudienceFactory(): 1}, items=0, owners=[me])
    rows = [
        {"prompt": "Q", "chosen": "Yes.", "rejected": "No."},
        {"prompt": "Q2", "chosen": "Sure.", "rejected": "\x00"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pairs.parquet")
    native = [{"prompt": "Q", "payload": {"candidates": ["A", "B"]}, "seed": b"\x01"}]
    pq.write_table(pa.Table.from_pylist(native), tmp_path / "native.parquet")
    url = reverse("workbench:item_import", args=[campaign.slug])
    with (tmp_path / "pairs.parquet").open("rb") as body:
        page = client.post(url, {"file": body, "format": "auto"})
    assert page.status_code == 400
    assert "Row 2: rejected: Must not contain the NUL" in page.content.decode()
    with (tmp_path / "native.parquet").open("rb") as body:
        page = client.post(url, {"file": body, "format": "jsonl"})
    assert page.status_code == 400 and (
        "Row 1: seed: Unknown field; expected one of context, expected, external_id, payload,"
        " prompt." in page.content.decode()
    )
    with (tmp_path / "pairs.parquet").open("rb") as body:
        page = client.post(url, {"file": body, "format": "auto", "keep_valid": "on"})
    assert "Imported 1 item (read as pairs); 1 row rejected" in page.content.decode()
    assert campaign.items.count() == 1


# Flags, items, responses, reviews -------------------------------------------------------


@pytest.fixture
def flagged(client, me):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=2, owners=[me])
    participant = ready_participant(audience=audience, campaign=campaign)
    first = services.assignment_next(participant=participant, campaign=campaign)
    services.assignment_skip(
        participant=participant, assignment_id=first.pk, flag_reason="Answer B is offensive"
    )
    return campaign, first.item, audience


def test_a_flag_reaches_the_campaigns_researcher_with_its_reason(client, flagged):
    campaign, item, _ = flagged
    page = client.get(reverse("workbench:flag_queue", args=[campaign.slug])).content.decode()
    assert "Answer B is offensive" in page and str(item) in page


def test_an_excluded_item_is_served_no_more_and_leaves_the_queue(client, flagged):
    campaign, item, audience = flagged
    client.post(
        reverse("workbench:flag_resolve", args=[campaign.slug, item.pk]), {"action": "exclude"}
    )
    item.refresh_from_db()
    assert item.excluded_at is not None
    other = ready_participant(audience=audience, campaign=campaign)
    served = services.assignment_next(participant=other, campaign=campaign)
    assert served.item_id != item.pk
    page = client.get(reverse("workbench:flag_queue", args=[campaign.slug])).content.decode()
    assert "No open flags." in page


def test_editing_a_flagged_item_makes_a_new_version_and_keeps_old_judgements(client, flagged):
    campaign, item, audience = flagged
    earlier = ready_participant(audience=audience, campaign=campaign)
    lease = services.assignment_next(participant=earlier, campaign=campaign)
    while lease.item_id != item.pk:
        services.assignment_skip(participant=earlier, assignment_id=lease.pk)
        lease = services.assignment_next(participant=earlier, campaign=campaign)
    services.response_submit(
        participant=earlier,
        assignment_id=lease.pk,
        payload={"choice": "a"},
        time_on_task_ms=1000,
        idempotency_key="00000000-0000-0000-0000-000000000001",
    )
    client.post(
        reverse("workbench:flag_resolve", args=[campaign.slug, item.pk]),
        {"action": "edit", "prompt": "A corrected question?"},
    )
    new = Item.objects.get(previous_version=item)
    assert (new.version, new.prompt, new.external_id) == (
        2,
        "A corrected question?",
        item.external_id,
    )
    assert Response.objects.get(participant=earlier).item_id == item.pk
    later = ready_participant(audience=audience, campaign=campaign)
    served = {services.assignment_next(participant=later, campaign=campaign).item_id}
    assert item.pk not in served
    assert Assignment.objects.get(item=item, status="flagged").flag_resolution == "edited"


def test_a_dismissed_flag_leaves_the_item_as_it_is(client, flagged):
    campaign, item, _ = flagged
    client.post(
        reverse("workbench:flag_resolve", args=[campaign.slug, item.pk]), {"action": "dismiss"}
    )
    item.refresh_from_db()
    assert not item.is_retired
    assert (
        "No open flags."
        in client.get(reverse("workbench:flag_queue", args=[campaign.slug])).content.decode()
    )


def test_the_item_browser_filters_flagged_items_and_searches_prompts(client, flagged):
    campaign, item, _ = flagged
    url = reverse("workbench:item_list", args=[campaign.slug])
    page = client.get(url, {"flagged": "on"}).content.decode()
    assert "1 item" in page and item.prompt in page
    other = campaign.items.exclude(pk=item.pk).get()
    page = client.get(url, {"q": other.prompt}).content.decode()
    assert other.prompt in page and item.prompt not in page


def test_responses_show_the_release_pseudonym_and_never_usernames(client, me):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=1, owners=[me])
    participant = ready_participant(audience=audience, campaign=campaign)
    lease = services.assignment_next(participant=participant, campaign=campaign)
    services.response_submit(
        participant=participant,
        assignment_id=lease.pk,
        payload={"choice": "b"},
        time_on_task_ms=1000,
        idempotency_key="00000000-0000-0000-0000-000000000002",
    )
    page = client.get(reverse("workbench:item_detail", args=[campaign.slug, lease.item_id]))
    text = page.content.decode()
    key, _ = pseudonym_key(campaign)
    name = pseudonym(key, participant.pk, audience.pk)
    assert name in text and "b: 1" in text
    assert participant.user.username not in text and participant.user.email not in text
    person = client.get(
        reverse("workbench:participant_detail", args=[campaign.slug, audience.slug, name])
    )
    assert person.status_code == 200 and str(lease.item) in person.content.decode()
    assert (
        client.get(
            reverse("workbench:participant_detail", args=[campaign.slug, audience.slug, "0" * 20])
        ).status_code
        == 404
    )


def test_a_rejected_demonstration_is_marked_and_leaves_the_review_queue(client, me):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1}, items=1, owners=[me], item_kind="demonstration"
    )
    participant = ready_participant(audience=audience, campaign=campaign)
    lease = services.assignment_next(participant=participant, campaign=campaign)
    response = services.response_submit(
        participant=participant,
        assignment_id=lease.pk,
        payload={"text": "A careful reply."},
        time_on_task_ms=1000,
        idempotency_key="00000000-0000-0000-0000-000000000003",
    ).response
    queue = reverse("workbench:review_queue", args=[campaign.slug])
    assert "A careful reply." in client.get(queue).content.decode()
    client.post(
        reverse("workbench:review_submit", args=[campaign.slug, response.pk]),
        {"review": "rejected"},
    )
    response.refresh_from_db()
    assert response.review == "rejected"
    assert "A careful reply." not in client.get(queue).content.decode()
    assert "A careful reply." in client.get(queue, {"show": "rejected"}).content.decode()


# Landing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "page"),
    [("researcher", "campaign_list"), ("staff", "coverage_dashboard"), ("annotator", "home")],
)
def test_after_login_each_role_lands_on_its_own_page(client, role, page):
    user = researcher() if role == "researcher" else UserFactory(is_staff=role == "staff")
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    final = client.get(response.url, follow=True)
    assert final.resolver_match.url_name == page


def test_staff_see_a_link_to_the_django_admin(client):
    client.force_login(UserFactory(is_staff=True))
    assert reverse("admin:index") in client.get(reverse("campaign_list")).content.decode()


def test_a_researcher_releases_a_public_audiences_quotas_and_editing_keeps_it(client, me):
    audience = public_age_audience(slug="uk-quota")
    campaign = make_campaign(audiences={audience: 2}, items=2, owners=[me])
    page = client.get(reverse("workbench:campaign_edit", args=[campaign.slug]))
    assert b"Release quotas" in page.content
    released = client.post(
        reverse("workbench:campaign_release_quotas", args=[campaign.slug, audience.slug])
    )
    assert released.status_code == 302
    target = campaign.targets.get()
    assert target.quota_release_at is not None
    # Saving the campaign's settings (k) does not undo the researcher's release.
    form = {
        **campaign_form(name=campaign.name),
        "target": [audience.slug],
        f"k-{audience.slug}": "3",
    }
    saved = client.post(reverse("workbench:campaign_edit", args=[campaign.slug]), form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    target.refresh_from_db()
    assert target.overlap_k == 3 and target.quota_release_at is not None
    assert (
        b"Released" in client.get(reverse("workbench:campaign_edit", args=[campaign.slug])).content
    )
    # Someone else's campaign: 404, nothing changes.
    other = make_campaign(audiences={audience: 2}, items=1)
    assert (
        client.post(
            reverse("workbench:campaign_release_quotas", args=[other.slug, audience.slug])
        ).status_code
        == 404
    )
    assert other.targets.get().quota_release_at is None


def test_a_campaign_named_as_a_question_never_reads_name_question_colon(client, me):
    # A name ending in "?" once made headings like "Which is kinder?: items".
    campaign = make_campaign(
        audiences={AudienceFactory(): 1}, items=1, owners=[me], name="Which is kinder?"
    )
    pages = [
        reverse(f"workbench:{name}", args=[campaign.slug])
        for name in ("item_list", "flag_queue", "review_queue", "item_import", "campaign_edit")
    ]
    pages += [reverse("campaign_releases", args=[campaign.slug])]
    pages += [reverse("campaign_detail", args=[campaign.slug])]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert "Which is kinder?" in html, url
        assert "?:" not in html.replace("(?:", ""), url
    heading = client.get(reverse("workbench:item_list", args=[campaign.slug])).content.decode()
    assert "<h1>Items · Which is kinder?</h1>" in heading
