"""Preference pairs, one row per pair a judgement implies (TRL's DPO / reward-model
format): a choice gives one pair, a ranking every pair it implies, ratings a pair per two
candidates. Only pairs with a winner: a DPO config must hold strict preferences, and ties
(every pair of a rating campaign can be one) are the `ties` dataset's. While the chunk is
at hand it counts the decided pairs by source (Bradley–Terry) and, for rankings, each
candidate's place (agreement)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets import openai
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def pair_columns(part: Part, keep: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns every pair row starts with (the common columns, ``prompt``) for the
    pairs at ``keep`` (indices into ``part.pairs``), and those pairs' flat candidate
    positions (chosen/first, rejected/second)."""
    pairs = part.pairs
    pair_item = part.item_pos[pairs.row[keep]]
    base = part.items.candidate_offsets[pair_item]
    first, second = base + pairs.chosen[keep], base + pairs.rejected[keep]
    columns = tables.common_columns(
        part.context, part.items, part.people, pair_item, part.person[pairs.row[keep]]
    )
    columns["prompt"] = tables.prompt_column(
        part.items, pair_item, conversational=part.context.conversational
    )
    return columns, np.stack([first, second])


def rating_gap(part: Part, keep: np.ndarray) -> pa.Array:
    """Chosen's rating less rejected's, where the judgement rated both (null elsewhere):
    how strongly the pair is preferred, on the campaign's scale."""
    pairs = part.pairs
    ratings = part.ratings
    if ratings is None:
        return pa.nulls(len(keep), pa.int64())
    width = int(np.diff(part.items.candidate_offsets).max(initial=0))
    table = np.full((part.judgements.num_rows, width), np.nan)
    table[ratings.row, ratings.candidate] = ratings.rating
    rows = pairs.row[keep]
    gap = table[rows, pairs.chosen[keep]] - table[rows, pairs.rejected[keep]]
    known = ~np.isnan(gap)
    return pa.array(np.where(known, gap, 0).astype(np.int64), pa.int64(), mask=~known)


def pairs_table(
    part: Part, keep: np.ndarray, *, names: tuple[str, str, str, str, str, str]
) -> pa.Table:
    """The pairs at ``keep`` as rows: both texts, ids and sources under ``names`` (text,
    text, id, id, source, source: chosen/rejected here, completion_a/_b for ties), then
    how the pair arose, the rating gap, the rationale and the confidence."""
    pairs = part.pairs
    columns, (first, second) = pair_columns(part, keep)
    items, conversational = part.items, part.context.conversational
    text_a, text_b, id_a, id_b, source_a, source_b = names
    columns[text_a] = tables.candidate_column(items, first, conversational=conversational)
    columns[text_b] = tables.candidate_column(items, second, conversational=conversational)
    columns[id_a] = tables.dictionary_array(first, items.candidate_ids)
    columns[id_b] = tables.dictionary_array(second, items.candidate_ids)
    columns[source_a] = tables.dictionary_array(first, items.candidate_sources)
    columns[source_b] = tables.dictionary_array(second, items.candidate_sources)
    columns["pair_from"] = tables.dictionary_array(
        pairs.origin[keep], tables.PAIR_ORIGINS, unique=True
    )
    columns["rating_gap"] = rating_gap(part, keep)
    rows = pairs.row[keep]
    columns["rationale"] = tables.optional_text(part.judgements, "rationale", rows)
    columns["confidence"] = tables.optional_text(part.judgements, "confidence", rows)
    return pa.table(columns)


STRICT_NAMES = (
    "chosen",
    "rejected",
    "chosen_id",
    "rejected_id",
    "chosen_source",
    "rejected_source",
)


def strict_table(part: Part) -> pa.Table:
    """One row per pair with a winner (ties are the `ties` dataset's)."""
    return pairs_table(part, np.flatnonzero(~part.pairs.tie), names=STRICT_NAMES)


def _build(part: Part) -> pa.Table:
    return part.strict_pairs


def _count(part: Part, tally: Tally) -> None:
    tally.add_source_pairs(
        part.audience, tables.source_pair_counts(part.items, part.item_pos, part.pairs)
    )
    if part.preference_format == "ranking":
        ranks = tables.ranks_long(part.judgements, part.items, part.item_pos)
        n_items = len(part.items)
        tally.add_ranks(
            part.audience,
            part.start,
            n_items,
            part.item_pos[ranks.row],
            ranks.candidate,
            ranks.rating,
        )


def _card_columns(conversational: bool) -> str:
    return (
        "- Preferences (and the split views built from them): `prompt`, `chosen`, "
        "`rejected` as TRL expects"
        + (
            " in conversational form: `prompt` is a list of `{role, content}` messages "
            "(persona and situation as a system message, then the conversation, then the "
            "prompt as the user's turn unless the conversation already ends with one) and "
            "`chosen`/`rejected` the assistant's reply as a one-message list (all its turns, "
            "assistant and user, when a candidate goes on past its first reply)"
            if conversational
            else " in standard form (plain text)"
        )
        + ". Only pairs with a winner: ties are in the `-ties` configs. Rankings are "
        "expanded to every pair they imply and ratings to a pair per two candidates "
        "(`pair_from`). How strongly: `confidence` (the annotator's, where asked) and "
        "`rating_gap` (chosen's rating less rejected's, where both were rated). "
        "`chosen_source`/`rejected_source` name the model behind each candidate; "
        "`joined_via` says how the participant came in (open sign-up, invitation, "
        "screening, panel)."
    )


DATASET = Dataset(
    name="preferences",
    contents="strict preference pairs, no ties (TRL DPO / reward-model format)",
    columns=(
        "prompt",
        "chosen",
        "rejected",
        "chosen_id",
        "rejected_id",
        "chosen_source",
        "rejected_source",
        "pair_from",
        "rating_gap",
        "rationale",
        "confidence",
    ),
    build=_build,
    card_columns=_card_columns,
    count=_count,
    openai=openai.preference_record,
)
