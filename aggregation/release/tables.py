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

What each dataset adds is its module in `aggregation.release.datasets`; this one holds
what several share (the chunk's items, the common columns, preference pairs, votes,
ratings and places), which is why it runs a little past 500 lines.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aggregation.metrics import ranking_to_pairs

ROLES = ("system", "user", "assistant")
ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
ROLE_DICTIONARY = pa.array(ROLES)
TIE = "tie"
TIE_VOTE = -1
PAIR_ORIGINS = pa.array(["choice", "ranking", "rating"])


def dictionary_array(
    indices: np.ndarray, dictionary: pa.Array, mask: np.ndarray | None = None, *, unique=False
):
    """Rows as indices into ``dictionary``; a null dictionary entry gives a null row.

    The dictionary is made unique first, unless the caller says it is (it holds
    a chunk's item text, so this costs per item, not per row, and is done once
    per dictionary): Parquet writes a well-formed dictionary as it is, and the
    bytes then depend only on the rows.
    """
    indices = np.asarray(indices, dtype=np.int32)
    if unique and not dictionary.null_count:
        null_at, remap, values = None, None, dictionary
    else:
        null_at, remap, values = _unique(dictionary)
    if null_at is not None:
        null_at = null_at[indices]
        mask = null_at if mask is None else (mask | null_at)
    if remap is not None and len(indices):
        indices = remap[indices]
    if mask is not None and not mask.any():
        mask = None
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32(), mask=mask), values)


# id(dictionary) -> (dictionary, its null entries, index into the unique values, the values),
# for the item text of the chunk at hand (a chunk has about ten such arrays; older ones
# go first). Holding the dictionary keeps its id from being reused while the entry lives.
_UNIQUE: dict[int, tuple] = {}
_UNIQUE_SIZE = 16


def _unique(dictionary: pa.Array) -> tuple[np.ndarray | None, np.ndarray, pa.Array]:
    found = _UNIQUE.get(id(dictionary))
    if found is not None and found[0] is dictionary:
        return found[1:]
    null_at, values = None, dictionary
    if dictionary.null_count:
        null_at = dictionary.is_null().to_numpy(zero_copy_only=False)
        values = pc.fill_null(dictionary, "")
    encoded = values.dictionary_encode()
    result = (null_at, encoded.indices.to_numpy(), encoded.dictionary)
    if len(dictionary) < 256:  # cheap to redo; keep the room for a chunk's item text
        return result
    if len(_UNIQUE) >= _UNIQUE_SIZE:
        _UNIQUE.pop(next(iter(_UNIQUE)))
    _UNIQUE[id(dictionary)] = (dictionary, *result)
    return result


def constant_array(value: str | None, n: int) -> pa.Array:
    if not value:
        return dictionary_array(np.zeros(n), pa.array([value], pa.string()), mask=np.ones(n, bool))
    return dictionary_array(np.zeros(n), pa.array([value], pa.string()), unique=True)


def prompt_messages(prompt: str, context: dict | None) -> list[dict]:
    """The conversation a prompt stands for.

    Persona and situation become a system message (merged into the context's
    own system message, if it starts with one); the context's messages follow;
    the item's prompt is the final user turn unless the conversation already
    ends with one (then the prompt was an instruction to annotators).
    """
    context = context or {}
    messages = [dict(message) for message in context.get("messages", [])]
    system = "\n\n".join(
        part for part in (context.get("persona"), context.get("situation")) if part
    )
    if system:
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{system}\n\n{messages[0]['content']}"
        else:
            messages.insert(0, {"role": "system", "content": system})
    if not messages or messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": prompt})
    return messages


@dataclasses.dataclass
class Items:
    """A chunk's item text as flat Arrow arrays, addressed by item position."""

    ids: np.ndarray
    external_id: pa.Array
    prompt: pa.Array
    situation: pa.Array
    persona: pa.Array
    # Context messages, flattened: item i owns message_offsets[i]:message_offsets[i + 1].
    message_offsets: np.ndarray
    message_roles: np.ndarray
    message_contents: pa.Array
    # Candidates, flattened the same way.
    candidate_offsets: np.ndarray
    candidate_ids: pa.Array
    candidate_texts: pa.Array
    candidate_sources: pa.Array
    candidate_messages: pa.Array  # JSON of a multi-turn candidate's messages, else null
    draft: pa.Array
    question: pa.Array
    reference_answer: pa.Array
    reference_sources: pa.Array

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, item_ids)

    @functools.cached_property
    def candidate_lists(self) -> list[list[str]]:
        ids = self.candidate_ids.to_pylist()
        offsets = self.candidate_offsets.tolist()
        return [ids[offsets[i] : offsets[i + 1]] for i in range(len(self.ids))]

    @functools.cached_property
    def candidate_conversations(self) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """Each candidate as messages, flattened (offsets, role codes, contents): its
        own messages when it goes on past its first reply, else that one reply."""
        offsets, roles, contents = [0], [], []
        texts = self.candidate_texts.to_pylist()
        for text, raw in zip(texts, self.candidate_messages.to_pylist(), strict=True):
            messages = [{"role": "assistant", "content": text}] if raw is None else json.loads(raw)
            for message in messages:
                roles.append(ROLE_CODE[message["role"]])
                contents.append(message["content"])
            offsets.append(len(roles))
        return (
            np.asarray(offsets, dtype=np.int64),
            np.asarray(roles, dtype=np.int32),
            pa.array(contents, pa.string()),
        )

    @functools.cached_property
    def source_codes(self) -> tuple[np.ndarray, list]:
        """Each candidate's source as a code, and the sources (None for no source)."""
        encoded = self.candidate_sources.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        names = encoded.dictionary.to_pylist()
        if encoded.indices.null_count:
            codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
        return np.where(codes < 0, len(names), codes).astype(np.int64), [*names, None]


def items_from_chunk(chunk) -> Items:
    """Flatten an ``aggregation.selectors.ItemChunk`` (read once) into arrays."""
    n = len(chunk.ids)
    if any(context for context in chunk.contexts):
        offsets, roles, contents = [0], [], []
        for prompt, context in zip(chunk.prompt.to_pylist(), chunk.contexts, strict=True):
            for message in prompt_messages(prompt, context):
                roles.append(ROLE_CODE[message["role"]])
                contents.append(message["content"])
            offsets.append(len(roles))
        message_offsets = np.asarray(offsets, dtype=np.int64)
        message_roles = np.asarray(roles, dtype=np.int32)
        message_contents = pa.array(contents, pa.string())
    else:  # no context: the prompt is the one user message
        message_offsets = np.arange(n + 1, dtype=np.int64)
        message_roles = np.full(n, ROLE_CODE["user"], dtype=np.int32)
        message_contents = chunk.prompt
    contexts = [context or {} for context in chunk.contexts]
    candidate_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(chunk.candidate_counts, out=candidate_offsets[1:])
    return Items(
        ids=np.asarray(chunk.ids, dtype=np.int64),
        external_id=chunk.external_id,
        prompt=chunk.prompt,
        situation=pa.array([c.get("situation") for c in contexts], pa.string()),
        persona=pa.array([c.get("persona") for c in contexts], pa.string()),
        message_offsets=message_offsets,
        message_roles=message_roles,
        message_contents=message_contents,
        candidate_offsets=candidate_offsets,
        candidate_ids=chunk.candidate_id,
        candidate_texts=chunk.candidate_text,
        candidate_sources=chunk.candidate_source,
        candidate_messages=chunk.candidate_messages,
        draft=chunk.draft,
        question=chunk.question,
        reference_answer=chunk.reference_answer,
        reference_sources=pa.array(chunk.reference_sources, pa.list_(pa.string())),
    )


def message_lists(
    items: Items, item_pos: np.ndarray, reply: pa.Array | None = None, reply_index=None
) -> pa.ListArray:
    """One conversation per row: its item's prompt messages, then optionally a reply.

    ``reply`` holds assistant texts and ``reply_index`` which one each row
    gets (or None: row i gets reply[i]). Contents stay dictionary-encoded.
    """
    n = len(item_pos)
    starts = items.message_offsets[item_pos]
    lengths = items.message_offsets[item_pos + 1] - starts
    extra = 0 if reply is None else 1
    row_lengths = lengths + extra
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=offsets[1:])
    total = int(offsets[-1])
    # Position of each output message inside its row, then where it comes from.
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], row_lengths)
    row = np.repeat(np.arange(n), row_lengths)
    from_item = within < lengths[row]
    n_item_contents = len(items.message_contents)
    content_index = np.where(from_item, starts[row] + within, 0)
    role_codes = np.full(total, ROLE_CODE["assistant"], dtype=np.int32)
    role_codes[from_item] = items.message_roles[content_index[from_item]]
    dictionary = items.message_contents
    if reply is not None:
        chosen = np.arange(n) if reply_index is None else np.asarray(reply_index)
        content_index[~from_item] = n_item_contents + chosen
        dictionary = pa.concat_arrays([items.message_contents, reply.cast(pa.string())])
    values = pa.StructArray.from_arrays(
        [
            dictionary_array(role_codes, ROLE_DICTIONARY, unique=True),
            dictionary_array(content_index, dictionary),
        ],
        ["role", "content"],
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def reply_column(texts: pa.Array, indices: np.ndarray, *, conversational: bool):
    """A completion: the text, or a one-message assistant list."""
    if not conversational:
        return dictionary_array(indices, texts)
    n = len(indices)
    values = pa.StructArray.from_arrays(
        [
            dictionary_array(np.full(n, ROLE_CODE["assistant"]), ROLE_DICTIONARY, unique=True),
            dictionary_array(indices, texts),
        ],
        ["role", "content"],
    )
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1), pa.int32()), values)


def candidate_column(items: Items, indices: np.ndarray, *, conversational: bool):
    """Candidates as completions: the text, or in conversational form the assistant's
    reply as a one-message list, or all of a multi-turn candidate's messages (TRL takes
    a completion of several turns; the prompt is what the two candidates share)."""
    messages = items.candidate_messages
    if not conversational or messages.null_count == len(messages):
        return reply_column(items.candidate_texts, indices, conversational=conversational)
    offsets, roles, contents = items.candidate_conversations
    indices = np.asarray(indices, dtype=np.int64)
    starts = offsets[indices]
    lengths = offsets[indices + 1] - starts
    row_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(lengths, out=row_offsets[1:])
    within = np.arange(int(row_offsets[-1]), dtype=np.int64) - np.repeat(row_offsets[:-1], lengths)
    source = np.repeat(starts, lengths) + within
    values = pa.StructArray.from_arrays(
        [
            dictionary_array(roles[source], ROLE_DICTIONARY, unique=True),
            dictionary_array(source, contents),
        ],
        ["role", "content"],
    )
    return pa.ListArray.from_arrays(pa.array(row_offsets, pa.int32()), values)


def prompt_column(items: Items, item_pos: np.ndarray, *, conversational: bool):
    if conversational:
        return message_lists(items, item_pos)
    return dictionary_array(item_pos, items.prompt)


@dataclasses.dataclass
class PeopleColumns:
    """One audience's participants as their rows show them (pseudonyms, weights, attribute
    codes as published), sorted by participant id; `tally.PublishedPeople` is the same
    people as the metrics count them."""

    ids: np.ndarray
    pseudonyms: pa.Array
    weights: np.ndarray
    # attribute name -> (codes per participant, allowed values); code -1 = suppressed.
    attributes: dict[str, tuple[np.ndarray, pa.Array]]
    # How each came in (`collection.models.JoinedVia`), and whether the release holds them
    # out (the test side of its split by participant, `aggregation.release.splits`).
    joined_via: pa.Array | None = None
    held_out: np.ndarray | None = None

    def positions(self, participant_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, participant_ids)


@dataclasses.dataclass(frozen=True)
class TableContext:
    """What every row of one audience's files says about its data: the audience, the
    campaign's scope of alignment, and the form its text takes."""

    audience: str
    competence: str
    transience: str
    conversational: bool
    episodic: bool


def item_columns(context: TableContext, items: Items, item_pos: np.ndarray) -> dict[str, pa.Array]:
    """The columns every file starts with: which item, and whose data (audience, kind)."""
    n = len(item_pos)
    return {
        "item_id": pa.array(items.ids[item_pos], pa.int64()),
        "external_id": dictionary_array(item_pos, items.external_id),
        "audience": constant_array(context.audience, n),
        "competence": constant_array(context.competence, n),
        "transience": constant_array(context.transience, n),
    }


def episode_columns(
    context: TableContext, items: Items, item_pos: np.ndarray
) -> dict[str, pa.Array]:
    """The situation and persona of episodic campaigns' items (none otherwise)."""
    if not context.episodic:
        return {}
    return {
        "situation": dictionary_array(item_pos, items.situation),
        "persona": dictionary_array(item_pos, items.persona),
    }


def common_columns(
    context: TableContext,
    items: Items,
    people: PeopleColumns,
    item_pos: np.ndarray,
    person: np.ndarray,
) -> dict[str, pa.Array]:
    unique, inverse = np.unique(person, return_inverse=True)
    columns = item_columns(context, items, item_pos)
    columns["participant_id"] = dictionary_array(
        inverse, people.pseudonyms.take(pa.array(unique)), unique=True
    )
    columns["weight"] = pa.array(people.weights[person], pa.float64())
    if people.joined_via is not None:
        columns["joined_via"] = dictionary_array(person, people.joined_via)
    for name, (codes, allowed) in people.attributes.items():
        row_codes = codes[person]
        columns[f"attr_{name}"] = dictionary_array(
            np.maximum(row_codes, 0), allowed, mask=row_codes < 0
        )
    return columns | episode_columns(context, items, item_pos)


def optional_text(judgements: pa.Table, name: str, rows: np.ndarray) -> pa.Array:
    return judgements.column(name).take(pa.array(rows)).combine_chunks()


@dataclasses.dataclass
class Ratings:
    row: np.ndarray
    candidate: np.ndarray
    rating: np.ndarray


# Preferences ----------------------------------------------------------------------------


@dataclasses.dataclass
class Pairs:
    """Judgements expanded to pairs; positions are candidate positions within the item."""

    row: np.ndarray  # judgement row
    chosen: np.ndarray
    rejected: np.ndarray
    tie: np.ndarray
    origin: np.ndarray  # index into PAIR_ORIGINS


def _position_lookup(items: Items, item_pos: int) -> dict[str, int]:
    return {cid: i for i, cid in enumerate(items.candidate_lists[item_pos])}


def preference_pairs(judgements: pa.Table, items: Items, item_pos: np.ndarray, fmt: str) -> Pairs:
    """Choices give one pair (a tie keeps the listed order, chosen = first candidate);
    rankings expand to every pair they imply; ratings give a pair per two candidates,
    the higher rated chosen, equal ratings a tie in listed order."""
    n = judgements.num_rows
    if fmt == "choice":
        choice = judgements.column("choice")
        first = pc.take(items.candidate_ids, pa.array(items.candidate_offsets[item_pos]))
        is_first = pc.fill_null(pc.equal(choice, first), False).to_numpy(zero_copy_only=False)
        tie = pc.fill_null(pc.equal(choice, TIE), False).to_numpy(zero_copy_only=False)
        chosen = np.where(is_first | tie, 0, 1)
        return Pairs(np.arange(n), chosen, 1 - chosen, tie, np.zeros(n, dtype=np.int32))
    rows, chosen, rejected, tie = [], [], [], []
    if fmt == "ranking":
        for j, raw in enumerate(judgements.column("ranking").to_pylist()):
            if raw is None:
                continue
            lookup = _position_lookup(items, item_pos[j])
            ranking = [lookup[cid] for cid in json.loads(raw)]
            for pair in ranking_to_pairs(ranking):
                rows.append(j)
                chosen.append(pair.winner)
                rejected.append(pair.loser)
                tie.append(pair.tie)
        origin = 1
    else:
        for j, raw in enumerate(judgements.column("ratings").to_pylist()):
            if raw is None:
                continue
            ratings = json.loads(raw)
            ids = items.candidate_lists[item_pos[j]]
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    ra, rb = ratings[ids[a]], ratings[ids[b]]
                    rows.append(j)
                    chosen.append(a if ra >= rb else b)
                    rejected.append(b if ra >= rb else a)
                    tie.append(ra == rb)
        origin = 2
    return Pairs(
        np.asarray(rows, dtype=np.int64),
        np.asarray(chosen, dtype=np.int64),
        np.asarray(rejected, dtype=np.int64),
        np.asarray(tie, dtype=bool),
        np.full(len(rows), origin, dtype=np.int32),
    )


def top_votes(
    judgements: pa.Table, items: Items, item_pos: np.ndarray, fmt: str, pairs: Pairs | None = None
) -> np.ndarray:
    """Each judgement's vote: the candidate position put first, or TIE_VOTE.

    As `collection.payloads.top_choice`: the choice, else the ranking's first,
    else the single highest rating (several highest: a tie). For choices, pass
    the judgements' `preference_pairs` if they are at hand.
    """
    n = judgements.num_rows
    if fmt == "choice":
        pairs = pairs or preference_pairs(judgements, items, item_pos, fmt)
        return np.where(pairs.tie, TIE_VOTE, pairs.chosen).astype(np.int64)
    votes = np.full(n, TIE_VOTE, dtype=np.int64)
    column = "ranking" if fmt == "ranking" else "ratings"
    for j, raw in enumerate(judgements.column(column).to_pylist()):
        if raw is None:
            continue
        lookup = _position_lookup(items, item_pos[j])
        value = json.loads(raw)
        if fmt == "ranking":
            votes[j] = lookup[value[0]]
        else:
            best = max(value.values())
            leaders = [cid for cid, rating in value.items() if rating == best]
            if len(leaders) == 1:
                votes[j] = lookup[leaders[0]]
    return votes


def source_pair_counts(items: Items, item_pos: np.ndarray, pairs: Pairs) -> dict:
    """Decided pairs counted by (winner source, loser source), for Bradley–Terry."""
    decided = ~pairs.tie
    base = items.candidate_offsets[item_pos[pairs.row[decided]]]
    winners, losers = base + pairs.chosen[decided], base + pairs.rejected[decided]
    if not len(winners):
        return {}
    codes, names = items.source_codes
    counts = count_pairs(codes[winners], codes[losers], len(names), len(names))
    winner, loser = np.nonzero(counts)
    return {
        (names[w], names[v]): int(counts[w, v])
        for w, v in zip(winner.tolist(), loser.tolist(), strict=True)
    }


def ranks_long(judgements: pa.Table, items: Items, item_pos: np.ndarray) -> Ratings:
    """Each ranked candidate's place (0 = best), for agreement on rankings."""
    rows, candidates, places = [], [], []
    for j, raw in enumerate(judgements.column("ranking").to_pylist()):
        if raw is None:
            continue
        lookup = _position_lookup(items, item_pos[j])
        for place, cid in enumerate(json.loads(raw)):
            rows.append(j)
            candidates.append(lookup[cid])
            places.append(place)
    return Ratings(
        np.asarray(rows, dtype=np.int64),
        np.asarray(candidates, dtype=np.int64),
        np.asarray(places, dtype=np.int64),
    )


def count_pairs(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int):
    """How often each (row, column) occurs, as an n_rows × n_columns array."""
    flat = np.bincount(rows * n_columns + columns, minlength=n_rows * n_columns)
    return flat.reshape(n_rows, n_columns)


def vote_counts(items: Items, item_pos: np.ndarray, votes: np.ndarray):
    """Votes (see `top_votes`) counted per chunk item: outright votes per candidate
    position (items × the chunk's widest candidate list), and tie votes per item."""
    width = int(np.diff(items.candidate_offsets).max(initial=0))
    tie = votes == TIE_VOTE
    counts = count_pairs(item_pos[~tie], votes[~tie], len(items), width)
    return counts, np.bincount(item_pos[tie], minlength=len(items))


def ratings_long(judgements: pa.Table, items: Items, item_pos: np.ndarray) -> Ratings:
    rows, candidates, values = [], [], []
    for j, raw in enumerate(judgements.column("ratings").to_pylist()):
        if raw is None:
            continue
        ratings = json.loads(raw)
        for position, cid in enumerate(items.candidate_lists[item_pos[j]]):
            rows.append(j)
            candidates.append(position)
            values.append(ratings[cid])
    return Ratings(
        np.asarray(rows, dtype=np.int64),
        np.asarray(candidates, dtype=np.int64),
        np.asarray(values, dtype=np.int64),
    )
