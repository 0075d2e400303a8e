"""A faithful local KuCoin for tests and the demo: signing, field rules, rate limits, fault injection."""

from bot.sandbox.kucoin.messages import RecordedRequest
from bot.sandbox.kucoin.sandbox import KucoinSandbox, MasterCredentials

__all__ = ["KucoinSandbox", "MasterCredentials", "RecordedRequest"]
