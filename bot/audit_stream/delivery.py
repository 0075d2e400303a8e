"""What a target does with an event: `Sender.send` returns once the target acknowledged it, or raises
DeliveryError with a short reason (a metric label: "timeout", "http_503", "ConnectionRefusedError")."""

from __future__ import annotations

from typing import Protocol

from bot.storage.audit_read import Event


class DeliveryError(Exception):
    """The target did not acknowledge an event. Never leaves the forwarder's thread."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sender(Protocol):
    def send(self, event: Event) -> None:
        """Deliver one event; return once the target acknowledged it, else raise DeliveryError."""

    def close(self) -> None:
        """Let go of connections (the forwarder is stopping, or the target failed)."""
