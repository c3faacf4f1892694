"""Arrow tables for each release file, built one chunk of items at a time.

No ORM here: the inputs are a chunk's items (read once), its judgements as
small rows, and the per-audience participant arrays. Text that repeats from
row to row (prompts, candidate responses, context messages, pseudonyms,
attribute values) is written as Arrow dictionary arrays whose indices point
into the chunk's item text, so no string is copied per judgement; readers of
the Parquet files still see plain strings.

Column formats follow TRL (https://huggingface.co/docs/trl/dataset_formats):
preference pairs as ``prompt``/``chosen``/``rejected``, unpaired ratings as
``prompt``/``completion``/``label`` (KTO), demonstrations as ``messages`` plus
``prompt``/``completion``. When the campaign's items carry a conversation,
every file of it uses the conversational form: ``prompt`` is a list of
``{role, content}`` messages and ``chosen``/``rejected``/``completion`` are the
single assistant reply as a one-message list.

What each dataset adds is its module in `aggregation.release.datasets`; this package
holds what several share, in two modules: ``columns`` (``Items``, ``items_from_chunk``,
``dictionary_array``, the prompt/reply/candidate columns, ``TableContext``,
``PeopleColumns``, ``common_columns``) and ``judgements`` (``Pairs``,
``preference_pairs``, ``top_votes``, ``vote_counts``, ``source_pair_counts``,
``ranks_long``, ``ratings_long``).
"""

from aggregation.release.tables.columns import (
    ROLE_CODE,
    ROLE_DICTIONARY,
    ROLES,
    Items,
    PeopleColumns,
    TableContext,
    candidate_column,
    common_columns,
    constant_array,
    dictionary_array,
    episode_columns,
    item_columns,
    items_from_chunk,
    message_lists,
    optional_text,
    prompt_column,
    prompt_messages,
    reply_column,
)
from aggregation.release.tables.judgements import (
    PAIR_ORIGINS,
    TIE,
    TIE_VOTE,
    Pairs,
    Ratings,
    count_pairs,
    preference_pairs,
    ranks_long,
    ratings_long,
    source_pair_counts,
    top_votes,
    vote_counts,
)

__all__ = [
    "PAIR_ORIGINS",
    "ROLES",
    "ROLE_CODE",
    "ROLE_DICTIONARY",
    "TIE",
    "TIE_VOTE",
    "Items",
    "Pairs",
    "PeopleColumns",
    "Ratings",
    "TableContext",
    "candidate_column",
    "common_columns",
    "constant_array",
    "count_pairs",
    "dictionary_array",
    "episode_columns",
    "item_columns",
    "items_from_chunk",
    "message_lists",
    "optional_text",
    "preference_pairs",
    "prompt_column",
    "prompt_messages",
    "ranks_long",
    "ratings_long",
    "reply_column",
    "source_pair_counts",
    "top_votes",
    "vote_counts",
]
