"""Researcher-written Markdown (campaign instructions) as the HTML participants read.

One renderer for the workbench's preview and the annotate and chat pages, so the
preview shows exactly what participants get.
"""

from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# "js-default" without HTML: raw HTML in the text is escaped, links are checked by
# markdown-it's validateLink (no javascript: or data: URLs).
_markdown = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> SafeString:
    return mark_safe(_markdown.render(text or ""))  # markdown-it escaped every text
