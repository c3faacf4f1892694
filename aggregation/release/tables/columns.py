"""A chunk's item text flattened into Arrow arrays (`Items`), and the columns built from
it: dictionary-encoded text, prompts, replies and candidates (plain or conversational),
and the columns every file starts with (`TableContext`, `PeopleColumns`,
`common_columns`)."""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROLES = ("system", "user", "assistant")
ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
ROLE_DICTIONARY = pa.array(ROLES)


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
