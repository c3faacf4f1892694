"""Adaptive overlap's record in a release (issue #15, item 3): one row per item and
audience of an adaptive campaign, with the item's base k, its final k, why it got that,
the statistics the last decision rested on, and the weight that undoes the allocation.

Why a release needs it: which items got more judgements depended on the judgements
already given, so a naive estimate over all judgements is biased. Pooling every
judgement (an overall vote share, Bradley–Terry strengths over all pairs) over-weights
the items that looked divergent; a per-item estimate on an extended item has a
different sampling distribution from one stopped at base k, and selecting items by an
interim statistic biases that statistic (the bias after a sequential or data-dependent
stopping rule: Whitehead, "On the bias of maximum likelihood estimation following a
sequential test", Biometrika 73, 1986; for adaptive designs generally, Bauer, Bretz,
Dragalin, König and Wassmer, "Twenty-five years of confirmatory adaptive designs",
Statistics in Medicine 35, 2016). Two remedies, both possible from these files:
weight each judgement by ``judgement_weight`` (base k over the item's judgements in
this release, so every item counts as it would with a fixed k: inverse-probability
weighting, Horvitz and Thompson, JASA 47, 1952), or use only the first ``base_k``
judgements of each item (the non-adaptive stage).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.selectors import allocation as reads

NOT_DECIDED = "base"  # no decision yet (the item has not reached base k in every audience)


def allocation_table(part: Part) -> pa.Table | None:
    rows = np.unique(part.item_pos)
    if not len(rows):
        return None
    item_ids = [int(i) for i in part.items.ids[rows]]
    snapshot = part.views.snapshot_at if part.views is not None else None
    log = reads.item_allocation(
        audience_slug=part.context.audience, item_ids=item_ids, snapshot_at=snapshot
    )
    if not log.has_setting and not log.rounds:
        return None  # not an adaptive campaign: no file
    judged = Counter(int(i) for i in part.items.ids[part.item_pos])
    base, final, reason, decisions, jsd, entropy, votes, weight = ([] for _ in range(8))
    for item_id in item_ids:
        rounds = log.rounds.get(item_id, [])
        k_base = rounds[0].k_before if rounds else log.base_k
        k_final = rounds[-1].k_after if rounds else log.base_k
        raised = [r.reason for r in rounds if r.k_after > r.k_before]
        base.append(k_base)
        final.append(k_final)
        reason.append(raised[0] if raised else (rounds[-1].reason if rounds else NOT_DECIDED))
        decisions.append(len(rounds))
        jsd.append(rounds[-1].jsd if rounds else None)
        entropy.append(rounds[-1].entropy if rounds else None)
        votes.append(rounds[-1].votes if rounds else None)
        weight.append(k_base / judged[item_id])
    columns = tables.item_columns(part.context, part.items, rows) | {
        "base_k": pa.array(base, pa.int32()),
        "final_k": pa.array(final, pa.int32()),
        "reason": pa.array(reason, pa.string()).dictionary_encode(),
        "decisions": pa.array(decisions, pa.int32()),
        "last_jsd": pa.array(jsd, pa.float64()),
        "last_entropy": pa.array(entropy, pa.float64()),
        "last_votes": pa.array(votes, pa.int32()),
        "judgements": pa.array([judged[i] for i in item_ids], pa.int32()),
        "judgement_weight": pa.array(weight, pa.float64()),
    }
    return pa.table(columns)


def card_notes(campaign, inline) -> list[str]:
    setting = reads.adaptive_setting(campaign=campaign)
    if setting is None and not reads.campaign_has_allocations(campaign=campaign):
        return []
    rule = (
        f"max k {setting.max_k}, {setting.step} more at a time, rule {inline(setting.rule)}, "
        f"divergence above {setting.jsd_threshold:g} bits, split above "
        f"{setting.entropy_threshold:g} (normalised entropy)"
        if setting is not None
        else "since turned off"
    )
    return [
        "- Item allocation (adaptive overlap: "
        + rule
        + "): per item and audience, `base_k`, `final_k`, `reason` (`divergence`: the "
        "audiences' Jensen–Shannon divergence was above the threshold; `entropy`: this "
        "audience's vote was split; `agree`: no more were needed; `max_k`; `base`: not "
        "decided yet), `decisions`, the last decision's `last_jsd`, `last_entropy` and "
        "`last_votes`, `judgements` in this release and `judgement_weight`.",
        "- **Adaptive allocation biases naive estimates.** Items got more judgements "
        "because their first ones looked divergent, so pooling every judgement "
        "over-weights those items, and a statistic computed on the items that were "
        "extended is biased by that selection (as estimates after a data-dependent "
        "stopping rule are: Whitehead, Biometrika 73, 1986; Bauer et al., Statistics in "
        "Medicine 35, 2016). Weight each judgement of an item by its `judgement_weight` "
        "(base k over its judgements here, so each item counts as under a fixed k; "
        "Horvitz and Thompson, JASA 47, 1952), or keep only the first `base_k` "
        "judgements of each item.",
    ]


DATASET = Dataset(
    name="item_allocation",
    contents="adaptive overlap: each item's base and final k, and why",
    columns=(
        "base_k",
        "final_k",
        "reason",
        "decisions",
        "last_jsd",
        "last_entropy",
        "last_votes",
        "judgements",
        "judgement_weight",
    ),
    build=allocation_table,
    card_columns=lambda conversational: "",
    card_notes=card_notes,
)
