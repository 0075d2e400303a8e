"""A Slack error answer, as the fake's Web API methods raise it."""

from __future__ import annotations

from typing import Any

Answer = dict[str, Any]


class Refusal(Exception):
    """A Slack error answer: {"ok": false, "error": code, "response_metadata": {"messages": [...]}}."""

    def __init__(self, error: str, messages: list[str] | None = None, **fields: str) -> None:
        super().__init__(error)
        self.error, self.messages, self.fields = error, messages or [], fields

    def answer(self) -> Answer:
        out: Answer = {"ok": False, "error": self.error, **self.fields}
        if self.messages:
            out["response_metadata"] = {"messages": self.messages}
        return out
