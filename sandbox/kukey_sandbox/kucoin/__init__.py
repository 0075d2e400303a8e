"""A faithful local KuCoin for tests and the demo: signing, field rules, rate limits, fault injection."""

from kukey_sandbox.kucoin.messages import RecordedRequest
from kukey_sandbox.kucoin.sandbox import KucoinSandbox, MasterCredentials

__all__ = ["KucoinSandbox", "MasterCredentials", "RecordedRequest"]
