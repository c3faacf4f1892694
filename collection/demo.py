"""A realistic demo: four audiences, five campaigns, a few hundred items, and
simulated annotators whose answers go through the real assignment engine.

The simulated audiences lean different ways on purpose (the public audience
likes concise answers, the nurses' group warm ones), so that coverage gaps and
disagreement between audiences are visible in the dashboard and in releases.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from collection import services
from collection.authentication import token_hash
from collection.models import ApiToken, Assignment, Audience, Campaign, Participant
from collection.permissions import RESEARCHERS_GROUP

DEMO_PASSWORD = "demo-pass-2026"
# A fixed key so the README's API example works on any demo install. Demo only.
DEMO_API_KEY = "pa_demo_researcher_key_change_me"
SEED = 20260501

AGE_BANDS = ["18-29", "30-44", "45-64", "65+"]
GENDERS = ["woman", "man", "another"]
PUBLIC_TARGETS = {
    "age_band": {"18-29": 0.20, "30-44": 0.25, "45-64": 0.33, "65+": 0.22},
    "gender": {"woman": 0.51, "man": 0.47, "another": 0.02},
}
# The simulated sign-ups skew young, as online panels do.
PUBLIC_SAMPLE = {
    "age_band": [0.42, 0.30, 0.20, 0.08],
    "gender": [0.45, 0.52, 0.03],
}

TOPICS = [
    "how to store cooked rice safely",
    "whether to tell a friend their partner is cheating",
    "what to do after a minor car accident",
    "how to ask for a pay rise",
    "whether vaccines are safe for toddlers",
    "how to cope with a night-shift schedule",
    "how to explain a diagnosis to an elderly parent",
    "how to dispute a parking fine",
    "whether to lend money to a sibling",
    "how to start running at 50",
    "what to say to a grieving colleague",
    "how to reduce a household energy bill",
    "whether to report a neighbour's noisy dog",
    "how to prepare for a job interview",
    "how to talk to a teenager about social media",
    "what to do about a mouldy bathroom",
    "how to pick a GP",
    "whether homework helps primary school children",
    "how to handle a rude customer",
    "how to make a will",
    "whether to buy an electric car",
    "how to support a friend with depression",
    "how to keep a sourdough starter alive",
    "what to do if a pet eats chocolate",
    "how to write a complaint letter",
]
ASKS = [
    "Can you tell me {topic}?",
    "I need quick advice on {topic}.",
    "My mum asked me {topic}. What should I say?",
    "Explain {topic} as if I were new to it.",
    "Be honest with me about {topic}.",
    "What do experts say about {topic}?",
    "Give me the short version: {topic}.",
    "I'm anxious. Help me with {topic}.",
]
STYLES = {
    "concise-v2": "In short: {core}. That covers the essentials.",
    "thorough-v1": "Here is a careful answer. First, {core}. Second, consider your own "
    "situation and any risks. Third, if in doubt, ask a professional who knows the details.",
    "warm-v3": "That sounds like a lot to deal with, and it's good that you're asking. "
    "{core}. Take it one step at a time, and be kind to yourself.",
}
CORES = [
    "start with the simplest safe option",
    "check the official guidance first",
    "talk it through with the person involved",
    "write down what happened while it is fresh",
    "set a clear limit and stick to it",
    "ask for help early rather than late",
]
# How much each audience's simulated members like each style (Bradley–Terry strengths).
TASTES = {
    "everyone": {"concise-v2": 1.3, "thorough-v1": 1.0, "warm-v3": 1.0},
    "uk-adults": {"concise-v2": 1.8, "thorough-v1": 1.1, "warm-v3": 0.7},
    "ward-7-nurses": {"concise-v2": 0.6, "thorough-v1": 1.0, "warm-v3": 2.2},
    "alex-assistant": {"concise-v2": 2.5, "thorough-v1": 0.5, "warm-v3": 0.8},
}

WARD_SITUATIONS = [
    "A patient's daughter asks at 3 a.m. why her father is being moved to another ward.",
    "A patient refuses their evening medication and says the nurses are poisoning them.",
    "A junior colleague asks how to tell the family that visiting hours are over.",
    "A patient asks whether their scan result is bad news before the doctor has seen it.",
    "A relative complains loudly at the nurses' station about waiting times.",
    "A patient who speaks little English looks frightened before a procedure.",
]
QA_QUESTIONS = [
    ("Which organ produces insulin?", "The pancreas.", "https://www.nhs.uk/conditions/diabetes/"),
    (
        "What temperature should a fridge be kept at?",
        "Between 0 and 5 °C.",
        "https://www.food.gov.uk/",
    ),
    (
        "How long does a UK passport last for an adult?",
        "Ten years.",
        "https://www.gov.uk/renew-adult-passport",
    ),
    (
        "What number do you call for non-emergency medical help in England?",
        "111.",
        "https://111.nhs.uk/",
    ),
    (
        "At what age can you first claim the UK State Pension (born 1961)?",
        "66 (rising to 67).",
        "https://www.gov.uk/state-pension-age",
    ),
    (
        "How much water should an adult drink per day?",
        "About 6 to 8 glasses.",
        "https://www.nhs.uk/live-well/eat-well/",
    ),
]


@dataclass
class DemoLogin:
    role: str
    username: str
    note: str


def demo_load(*, simulate: bool = True, seed: int = SEED) -> list[DemoLogin]:
    """Create the demo once; running it again changes nothing and returns the logins."""
    User = get_user_model()
    if Campaign.objects.filter(slug="everyday-advice-pairs").exists():
        return _logins()
    rng = random.Random(seed)
    with transaction.atomic():
        researchers, _ = Group.objects.get_or_create(name=RESEARCHERS_GROUP)
        admin = _user(User, "admin", is_staff=True, is_superuser=True)
        researcher = _user(User, "researcher")
        researcher.groups.add(researchers)
        ApiToken.objects.create(
            user=researcher,
            name="demo (README example)",
            prefix=DEMO_API_KEY[:10],
            key_hash=token_hash(DEMO_API_KEY),
        )
        audiences = _audiences(admin)
        campaigns = _campaigns(researcher, audiences, rng)
        annotator = services.participant_get_or_create(user=_user(User, "annotator"))
        services.membership_join(
            participant=annotator, audience=audiences["everyone"], attributes={}
        )
        services.membership_join(
            participant=annotator,
            audience=audiences["uk-adults"],
            attributes={"age_band": "30-44", "gender": "woman"},
        )
        alex = services.participant_get_or_create(user=_user(User, "alex"))
        invitation = services.invitation_create(
            audience=audiences["alex-assistant"], created_by=researcher, note="Alex"
        )
        services.invitation_accept(token=invitation.token, participant=alex)
        services.membership_set_attributes(
            membership=alex.memberships.get(audience=audiences["alex-assistant"]),
            attributes={"main_use": "work"},
        )
        services.invitation_create(
            audience=audiences["ward-7-nurses"],
            created_by=researcher,
            max_uses=10,
            note="Ward 7 team (open link)",
        )
    if simulate:
        with transaction.atomic():
            _simulate(audiences, campaigns, alex, rng)
    return _logins()


def _logins() -> list[DemoLogin]:
    group_invite = (
        Audience.objects.get(slug="ward-7-nurses").invitations.filter(revoked=False).first()
    )
    join = f"/join/{group_invite.token}/" if group_invite else "(see admin)"
    return [
        DemoLogin("admin", "admin", "Django admin at /admin/ and the coverage dashboard"),
        DemoLogin("researcher", "researcher", "owns the four demo campaigns"),
        DemoLogin(
            "annotator",
            "annotator",
            f"member of everyone and uk-adults; join the nurses' group at {join}",
        ),
        DemoLogin("annotator (dyad)", "alex", "the one member of alex-assistant"),
    ]


def _user(User, username: str, *, can_log_in: bool = True, **flags):
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.org", **flags}
    )
    if created:
        # Simulated people never log in; hashing their passwords would take seconds.
        if can_log_in:
            user.set_password(DEMO_PASSWORD)
        else:
            user.set_unusable_password()
        user.save()
    return user


def _audiences(admin) -> dict[str, Audience]:
    specs = [
        dict(
            slug="everyone",
            name="Everyone",
            kind="mass",
            description="Anyone who signs up. The usual crowd-sourced baseline.",
        ),
        dict(
            slug="uk-adults",
            name="UK adults",
            kind="public",
            description="Adults living in the UK, weighted to census shares.",
            attribute_schema=[
                {"name": "age_band", "label": "Age band", "choices": AGE_BANDS},
                {"name": "gender", "label": "Gender", "choices": GENDERS},
            ],
            target_marginals=PUBLIC_TARGETS,
        ),
        dict(
            slug="ward-7-nurses",
            name="Ward 7 nursing team",
            kind="group",
            max_members=12,
            description="The nurses of one hospital ward, shaping their handover assistant.",
            attribute_schema=[
                {
                    "name": "role",
                    "label": "Role",
                    "choices": ["staff nurse", "senior nurse", "student nurse"],
                }
            ],
        ),
        dict(
            slug="alex-assistant",
            name="Alex's assistant",
            kind="dyadic",
            description="One person, Alex, teaching their own assistant.",
            attribute_schema=[
                {"name": "main_use", "label": "Main use", "choices": ["work", "home", "study"]}
            ],
        ),
    ]
    return {spec["slug"]: services.audience_create(created_by=admin, **spec) for spec in specs}


def _campaigns(researcher, audiences, rng: random.Random) -> dict[str, Campaign]:
    everyone, public = audiences["everyone"], audiences["uk-adults"]
    nurses, alex = audiences["ward-7-nurses"], audiences["alex-assistant"]
    campaigns = {}

    pairs = services.campaign_create(
        slug="everyday-advice-pairs",
        name="Everyday advice: which answer is better?",
        item_kind="preference",
        owners=[researcher],
        preference_format="choice",
        rating_min=1,
        rating_max=7,
        ask_confidence=True,
        attention_check_share=0.05,
        per_participant_cap=120,
        description="Pairs of assistant answers to everyday questions.",
        instructions="Pick the answer you would rather receive. Press 1 or 2, or 0 for a tie.",
        targets={everyone: 3, public: 5, nurses: 2, alex: 1},
    )
    styles = list(STYLES)
    rows = []
    for n in range(160):
        topic, ask = TOPICS[n % len(TOPICS)], ASKS[(n // len(TOPICS)) % len(ASKS)]
        first, second = rng.sample(styles, 2)
        core = CORES[n % len(CORES)]
        rows.append(
            {
                "external_id": f"advice-{n:03d}",
                "prompt": ask.format(topic=topic),
                "payload": {
                    "candidates": [
                        {
                            "id": "a",
                            "text": STYLES[first].format(core=core.capitalize()),
                            "source": first,
                        },
                        {
                            "id": "b",
                            "text": STYLES[second].format(core=core.capitalize()),
                            "source": second,
                        },
                    ]
                },
            }
        )
    for n in range(6):
        rows.append(
            {
                "external_id": f"check-{n}",
                "prompt": "Attention check: please pick answer B.",
                "payload": {"candidates": ["Not this one.", "This one: answer B."]},
                "expected": {"choice": "b"},
            }
        )
    services.items_create(campaign=pairs, rows=rows)
    campaigns["pairs"] = pairs

    ranking = services.campaign_create(
        slug="tone-ranking",
        name="Rank three replies by tone",
        item_kind="preference",
        owners=[researcher],
        preference_format="ranking",
        description="Three replies in different tones; order them best first.",
        instructions="Order the replies from the one you like most to the one you like least.",
        targets={everyone: 3, public: 3},
    )
    services.items_create(
        campaign=ranking,
        rows=[
            {
                "external_id": f"tone-{n:03d}",
                "prompt": ASKS[n % len(ASKS)].format(topic=TOPICS[(n * 7) % len(TOPICS)]),
                "payload": {
                    "candidates": [
                        {
                            "id": "a",
                            "text": STYLES["concise-v2"].format(core=CORES[n % 6].capitalize()),
                            "source": "concise-v2",
                        },
                        {
                            "id": "b",
                            "text": STYLES["thorough-v1"].format(core=CORES[n % 6]),
                            "source": "thorough-v1",
                        },
                        {
                            "id": "c",
                            "text": STYLES["warm-v3"].format(core=CORES[n % 6].capitalize()),
                            "source": "warm-v3",
                        },
                    ]
                },
            }
            for n in range(60)
        ],
    )
    campaigns["ranking"] = ranking

    demos = services.campaign_create(
        slug="ward-handover-demos",
        name="Ward 7: how should the assistant reply?",
        item_kind="demonstration",
        transience="episodic",
        owners=[researcher],
        description="Situations from the ward; write the reply you would want the assistant "
        "to give.",
        instructions="Read the conversation so far, then write the assistant's next reply. "
        "Edit the draft or start again.",
        targets={nurses: 2, alex: 1},
    )
    demo_rows = []
    for n in range(60):
        situation = WARD_SITUATIONS[n % len(WARD_SITUATIONS)]
        demo_rows.append(
            {
                "external_id": f"ward-{n:03d}",
                "prompt": "Write the assistant's next reply.",
                "context": {
                    "situation": situation,
                    "persona": "A ward assistant that supports nurses on night shifts.",
                    "messages": [
                        {"role": "user", "content": f"Case {n + 1}: {situation}"},
                        {"role": "assistant", "content": "What would you like to say to them?"},
                        {"role": "user", "content": "Help me phrase it kindly but clearly."},
                    ],
                },
                "payload": {"draft": "I understand this is worrying. "},
            }
        )
    services.items_create(campaign=demos, rows=demo_rows)
    campaigns["demos"] = demos

    qa = services.campaign_create(
        slug="everyday-facts-qa",
        name="Everyday facts: answer with a source",
        item_kind="qa",
        owners=[researcher],
        description="Short factual questions; answer and cite where you checked.",
        instructions="Answer in a sentence and give the page you checked, one per line.",
        targets={everyone: 2, public: 3},
    )
    services.items_create(
        campaign=qa,
        rows=[
            {
                "external_id": f"fact-{n:03d}",
                "prompt": question,
                "payload": {"question": question, "reference_answer": answer, "sources": [source]},
            }
            for n, (question, answer, source) in enumerate(QA_QUESTIONS * 10)
        ],
    )
    campaigns["qa"] = qa
    campaigns["rating"] = _rating_campaign(researcher, everyone, public, nurses)
    for campaign in campaigns.values():
        services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    return campaigns


HELPSTEER_RUBRIC = [
    {"name": "helpfulness", "description": "Overall helpfulness of the response to the prompt."},
    {"name": "correctness", "description": "Inclusion of all pertinent facts without errors."},
    {"name": "coherence", "description": "Consistency and clarity of expression."},
    {"name": "complexity", "description": "Intellectual depth required to write the response."},
    {"name": "verbosity", "description": "Amount of detail relative to what the prompt asks."},
]
# How long each style's replies read, on the 0-4 verbosity and complexity lines.
STYLE_LENGTH = {"concise-v2": 1, "thorough-v1": 3, "warm-v3": 2}


def _rating_campaign(researcher, everyone, public, nurses) -> Campaign:
    """One reply per prompt, rated on HelpSteer2's five attributes (0-4)."""
    rated = services.campaign_create(
        slug="reply-ratings",
        name="Rate one reply on five attributes",
        item_kind="rating",
        owners=[researcher],
        rating_min=0,
        rating_max=4,
        rating_rubric=HELPSTEER_RUBRIC,
        description="Single replies to everyday questions, rated as HelpSteer2 rates them.",
        instructions="Read the reply and score it from 0 to 4 on each line.",
        targets={everyone: 3, public: 3, nurses: 2},
    )
    styles = list(STYLES)
    services.items_create(
        campaign=rated,
        rows=[
            {
                "external_id": f"rate-{n:03d}",
                "prompt": ASKS[n % len(ASKS)].format(topic=TOPICS[n % len(TOPICS)]),
                "payload": {
                    "response": {
                        "text": STYLES[styles[n % 3]].format(
                            core=CORES[n % len(CORES)].capitalize()
                        ),
                        "source": styles[n % 3],
                    }
                },
            }
            for n in range(36)
        ],
    )
    return rated


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
    workload = {"pairs": 0.55, "ranking": 0.6, "demos": 0.7, "qa": 0.5, "rating": 0.85}
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
        best, other = order[0], order[1]
        choice = "tie" if strengths[best] < strengths[other] * 1.05 else best
        low, high = campaign.rating_scale
        ratings = {cid: max(low, min(high, round(2 + strengths[cid] * 2))) for cid in strengths}
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
        source = item.payload["response"].get("source", "")
        length = STYLE_LENGTH.get(source, 2)

        def score(centre: float) -> int:
            return max(0, min(4, round(centre + rng.gauss(0, 0.7))))

        return {
            "scores": {
                "helpfulness": score(1 + 1.2 * taste.get(source, 1.0)),
                "correctness": score(3),
                "coherence": score(3.2),
                "complexity": score(length),
                "verbosity": score(length),
            }
        }
    reference = item.payload.get("reference_answer", "")
    answer = reference if rng.random() < 0.8 else "I am not sure, I think " + reference.lower()
    return {"answer": answer, "sources": item.payload.get("sources", [])[:1]}
