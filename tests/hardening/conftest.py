"""Hardening tests reuse the scenario worlds: `world` (the bot over HTTP against both sandboxes) and `story`
(the same with the requester, both approvers and the responder enrolled)."""

from __future__ import annotations

from tests.scenarios.conftest import story, world

__all__ = ["story", "world"]
