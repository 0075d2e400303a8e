"""A whole kukey world on 127.0.0.1: KuCoin sandbox, Slack fake, the real bot, and a Slack driver.

Shipped in the package because the demo plays its story on it, and the end-to-end tests and the benchmark
drive it the way Slack does.
"""
