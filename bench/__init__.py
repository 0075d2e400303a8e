"""kukey's benchmark (issue 8): `python -m bench` (or `make bench`); `--quick` for a short run.

Phases: Slack ack latency against a bare Bolt app (acks), the same with KuCoin answering in 5 s
(slow_kucoin), kukey's own time for a full lifecycle (lifecycle), the audit log (audit), an incident
revoke of 50 keys (revoke), and an idle bot's memory and start time (startup). Results go to
bench/results/latest.json and a table on stdout; docs/benchmarks.md explains them.
"""
