"""The demo's six campaigns and their items (preferences as choices, rankings and
per-reply ratings; demonstrations; QA; single-response ratings on a rubric)."""

from __future__ import annotations

import random

from collection import services
from collection.demo.content import ASKS, CORES, QA_QUESTIONS, STYLES, TOPICS, WARD_SITUATIONS
from collection.demo.rating import rating_campaign
from collection.models import Campaign


def _candidate(letter: str, style: str, core: str) -> dict:
    """One reply written in one of the demo's styles, with the style as its source."""
    return {"id": letter, "text": STYLES[style].format(core=core), "source": style}


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
        instructions="Pick the answer you would rather receive, and say how sure you are. "
        "With a keyboard: 1 or 2 (0 for a tie), then 1 to 5 for how sure.",
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
                        _candidate("a", first, core.capitalize()),
                        _candidate("b", second, core.capitalize()),
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
                        _candidate("a", "concise-v2", CORES[n % 6].capitalize()),
                        _candidate("b", "thorough-v1", CORES[n % 6]),
                        _candidate("c", "warm-v3", CORES[n % 6].capitalize()),
                    ]
                },
            }
            for n in range(60)
        ],
    )
    campaigns["ranking"] = ranking

    ratings = services.campaign_create(
        slug="reply-pair-ratings",
        name="Two replies: rate each from 1 to 5",
        item_kind="preference",
        owners=[researcher],
        preference_format="rating",
        rating_min=1,
        rating_max=5,
        description="Two replies to the same question, each rated on its own.",
        instructions="Rate every reply from 1 (poor) to 5 (excellent); equal ratings are fine.",
        targets={everyone: 2, public: 2},
    )
    services.items_create(
        campaign=ratings,
        rows=[
            {
                "external_id": f"rate-{n:03d}",
                "prompt": ASKS[(n * 3) % len(ASKS)].format(topic=TOPICS[(n * 5) % len(TOPICS)]),
                "payload": {
                    "candidates": [
                        _candidate("a", style_a, CORES[n % 6].capitalize()),
                        _candidate("b", style_b, CORES[(n + 1) % 6].capitalize()),
                    ]
                },
            }
            for n in range(40)
            for style_a, style_b in [rng.sample(list(STYLES), 2)]
        ],
    )
    campaigns["ratings"] = ratings

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
    campaigns["rating"] = rating_campaign(researcher, everyone, public, nurses)
    for campaign in campaigns.values():
        services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    return campaigns
