"""The annotator web forms, driven through Django's test client."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from collection import payloads, services
from collection.models import (
    Assignment,
    Audience,
    Campaign,
    Consent,
    Membership,
    Participant,
    Response,
    Withdrawal,
)
from tests.factories import (
    AGE_SCHEMA,
    PASSWORD,
    AudienceFactory,
    CampaignFactory,
    MembershipFactory,
    UserFactory,
    make_campaign,
    ready_participant,
)

pytestmark = pytest.mark.django_db


# Helpers -------------------------------------------------------------------------


def annotator(client, campaign, audience, **kwargs) -> Participant:
    participant = ready_participant(audience=audience, campaign=campaign, **kwargs)
    client.force_login(participant.user)
    return participant


def lease(client, campaign, participant) -> Assignment:
    page = client.get(reverse("annotate", args=[campaign.slug]))
    assert page.status_code == 200, page.content.decode()[:500]
    return Assignment.objects.get(
        participant=participant, campaign=campaign, status=Assignment.Status.LEASED
    )


def post_answer(client, campaign, assignment, key=None, **fields):
    data = {
        "assignment": assignment.pk,
        "idempotency_key": str(key or uuid.uuid4()),
        "time_on_task_ms": "2500",
        **fields,
    }
    return client.post(reverse("submit", args=[campaign.slug]), data)


def candidate_index(assignment, candidate_id) -> int:
    return [c["id"] for c in assignment.item.candidates].index(candidate_id)


# Login -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("home", [], "get"),
        ("submissions", [], "get"),
        ("withdraw_platform", [], "get"),
        ("withdraw_campaign", ["c"], "get"),
        ("annotate", ["c"], "get"),
        ("consent", ["c"], "get"),
        ("profile", ["a"], "get"),
        ("invitation_join", ["token"], "get"),
        ("audience_join", ["a"], "post"),
        ("submit", ["c"], "post"),
        ("skip", ["c"], "post"),
    ],
)
def test_every_page_but_signup_and_login_needs_a_login(client, name, args, method):
    url = reverse(name, args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_signup_and_login_pages_are_open(client):
    assert client.get(reverse("signup")).status_code == 200
    assert client.get(reverse("login")).status_code == 200


def test_signup_creates_a_participant_and_signs_in(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "ada",
            "email": "ada@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    user = get_user_model().objects.get(username="ada")
    assert user.email == "ada@example.org"
    assert Participant.objects.filter(user=user).exists()
    assert "ada" in client.get(reverse("home")).content.decode()


def test_signup_refuses_a_mismatched_password_and_keeps_next_on_site(client):
    bad = client.post(
        reverse("signup"),
        {"username": "bob", "email": "bob@example.org", "password1": PASSWORD, "password2": "x"},
    )
    assert bad.status_code == 400
    assert not get_user_model().objects.filter(username="bob").exists()
    good = client.post(
        reverse("signup"),
        {
            "username": "bob",
            "email": "bob@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert good["Location"] == reverse("home")


def test_signup_refuses_an_email_already_in_use(client):
    existing = MembershipFactory().participant.user
    response = client.post(
        reverse("signup"),
        {
            "username": "copycat",
            "email": existing.email.upper(),
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert not get_user_model().objects.filter(username="copycat").exists()


def test_login_and_logout(client):
    participant = MembershipFactory().participant
    response = client.post(
        reverse("login"), {"username": participant.user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


# Joining ---------------------------------------------------------------------------


def test_join_an_open_audience_and_see_its_campaigns(client):
    mass = AudienceFactory(name="Everyone")
    screened = AudienceFactory(kind=Audience.Kind.PUBLIC, screened=True, name="Screened panel")
    campaign = make_campaign(audiences={mass: 2}, items=3, name="Helpfulness pairs")
    user = MembershipFactory().participant.user  # a member of some other audience
    client.force_login(user)
    home = client.get(reverse("home")).content.decode()
    assert "Join Everyone" in home and "Screened panel" not in home
    assert "Helpfulness pairs" not in home

    response = client.post(reverse("audience_join", args=[mass.slug]))
    assert response.status_code == 302
    assert Membership.objects.filter(participant__user=user, audience=mass).exists()
    home = client.get(reverse("home")).content.decode()
    assert campaign.name in home and "Join Everyone" not in home

    # An audience the user may not see answers as if it did not exist (issue #10, item 7).
    refused = client.post(reverse("audience_join", args=[screened.slug]))
    assert refused.status_code == 404
    assert "Screened panel" not in refused.content.decode()


def test_joining_an_audience_with_a_schema_asks_for_the_profile(client):
    audience = AudienceFactory(attribute_schema=AGE_SCHEMA)
    client.force_login(MembershipFactory().participant.user)
    response = client.post(reverse("audience_join", args=[audience.slug]))
    assert response["Location"].startswith(reverse("profile", args=[audience.slug]))


def test_join_a_group_by_invitation_link(client):
    group = AudienceFactory(kind=Audience.Kind.GROUP, name="Book club")
    invitation = services.invitation_create(audience=group, max_uses=1)
    user = MembershipFactory().participant.user
    client.force_login(user)
    url = reverse("invitation_join", args=[invitation.token])
    page = client.get(url)
    assert page.status_code == 200 and "Join Book club" in page.content.decode()
    assert not Membership.objects.filter(audience=group).exists()  # GET changes nothing

    assert client.post(url).status_code == 302
    assert Membership.objects.filter(participant__user=user, audience=group).exists()
    invitation.refresh_from_db()
    assert invitation.uses == 1

    client.force_login(MembershipFactory().participant.user)
    used_up = client.post(url)
    assert used_up.status_code == 403 and "no longer valid" in used_up.content.decode()
    assert client.get(reverse("invitation_join", args=["nope"])).status_code == 404


# Consent, profile, annotate ------------------------------------------------------------


def test_consent_then_profile_then_the_first_item(client):
    audience = AudienceFactory(attribute_schema=AGE_SCHEMA)
    campaign = make_campaign(
        audiences={audience: 2}, items=2, consent_text="Be <i>kind</i>.", consent_version="7"
    )
    membership = MembershipFactory(audience=audience)
    client.force_login(membership.participant.user)
    annotate_url = reverse("annotate", args=[campaign.slug])

    response = client.get(annotate_url)
    consent_url = reverse("consent", args=[campaign.slug])
    assert response["Location"].startswith(consent_url)
    page = client.get(response["Location"]).content.decode()
    assert "Be &lt;i&gt;kind&lt;/i&gt;." in page
    assert client.post(response["Location"], {}).status_code == 400
    agreed = client.post(response["Location"], {"agree": "on", "next": annotate_url})
    assert agreed["Location"] == annotate_url
    assert Consent.objects.get(participant=membership.participant).version == "7"

    response = client.get(annotate_url)
    profile_url = reverse("profile", args=[audience.slug])
    assert response["Location"].startswith(profile_url)
    page = client.get(response["Location"]).content.decode()
    assert "Age band" in page and "18-39" in page and "40+" in page
    bad = client.post(profile_url, {"age_band": "12-17", "next": annotate_url})
    assert bad.status_code == 400 and "Age band" in bad.content.decode()
    saved = client.post(profile_url, {"age_band": "40+", "next": annotate_url})
    assert saved["Location"] == annotate_url
    membership.refresh_from_db()
    assert membership.attributes == {"age_band": "40+"}

    page = client.get(annotate_url)
    assert page.status_code == 200
    assert "Question number" in page.content.decode()


def test_campaigns_outside_ones_audiences_and_drafts_are_not_found(client):
    mine, other = AudienceFactory(), AudienceFactory()
    foreign = make_campaign(audiences={other: 1}, items=1)
    draft = make_campaign(audiences={mine: 1}, items=1, status=Campaign.Status.DRAFT)
    annotator(client, None, mine)
    assert client.get(reverse("annotate", args=[foreign.slug])).status_code == 404
    assert client.get(reverse("annotate", args=[draft.slug])).status_code == 404
    assert client.get(reverse("consent", args=[foreign.slug])).status_code == 404


def test_annotate_page_shows_instructions_progress_context_and_hidden_fields(client):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1},
        items=0,
        per_participant_cap=5,
        instructions="Prefer the kinder answer.",
        transience=Campaign.Transience.EPISODIC,
    )
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": "How do I say no?",
                "context": {
                    "messages": [
                        {"role": "user", "content": "My boss asks for overtime."},
                        {"role": "assistant", "content": "How often?"},
                    ],
                    "situation": "A small office",
                    "persona": "A shy engineer",
                },
                "payload": {"candidates": ["Just say no.", "Explain your limits kindly."]},
            }
        ],
    )
    annotator(client, campaign, audience)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    for text in (
        "Prefer the kinder answer.",
        "Item 1",
        "0 of 5 completed",
        "My boss asks for overtime.",
        "How often?",
        "A small office",
        "A shy engineer",
        "Just say no.",
        "Explain your limits kindly.",
        'name="idempotency_key"',
        'name="time_on_task_ms"',
        "csrfmiddlewaretoken",
        "Skip this item",
        "Flag a problem",
    ):
        assert text in page, text
    assert "turn-user" in page and "turn-assistant" in page


# Submitting each kind --------------------------------------------------------------


def test_choice_submission_stores_the_choice_and_moves_on(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = annotator(client, campaign, audience)
    first = lease(client, campaign, participant)
    response = post_answer(client, campaign, first, choice="b")
    assert response.status_code == 302
    assert response["Location"] == reverse("annotate", args=[campaign.slug])
    stored = Response.objects.get(assignment=first)
    assert stored.payload == {"choice": "b"}
    assert stored.time_on_task_ms == 2500
    second = lease(client, campaign, participant)
    assert second.item_id != first.item_id
    assert post_answer(client, campaign, second, choice="tie").status_code == 302
    assert Response.objects.get(assignment=second).payload == {"choice": "tie"}


def test_ranking_submission_with_ratings_rationale_and_confidence(client):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1},
        items=1,
        preference_format=Campaign.PreferenceFormat.RANKING,
        rating_min=1,
        rating_max=7,
        ask_rationale=True,
        ask_confidence=True,
    )
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    ranks = {"c": 1, "a": 2, "b": 3}
    fields = {f"rank_{candidate_index(assignment, cid)}": r for cid, r in ranks.items()}
    fields |= {f"rating_{candidate_index(assignment, cid)}": 8 - r for cid, r in ranks.items()}
    response = post_answer(
        client, campaign, assignment, rationale="C is clearest.", confidence="4", **fields
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Response.objects.get(assignment=assignment).payload == {
        "ranking": ["c", "a", "b"],
        "ratings": {"a": 6, "b": 5, "c": 7},
        "rationale": "C is clearest.",
        "confidence": 4,
    }


def test_rating_submission(client):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1},
        items=1,
        preference_format=Campaign.PreferenceFormat.RATING,
        rating_min=1,
        rating_max=5,
    )
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert page.count('type="radio"') == 3 * 5
    fields = {f"rating_{i}": str(i + 2) for i in range(3)}
    assert post_answer(client, campaign, assignment, **fields).status_code == 302
    assert Response.objects.get(assignment=assignment).payload == {
        "ratings": {"a": 2, "b": 3, "c": 4}
    }


def test_demonstration_prefills_the_draft_and_stores_the_edit_as_given(client):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1}, items=1, item_kind=Campaign.ItemKind.DEMONSTRATION
    )
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "Draft 0</textarea>" in page
    text = "  Draft 0, improved.\n\nWith a second paragraph.  "
    assert post_answer(client, campaign, assignment, text=text).status_code == 302
    assert Response.objects.get(assignment=assignment).payload == {"text": text}


def test_qa_answer_with_sources_one_per_line(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1, item_kind=Campaign.ItemKind.QA)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    response = post_answer(
        client,
        campaign,
        assignment,
        answer="Forty-two.",
        sources="https://example.org/a\n\n  https://example.org/b  \n",
    )
    assert response.status_code == 302
    assert Response.objects.get(assignment=assignment).payload == {
        "answer": "Forty-two.",
        "sources": ["https://example.org/a", "https://example.org/b"],
    }


# Refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("campaign_fields", "answer", "named"),
    [
        ({}, {}, "Your choice"),
        ({}, {"choice": "z"}, "Must be one of a, b, tie"),
        (
            {"preference_format": "ranking"},
            {"rank_0": "1", "rank_1": "1", "rank_2": "3"},
            "Ranking",
        ),
        (
            {"preference_format": "rating", "rating_min": 1, "rating_max": 5},
            {"rating_0": "9", "rating_1": "1", "rating_2": "1"},
            "Rating of response",
        ),
        ({"ask_rationale": True}, {"choice": "a"}, "Why? (briefly)"),
        ({"ask_confidence": True}, {"choice": "a"}, "How confident are you?"),
        ({"item_kind": "qa"}, {"answer": "   "}, "Your answer"),
        ({"item_kind": "demonstration"}, {"text": ""}, "Your response"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    client, campaign_fields, answer, named
):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1, **campaign_fields)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    response = post_answer(client, campaign, assignment, **answer)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Your answer was not saved" in page
    assert named in page
    assert assignment.item.prompt in page  # the same item, ready to fix
    assert not Response.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED


def test_oversize_text_is_refused_with_a_message(client):
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1}, items=1, item_kind=Campaign.ItemKind.DEMONSTRATION
    )
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    too_long = "x" * (payloads.MAX_TEXT_CHARS + 1)
    response = post_answer(client, campaign, assignment, text=too_long)
    assert response.status_code == 400
    assert f"At most {payloads.MAX_TEXT_CHARS} characters" in response.content.decode()
    assert not Response.objects.exists()


def test_a_retried_post_with_the_same_key_stores_one_response(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    key = uuid.uuid4()
    first = post_answer(client, campaign, assignment, key=key, choice="a")
    again = post_answer(client, campaign, assignment, key=key, choice="a")
    assert first.status_code == again.status_code == 302
    assert again["Location"] == reverse("annotate", args=[campaign.slug])
    assert Response.objects.filter(participant=participant).count() == 1


def test_an_expired_lease_says_time_ran_out_and_serves_an_item(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = post_answer(client, campaign, assignment, choice="a")
    assert response.status_code == 302
    assert not Response.objects.exists()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "ran out" in page.content.decode()


def test_someone_elses_assignment_is_refused(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=1)
    owner = annotator(client, campaign, audience)
    theirs = lease(client, campaign, owner)
    annotator(client, campaign, audience)
    response = post_answer(client, campaign, theirs, choice="a")
    assert response.status_code == 404
    assert "not assigned to you" in response.content.decode()
    skip = client.post(reverse("skip", args=[campaign.slug]), {"assignment": theirs.pk})
    assert skip.status_code == 404
    assert not Response.objects.exists()
    theirs.refresh_from_db()
    assert theirs.status == Assignment.Status.LEASED


def test_a_stale_form_for_an_answered_item_is_a_conflict(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    assert post_answer(client, campaign, assignment, choice="a").status_code == 302
    stale = post_answer(client, campaign, assignment, choice="b")  # a new key: Back, resubmit
    assert stale.status_code == 409
    assert "answered this item already" in stale.content.decode()
    assert Response.objects.get().payload == {"choice": "a"}


def test_an_assignment_id_from_another_campaign_is_refused(client):
    audience = AudienceFactory()
    first = make_campaign(audiences={audience: 1}, items=1)
    second = make_campaign(audiences={audience: 1}, items=1)
    participant = annotator(client, first, audience)
    services.consent_give(participant=participant, campaign=second)
    assignment = lease(client, first, participant)
    assert post_answer(client, second, assignment, choice="a").status_code == 404


def test_item_text_is_escaped(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=0)
    xss = "<script>window.__xss=1</script><b>bold</b>"
    services.items_create(
        campaign=campaign,
        rows=[{"prompt": f"Prompt {xss}", "payload": {"candidates": [xss, "plain"]}}],
    )
    annotator(client, campaign, audience)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "<script>window.__xss" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page


def test_time_on_task_falls_back_to_the_lease_when_the_page_sent_none(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    Assignment.objects.filter(pk=assignment.pk).update(
        leased_at=timezone.now() - timedelta(seconds=30)
    )
    response = post_answer(client, campaign, assignment, choice="a", time_on_task_ms="")
    assert response.status_code == 302
    assert 29_000 <= Response.objects.get().time_on_task_ms <= 60_000


# Skip, flag, done ---------------------------------------------------------------------


def test_skip_and_flag(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3)
    participant = annotator(client, campaign, audience)
    skip_url = reverse("skip", args=[campaign.slug])

    first = lease(client, campaign, participant)
    assert client.post(skip_url, {"assignment": first.pk, "action": "skip"}).status_code == 302
    again = client.post(skip_url, {"assignment": first.pk, "action": "skip"})
    assert again.status_code == 302  # a double click is harmless
    first.refresh_from_db()
    assert first.status == Assignment.Status.SKIPPED

    second = lease(client, campaign, participant)
    assert second.item_id != first.item_id
    blank = client.post(skip_url, {"assignment": second.pk, "action": "flag", "flag_reason": " "})
    assert blank.status_code == 400 and "Say what is wrong" in blank.content.decode()
    flagged = client.post(
        skip_url, {"assignment": second.pk, "action": "flag", "flag_reason": "Both say the same."}
    )
    assert flagged.status_code == 302
    second.refresh_from_db()
    assert second.status == Assignment.Status.FLAGGED
    assert second.flag_reason == "Both say the same."


def test_skipping_on_the_page_leases_the_next_item_in_the_same_request(client):
    # As the API's skip: one service call (assignment_skip_and_next), so the next item is
    # leased with the skip, before the page the redirect lands on is asked for.
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = annotator(client, campaign, audience)
    skip_url = reverse("skip", args=[campaign.slug])
    first = lease(client, campaign, participant)

    skipped = client.post(skip_url, {"assignment": first.pk, "action": "skip"})
    assert skipped.status_code == 302
    held = Assignment.objects.get(participant=participant, status=Assignment.Status.LEASED)
    assert held.item_id != first.item_id
    page = client.get(skipped.url)
    assert page.status_code == 200 and page.context["assignment"].pk == held.pk
    assert Assignment.objects.filter(participant=participant).count() == 2

    # Nothing left to lease: the flag still stands, and the page says why.
    flagged = client.post(
        skip_url, {"assignment": held.pk, "action": "flag", "flag_reason": "Off topic."}
    )
    assert flagged.status_code == 302
    held.refresh_from_db()
    assert held.status == Assignment.Status.FLAGGED and held.flag_reason == "Off topic."
    assert not Assignment.objects.filter(
        participant=participant, status=Assignment.Status.LEASED
    ).exists()
    assert "nothing left for you" in client.get(flagged.url).content.decode()


def test_done_page_when_nothing_is_left(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1, per_participant_cap=1)
    participant = annotator(client, campaign, audience)
    assignment = lease(client, campaign, participant)
    post_answer(client, campaign, assignment, choice="a")
    page = client.get(reverse("annotate", args=[campaign.slug]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "All done" in text and "limit of 1" in text
    home = client.get(reverse("home")).content.decode()
    assert "Done, thank you" in home


# Submissions and withdrawal ------------------------------------------------------------


def test_submissions_lists_answers_newest_first(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=2, name="Pairs")
    participant = annotator(client, campaign, audience)
    for choice in ("a", "tie"):
        post_answer(client, campaign, lease(client, campaign, participant), choice=choice)
    other = annotator(client, campaign, audience)  # someone else's answers stay hidden
    post_answer(client, campaign, lease(client, campaign, other), choice="b")
    client.force_login(participant.user)
    page = client.get(reverse("submissions")).content.decode()
    assert page.count("<tr") == 3  # header and two rows
    assert page.index("a tie") < page.index("Answer a to")
    assert "Pairs" in page and "Included" in page


def test_withdraw_from_a_campaign_needs_confirmation_and_stops_serving(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3)
    participant = annotator(client, campaign, audience)
    post_answer(client, campaign, lease(client, campaign, participant), choice="a")
    url = reverse("withdraw_campaign", args=[campaign.slug])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "your 1 answer" in confirm.content.decode()
    assert not Withdrawal.objects.exists()

    assert client.post(url)["Location"] == reverse("submissions")
    assert Response.objects.get().withdrawn_at is not None
    assert "Withdrawn" in client.get(reverse("submissions")).content.decode()
    refused = client.get(reverse("annotate", args=[campaign.slug]))
    assert refused.status_code == 403
    assert "withdrawn" in refused.content.decode()
    client.post(url)  # a second POST does not withdraw twice
    assert Withdrawal.objects.count() == 1


def test_withdraw_from_a_campaign_one_never_joined_is_not_found(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1)
    annotator(client, None, audience)
    assert client.get(reverse("withdraw_campaign", args=[campaign.slug])).status_code == 404


def test_withdraw_from_the_platform(client):
    audience = AudienceFactory()
    first = make_campaign(audiences={audience: 1}, items=2)
    second = make_campaign(audiences={audience: 1}, items=2)
    participant = annotator(client, first, audience)
    services.consent_give(participant=participant, campaign=second)
    post_answer(client, first, lease(client, first, participant), choice="a")
    post_answer(client, second, lease(client, second, participant), choice="b")
    url = reverse("withdraw_platform")
    assert "your 2 answers" in client.get(url).content.decode()
    client.post(url)
    assert not Response.objects.filter(withdrawn_at__isnull=True).exists()
    for campaign in (first, second):
        assert client.get(reverse("annotate", args=[campaign.slug])).status_code == 403
    home = client.get(reverse("home")).content.decode()
    assert "You withdrew from the platform" in home


def test_dyad_and_group_campaigns_are_not_offered_for_open_joining(client):
    AudienceFactory(kind=Audience.Kind.DYADIC, name="Just me")
    AudienceFactory(kind=Audience.Kind.GROUP, name="Book club")
    AudienceFactory(kind=Audience.Kind.PUBLIC, screened=False, name="Open panel")
    client.force_login(MembershipFactory().participant.user)
    home = client.get(reverse("home")).content.decode()
    assert "Open panel" in home
    assert "Just me" not in home and "Book club" not in home


def test_home_shows_progress_against_the_cap(client):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=4, per_participant_cap=3)
    CampaignFactory(status=Campaign.Status.OPEN)  # not aimed at this audience
    participant = annotator(client, campaign, audience)
    post_answer(client, campaign, lease(client, campaign, participant), choice="a")
    home = client.get(reverse("home")).content.decode()
    assert "<strong>1</strong> of 3" in home
    assert "Continue" in home


@pytest.mark.django_db
def test_a_user_creates_uses_and_revokes_an_api_token(client):
    from collection.models import ApiToken

    user = UserFactory()
    assert client.get("/account/tokens/").status_code == 302  # login first
    client.force_login(user)
    page = client.post("/account/tokens/", {"name": "<b>notebook</b>"})
    key = page.context["new_key"]
    assert key.startswith("pa_") and key.encode() in page.content
    assert b"&lt;b&gt;notebook&lt;/b&gt;" in page.content
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    token = ApiToken.objects.get(user=user)
    other = UserFactory()
    client.force_login(other)
    client.post("/account/tokens/", {"revoke": token.pk})  # not theirs: nothing happens
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    client.force_login(user)
    client.post("/account/tokens/", {"revoke": token.pk})
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert key.encode() not in client.get("/account/tokens/").content


def test_annotate_page_renders_the_instructions_markdown_as_the_preview_promised(client):
    # The workbench says "Markdown" and previews it rendered; participants saw the
    # asterisks. Raw HTML stays text.
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1},
        items=1,
        instructions="Pick the **more harmless** reply. <script>alert(1)</script>",
    )
    annotator(client, campaign, audience)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "<strong>more harmless</strong>" in page
    assert "**more harmless**" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
