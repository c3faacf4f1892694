"""Columns packed by PostgreSQL into one bytea each, and their decoding into numpy and
Arrow without a Python object per value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# The bulk reads below send each column of a chunk as one bytea: int64s back to back
# (int8send), or texts separated by a NUL byte, which PostgreSQL text cannot hold, each
# text as 0x01 + its UTF-8 bytes and NULL as nothing. A chunk crosses the wire as a few
# byte strings that numpy and Arrow read without a Python object per value, which is
# what makes reading a million judgements cheap.


def _packed_ints(expression: str, order: str = "") -> str:
    return f"string_agg(int8send({expression}), ''::bytea{order})"


def _packed_texts(expression: str, order: str = "") -> str:
    return (
        f"string_agg(COALESCE('\\x01'::bytea || convert_to({expression}, 'UTF8'), ''::bytea), "
        f"'\\x00'::bytea{order})"
    )


def _int64s(data: bytes | None, n: int) -> np.ndarray:
    if data is None:
        return np.zeros(0, dtype=np.int64)
    values = np.frombuffer(data, dtype=">i8").astype(np.int64)
    if len(values) != n:
        raise ValueError(f"read {len(values)} numbers for {n} rows")
    return values


def _texts(data: bytes | None, n: int) -> pa.Array:
    """Texts packed by `_packed_texts`, as an Arrow string array built straight from the
    bytes: the separators and marker bytes are dropped with one numpy mask, and the
    offsets and validity come from where the separators are."""
    if data is None:
        return pa.nulls(n, pa.string())
    raw = np.frombuffer(data, dtype=np.uint8)
    separators = np.flatnonzero(raw == 0)  # UTF-8 text never holds a zero byte
    if len(separators) != n - 1:
        raise ValueError(f"read {len(separators) + 1} texts for {n} rows")
    starts = np.empty(n, dtype=np.int64)
    starts[0], starts[1:] = 0, separators + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1], ends[-1] = separators, len(raw)
    present = ends > starts  # a text has its marker byte; NULL is empty
    keep = np.ones(len(raw), dtype=bool)
    keep[separators] = False
    keep[starts[present]] = False
    values = raw[keep]
    if len(values) >= 2**31:
        raise ValueError("a chunk's texts exceed 2 GB; lower batch_rows")
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.where(present, ends - starts - 1, 0), out=offsets[1:])
    nulls = n - int(np.count_nonzero(present))
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
    texts = pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(values), validity, nulls
    )
    texts.validate(full=True)  # checks the UTF-8 too
    return texts
