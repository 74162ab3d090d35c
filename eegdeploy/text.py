"""Text from files is data: strip terminal control sequences, escape Rich markup and Markdown.

Any string that came from a file (a checkpoint's profile, ONNX metadata, bench JSON, sweep state, a plan's method
name) goes through ``clean`` before it reaches the terminal, and through ``md`` before it reaches a Markdown file::

    console.print(f"profile: {safe(bundle.profile)}")     # Rich: no escape sequence, no [markup]
    lines.append(f"| {md(name)} | ...")                    # Markdown: no table breaks, links or HTML

This module imports only the standard library (the bench path uses it).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["clean", "component", "md", "md_code", "safe"]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[@-Z\\-_])")
_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def clean(value: Any, *, max_len: int = 500) -> str:
    """``str(value)`` with escape sequences removed, control and bidi/format characters dropped (newlines and tabs
    become spaces), and cut to ``max_len`` characters."""
    text = _ANSI.sub("", str(value))
    out = []
    for ch in text:
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def safe(value: Any, *, max_len: int = 500) -> str:
    """``clean`` plus Rich markup escaping: safe inside any string Rich renders as markup."""
    from rich.markup import escape

    return escape(clean(value, max_len=max_len))


def md(value: Any, *, max_len: int = 500) -> str:
    """``clean`` plus Markdown escaping: safe in a table cell or a line of prose (no links, images, HTML, code
    spans or table breaks; one line, so no headings or fences)."""
    text = _MD_SPECIAL.sub(r"\\\1", clean(value, max_len=max_len))
    return "\\" + text if text[:1] in ("#", "!", "-", "+", "=", ">") else text


def md_code(value: Any, *, max_len: int = 200) -> str:
    """``clean`` for text inside a Markdown code span or block: backticks (which would close it) become ``'``."""
    return clean(value, max_len=max_len).replace("`", "'")


_COMPONENT_BAD = re.compile(r"[^A-Za-z0-9._+-]+")


def component(value: Any, *, default: str = "model", max_len: int = 64) -> str:
    """One plain path component made from ``value`` (a name read from a file): letters, digits and ``._+-``
    only, no leading dot, never ``..``; ``default`` when nothing is left."""
    text = _COMPONENT_BAD.sub("-", clean(value, max_len=200)).strip(".-")
    text = text.replace("..", "-")[:max_len].strip(".-")
    return text or default
