"""Writing a user's text into the dataset card as inert text (see `card`), and the
card's number words. Split from `card`, which composes the sections."""

from __future__ import annotations

import json
import re

# Backslash-escaped wherever they stand: emphasis, links and images, tables, code,
# strikethrough. HTML's three are written as entities instead (see `_inline`).
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]!|~])")
# Only at the start of a line: headings, lists, setext underlines, blockquotes.
LINE_START = re.compile(r"^([#+=-])")
NUMBERED = re.compile(r"^(\d+)([.)])")
HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# In the YAML header too, so that a renderer that does not know front matter and shows
# it as text finds no tag there; YAML reads the escapes back to the same characters.
HEADER_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _q(value) -> str:
    """A YAML header string: JSON, ASCII only (YAML rejects some printable-looking
    characters, such as C1 controls, raw in its stream), with no HTML character."""
    text = json.dumps(value, ensure_ascii=True)
    return re.sub("[<>&]", lambda match: HEADER_ESCAPES[match.group()], text)


def _escape_line(line: str) -> str:
    line = MARKDOWN_PUNCTUATION.sub(r"\\\1", line.strip())
    line = re.sub("[&<>]", lambda match: HTML[match.group()], line)
    return NUMBERED.sub(r"\1\\\2", LINE_START.sub(r"\\\1", line))


def _inline(value) -> str:
    """User text inside a line of the card: one line, read as plain text."""
    return _escape_line(" ".join(str(value).split()))


def _block(value) -> list[str]:
    """User text of several lines (a description) as plain-text lines; blank lines
    keep it in paragraphs, and no line can open a code block or a heading."""
    return [_escape_line(line) for line in str(value).splitlines()]


def _code(value, *, cell: bool = False) -> str:
    """A code span (inert in every renderer) that no backtick in ``value`` can close;
    in a table ``cell``, where GFM splits at a pipe even inside code, pipes escaped."""
    text = " ".join(str(value).split())
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"{fence}{text}{fence}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return label
    return "100K<n<1M" if rows < 1_000_000 else "1M<n<10M"
