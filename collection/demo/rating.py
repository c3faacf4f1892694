"""The demo's single-response rating campaign: one reply per prompt, rated on
HelpSteer2's five attributes from 0 to 4 (Wang et al., 2024, arXiv:2406.08673), and
how its simulated raters score."""

from __future__ import annotations

import random

from collection import services
from collection.demo.content import ASKS, CORES, STYLES, TOPICS
from collection.kinds.rating import HELPSTEER2_RUBRIC
from collection.models import Audience, Campaign

HELPSTEER_RUBRIC = HELPSTEER2_RUBRIC
# How long each style's replies read, on the 0-4 verbosity and complexity lines.
STYLE_LENGTH = {"concise-v2": 1, "thorough-v1": 3, "warm-v3": 2}


def rating_campaign(researcher, everyone: Audience, public: Audience, nurses: Audience) -> Campaign:
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


def simulated_scores(item, taste: dict[str, float], rng: random.Random) -> dict:
    """Helpfulness follows the audience's taste for the reply's style; complexity and
    verbosity its length; every score with some noise, kept on the 0-4 scale."""
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
