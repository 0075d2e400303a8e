"""Slack surfaces as terminal lines: Block Kit and mrkdwn to plain text, secrets masked.

Pure functions of plain values. `Redactor` is the last thing every printed line goes through: the demo
prints what people see in Slack, except the key secret, the passphrase and TOTP seeds.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kukey_sandbox.slack import blocks as bk

CODE_MASK = "••••••"  # a TOTP code as the transcript shows it
WIDTH = 112
_LABELLED = re.compile(r"\b(Secret|Passphrase):\*?(\s*)`?([^`\s]+)`?")
_SEED = re.compile(r"(Seed \(base32\):)\*?(\s*)`?[A-Za-z2-7=]+`?")
_OTPAUTH = re.compile(r"otpauth://[^\s`>|]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BASE32_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}(?![A-Za-z0-9])")
_SEED_RAW = re.compile(r"Seed \(base32\):\*? `([A-Z2-7]{16,})`")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


class Redactor:
    """Masks key secrets, passphrases, TOTP seeds and otpauth URIs, plus any value in `known()`."""

    def __init__(self, known: Callable[[], Iterable[str]] = tuple) -> None:
        self._known = known

    def __call__(self, text: str, *, owner: str = "its owner") -> str:
        for value in sorted((v for v in self._known() if len(v) >= 8), key=len, reverse=True):
            text = text.replace(value, "(hidden)")
        text = _LABELLED.sub(lambda m: f"{m[1]}:{m[2]}{m[3][:4]}…(hidden, shown once to {owner})", text)
        text = _SEED.sub(r"\1\2(hidden)", text)
        text = _OTPAUTH.sub("otpauth://…(hidden: it holds the seed)", text)
        text = _UUID.sub("(hidden)", text)
        return _BASE32_RUN.sub("(hidden)", text)


def seed_in(text: str) -> str | None:
    """The TOTP seed in kukey's enrollment message (what a person types into an authenticator)."""
    match = _SEED_RAW.search(text)
    return match.group(1) if match else None


def plain(mrkdwn: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """Slack mrkdwn as a terminal shows it: @names, #channels, link labels, no bold stars."""
    text = _USER.sub(lambda m: "@" + users.get(m[1], m[1]), mrkdwn)
    text = _CHANNEL.sub(lambda m: "#" + (m[2] or channels.get(m[1], m[1])), text)
    text = _LINK.sub(lambda m: m[2] or m[1], text)
    return _BOLD.sub(r"\1", text)


def _text(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _buttons(block: dict[str, Any]) -> str:
    return " ".join(f"[{b.label}]" for b in bk.buttons([block]))


def block_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """One or more lines per block, in reading order; buttons as [Label]; inputs as `Label: [...]`."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in {"section", "header"}:
            parts = [_text(block.get("text")), *(_text(f) for f in block.get("fields") or [])]
            lines += "\n".join(p for p in parts if p).splitlines()
            if _buttons(block):
                lines.append(_buttons(block))
        elif kind == "context":
            lines.append(" · ".join(_text(e) or str(e.get("alt_text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(_buttons(block))
        elif kind == "input":
            lines.append(f"{_text(block.get('label'))}: [______]")
        elif kind != "divider":
            lines += " ".join(bk.texts(block)).splitlines()
    return [line for line in lines if line.strip()]


def surface_lines(text: str, blocks: list[dict[str, Any]]) -> list[str]:
    """What a person reads in a message: its blocks when it has any (the text is only the fallback)."""
    lines = block_lines(blocks) if blocks else text.splitlines()
    return [line for line in lines if line.strip()]


def entry(label: str, lines: list[str], *, indent: str = "", most: int = 12) -> list[str]:
    """`label first-line`, then the other lines indented beneath it; long lines wrapped, at most `most`."""
    shown = lines[:most] + (["…"] if len(lines) > most else [])
    first = f"{indent}{label} {shown[0] if shown else ''}".rstrip()
    out = textwrap.wrap(first, WIDTH, subsequent_indent=indent + "    ") or [first]
    for line in shown[1:]:
        out += textwrap.wrap(line, WIDTH, initial_indent=indent + "    ", subsequent_indent=indent + "      ")
    return out
