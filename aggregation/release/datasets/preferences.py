"""Preference pairs, one row per pair a judgement implies (TRL's DPO / reward-model
format): a choice gives one pair, a ranking every pair it implies, ratings a pair per two
candidates; ties are kept and marked. While the chunk is at hand it counts the decided
pairs by source (Bradley–Terry) and, for rankings, each candidate's place (agreement)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets import openai
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def preference_table(
    context: tables.TableContext,
    judgements: pa.Table,
    items: tables.Items,
    people: tables.PeopleColumns,
    pairs: tables.Pairs,
    item_pos: np.ndarray,
) -> pa.Table:
    person = people.positions(judgements.column("participant_id").to_numpy())
    pair_item = item_pos[pairs.row]
    base = items.candidate_offsets[pair_item]
    chosen, rejected = base + pairs.chosen, base + pairs.rejected
    columns = tables.common_columns(context, items, people, pair_item, person[pairs.row])
    columns["prompt"] = tables.prompt_column(
        items, pair_item, conversational=context.conversational
    )
    columns["chosen"] = tables.candidate_column(
        items, chosen, conversational=context.conversational
    )
    columns["rejected"] = tables.candidate_column(
        items, rejected, conversational=context.conversational
    )
    columns["tie"] = pa.array(pairs.tie, pa.bool_())
    columns["chosen_id"] = tables.dictionary_array(chosen, items.candidate_ids)
    columns["rejected_id"] = tables.dictionary_array(rejected, items.candidate_ids)
    columns["chosen_source"] = tables.dictionary_array(chosen, items.candidate_sources)
    columns["rejected_source"] = tables.dictionary_array(rejected, items.candidate_sources)
    columns["pair_from"] = tables.dictionary_array(pairs.origin, tables.PAIR_ORIGINS, unique=True)
    columns["rationale"] = tables.optional_text(judgements, "rationale", pairs.row)
    columns["confidence"] = tables.optional_text(judgements, "confidence", pairs.row)
    return pa.table(columns)


def _build(part: Part) -> pa.Table:
    return preference_table(
        part.context, part.judgements, part.items, part.people, part.pairs, part.item_pos
    )


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
        "- Preferences: `prompt`, `chosen`, `rejected` as TRL expects"
        + (
            " in conversational form: `prompt` is a list of `{role, content}` messages "
            "(persona and situation as a system message, then the conversation, then the "
            "prompt as the user's turn unless the conversation already ends with one) and "
            "`chosen`/`rejected` the assistant's reply as a one-message list (all its turns, "
            "assistant and user, when a candidate goes on past its first reply)"
            if conversational
            else " in standard form (plain text)"
        )
        + ". Rankings are expanded to every pair they imply and ratings to a pair per two "
        "candidates (`pair_from`). Ties are kept, one row per tied pair, with `tie` true and "
        "`chosen`/`rejected` in the order the candidates were listed: filter them out for "
        "DPO. `chosen_source`/`rejected_source` name the model behind each candidate."
    )


DATASET = Dataset(
    name="preferences",
    item_kind="preference",
    contents="preference pairs (TRL DPO / reward-model format)",
    columns=(
        "prompt",
        "chosen",
        "rejected",
        "tie",
        "chosen_id",
        "rejected_id",
        "chosen_source",
        "rejected_source",
        "pair_from",
        "rationale",
        "confidence",
    ),
    build=_build,
    card_columns=_card_columns,
    count=_count,
    openai=openai.preference_record,
)
