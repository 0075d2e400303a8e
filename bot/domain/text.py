"""Text people type in Slack: undoing Slack's formatting, quoting it back, and counting it as Slack does; and
the nouns of kukey's own sentences that count things."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
                         "\u00ab": '"', "\u00bb": '"'})
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
_LINK = re.compile(r"<((?:https?://|mailto:)[^<>|\s]*)(?:\|([^<>]*))?>", re.IGNORECASE)
SHOWN_MAX: Final = 40


def slack_length(text: str) -> int:
    """The length Slack's clients see: UTF-16 code units, so a character outside Unicode's basic plane (most
    emoji) counts as two. An input's `max_length` is enforced this way while people type; counting the same
    way means that whatever kukey accepts also fits any Slack field of that length, however Slack's servers
    count."""
    return len(text.encode("utf-16-le")) // 2


def astral(text: str) -> bool:
    """True when `text` holds a character outside the basic plane (one that slack_length counts twice)."""
    return slack_length(text) != len(text)


def _unwrap_link(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label:
        return label
    return re.sub(r"^(?:https?://|mailto:)", "", target, flags=re.IGNORECASE).rstrip("/")


def clean(text: str) -> str:
    """Undo Slack's formatting: auto-links, HTML escapes, smart quotes, odd spaces and control characters."""
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category == "Cc":
            out.append(" ")
        elif category not in {"Cf", "Cs", "Co", "Cn"}:
            out.append(ch)
    text = "".join(out).translate(_QUOTES)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _LINK.sub(_unwrap_link, text)
    return " ".join(text.split())


def show(token: str, limit: int = SHOWN_MAX) -> str:
    """User input as quoted back in a message: shortened, without backticks."""
    token = token.replace("`", "'").replace("<", "\u2039").replace(">", "\u203a")
    return "`" + (token if len(token) <= limit else token[: limit - 1] + "\u2026") + "`"


def fold(token: str) -> str:
    """A word as compared with keywords: dashes made plain, lower case."""
    return token.translate(_DASHES).lower()


def noun(count: int, one: str, many: str | None = None) -> str:
    """The noun for `count` things: `one` for exactly 1, else `many` (by default `one` + "s"): "1 key", "0 keys".
    Our own two lines rather than a library (inflect guesses plurals of any English word): kukey counts a few
    nouns of its own, and the irregular ones are spelled out by the caller."""
    return one if count == 1 else many or one + "s"
