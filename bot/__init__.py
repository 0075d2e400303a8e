"""kukey: a Slack chat-ops bot for KuCoin sub-account API keys."""

__version__ = "0.2.0"  # the one version source: pyproject reads it, `kukey --version` prints it
