"""KuCoin adapter: pure signing functions, a thread-safe httpx client, typed results and errors."""

from bot.kucoin.client import KucoinClient
from bot.kucoin.models import (
    CreatedKey,
    KeyInfo,
    MasterKeyInfo,
    ModifiedKey,
    SubAccount,
    generate_passphrase,
)
from bot.kucoin.ratelimit import RetryPolicy

__all__ = [
    "CreatedKey",
    "KeyInfo",
    "KucoinClient",
    "MasterKeyInfo",
    "ModifiedKey",
    "RetryPolicy",
    "SubAccount",
    "generate_passphrase",
]
