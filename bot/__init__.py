"""kukey: a Slack chat-ops bot for KuCoin sub-account API keys."""

__version__ = "0.1.0"
