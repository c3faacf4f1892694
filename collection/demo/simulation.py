"""Simulated annotators whose answers go through the real assignment engine, each
audience leaning its own way (Bradley–Terry strengths in `content.TASTES`)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from collection import services
from collection.demo.accounts import _user
from collection.demo.content import AGE_BANDS, GENDERS, PUBLIC_SAMPLE, TASTES
from collection.demo.rating import simulated_scores
from collection.models import Assignment, Campaign, Participant


def _simulate(audiences, campaigns, alex: Participant, rng: random.Random) -> None:
    User = get_user_model()
    start = timezone.now() - timedelta(days=14)
    members: dict[str, list[Participant]] = {"alex-assistant": [alex]}
    plans = [
        ("everyone", 30, lambda: {}),
        (
            "uk-adults",
            40,
            lambda: {
                "age_band": rng.choices(AGE_BANDS, PUBLIC_SAMPLE["age_band"])[0],
                "gender": rng.choices(GENDERS, PUBLIC_SAMPLE["gender"])[0],
            },
        ),
        (
            "ward-7-nurses",
            7,
            lambda: {
                "role": rng.choice(["staff nurse", "staff nurse", "senior nurse", "student nurse"])
            },
        ),
    ]
    for slug, count, attributes in plans:
        audience = audiences[slug]
        members[slug] = []
        for n in range(count):
            user = _user(User, f"sim-{slug}-{n:02d}", can_log_in=False)
            participant = services.participant_get_or_create(user=user)
            invitation = None
            if not audience.is_open_signup:
                invitation = services.invitation_create(audience=audience, note="simulated")
            services.membership_join(
                participant=participant,
                audience=audience,
                invitation=invitation,
                attributes=attributes(),
            )
            members[slug].append(participant)
    # Each simulated person does a share of the work; a few keen ones do much more,
    # so the dashboard has someone who dominates.
    workload = {
        "pairs": 0.55,
        "ranking": 0.6,
        "ratings": 0.5,
        "demos": 0.7,
        "qa": 0.5,
        "rating": 0.85,
    }
    for key, campaign in campaigns.items():
        for audience in campaign.audiences.all():
            people = members[audience.slug]
            target = campaign.targets.get(audience=audience)
            slots = campaign.items.filter(is_attention_check=False).count() * target.overlap_k
            budget = int(slots * workload[key])
            for participant in people:
                services.consent_give(participant=participant, campaign=campaign)
            keen = rng.sample(people, k=max(1, len(people) // 10))
            weights = [6 if person in keen else 1 for person in people]
            done = 0
            exhausted: set[int] = set()
            while done < budget and len(exhausted) < len(people):
                participant = rng.choices(people, weights)[0]
                if participant.pk in exhausted:
                    continue
                moment = start + timedelta(seconds=int(14 * 86400 * done / max(budget, 1)))
                if not _simulate_one(campaign, participant, audience.slug, moment, rng):
                    exhausted.add(participant.pk)
                    continue
                done += 1


def _simulate_one(campaign, participant, audience_slug, moment, rng) -> bool:
    result = services.assignment_next(participant=participant, campaign=campaign, now=moment)
    if not isinstance(result, Assignment):
        return False
    item = result.item
    if rng.random() < 0.03:
        services.assignment_skip(
            participant=participant,
            assignment_id=result.pk,
            now=moment,
            flag_reason="Both answers look wrong." if rng.random() < 0.3 else "",
        )
        return True
    payload = _simulated_answer(campaign, item, TASTES[audience_slug], rng)
    services.response_submit(
        participant=participant,
        assignment_id=result.pk,
        payload=payload,
        time_on_task_ms=rng.randint(4000, 60000),
        idempotency_key=uuid.uuid4(),
        now=moment + timedelta(seconds=rng.randint(5, 90)),
    )
    return True


# The demo answers its own campaigns (`content.py`), one per built-in kind, so it names
# them; a new kind needs no demo.
def _simulated_answer(campaign: Campaign, item, taste: dict[str, float], rng) -> dict:
    if item.is_attention_check:
        return {"choice": "b" if rng.random() < 0.95 else "a", "confidence": 5}
    if campaign.item_kind == Campaign.ItemKind.PREFERENCE:
        strengths = {
            c["id"]: taste.get(c.get("source", ""), 1.0) * rng.lognormvariate(0, 0.4)
            for c in item.candidates
        }
        order = sorted(strengths, key=strengths.get, reverse=True)
        if campaign.preference_format == Campaign.PreferenceFormat.RANKING:
            return {"ranking": order}
        low, high = campaign.rating_scale
        ratings = {cid: max(low, min(high, round(2 + strengths[cid] * 2))) for cid in strengths}
        if campaign.preference_format == Campaign.PreferenceFormat.RATING:
            return {"ratings": ratings}
        best, other = order[0], order[1]
        choice = "tie" if strengths[best] < strengths[other] * 1.05 else best
        return {"choice": choice, "ratings": ratings, "confidence": rng.randint(2, 5)}
    if campaign.item_kind == Campaign.ItemKind.DEMONSTRATION:
        situation = (item.context or {}).get("situation", "")
        opener = rng.choice(
            [
                "I can see this is hard.",
                "Thank you for telling me.",
                "Let's sort this out together.",
            ]
        )
        return {
            "text": f"{opener} {situation.split(' ')[0]} first, I'll explain what is "
            f"happening and what happens next, and I'll stay with you."
        }
    if campaign.item_kind == Campaign.ItemKind.RATING:
        return simulated_scores(item, taste, rng)
    reference = item.payload.get("reference_answer", "")
    answer = reference if rng.random() < 0.8 else "I am not sure, I think " + reference.lower()
    return {"answer": answer, "sources": item.payload.get("sources", [])[:1]}
