"""Names vulture reports as unused that are used, read by `make lint` (vulture bot lint/vulture_whitelist.py).

Every entry is one of: a hook a framework calls by name (logging, prometheus_client collectors, waitress
adjustments, slack_sdk retry handlers and socket-mode client overrides, SQLAlchemy event listeners,
pydantic's model_config), a table column or a parsed field of KuCoin's answers (data, read by tests,
exports and people), a structlog processor's positional parameter, or an API the test suite and the
sandbox use on purpose (FakeClock, the client's server_time/modify_key checked against KuCoin's SDK, the
Slack id registries). A new entry needs one of these reasons; anything else reported is dead code: delete it.
"""
# ruff: noqa
FakeClock  # unused class (bot/domain/clock.py:21)
_.advance  # unused method (bot/domain/clock.py:32)
_.server_time  # unused method (bot/kucoin/client.py:82)
_.modify_key  # unused method (bot/kucoin/client.py:131)
requested  # unused variable (bot/kucoin/models.py:50)
ips_masked  # unused variable (bot/kucoin/models.py:62)
api_version  # unused variable (bot/kucoin/models.py:64)
requested  # unused variable (bot/kucoin/models.py:91)
access  # unused variable (bot/kucoin/models.py:103)
remarks  # unused variable (bot/kucoin/models.py:105)
trade_types  # unused variable (bot/kucoin/models.py:106)
opened_trade_types  # unused variable (bot/kucoin/models.py:107)
api_version  # unused variable (bot/kucoin/models.py:136)
ips_masked  # unused variable (bot/kucoin/models.py:139)
method_name  # unused variable (bot/logs/redaction.py:109)
_.handleError  # unused method (bot/logs/setup.py:78)
method_name  # unused variable (bot/logs/setup.py:99)
method_name  # unused variable (bot/logs/setup.py:111)
_.describe  # unused method (bot/ops/metrics.py:48)
_.collect  # unused method (bot/ops/metrics.py:51)
_.render  # unused method (bot/ops/metrics.py:125)
threads  # unused variable (bot/ops/server.py:42)
connection_limit  # unused variable (bot/ops/server.py:43)
channel_timeout  # unused variable (bot/ops/server.py:44)
cleanup_interval  # unused variable (bot/ops/server.py:45)
max_request_body_size  # unused variable (bot/ops/server.py:46)
max_request_header_size  # unused variable (bot/ops/server.py:47)
backlog  # unused variable (bot/ops/server.py:48)
_.channel_class  # unused attribute (bot/ops/server.py:64)
_.completed  # unused attribute (bot/ops/server.py:129)
_.completed  # unused attribute (bot/ops/server.py:131)
parser_class  # unused variable (bot/ops/server.py:146)
error_task_class  # unused variable (bot/ops/server.py:147)
model_config  # unused variable (bot/policy_file/model.py:39)
_.confirmed_at  # unused attribute (bot/services/enrollment.py:111)
_.next_attempt_requested  # unused attribute (bot/slack/client.py:119)
_.can_retry  # unused method (bot/slack/client.py:131)
_.prepare_for_next_attempt  # unused method (bot/slack/client.py:140)
_.prepare_for_next_attempt  # unused method (bot/slack/client.py:155)
_.prepare_for_next_attempt  # unused method (bot/slack/client.py:168)
ALL_ACTIONS  # unused variable (bot/slack/ids.py:41)
ALL_VIEWS  # unused variable (bot/slack/ids.py:42)
_.connect_to_new_endpoint  # unused method (bot/slack/socket_link.py:104)
force  # unused variable (bot/slack/socket_link.py:104)
_.issue_new_wss_url  # unused method (bot/slack/socket_link.py:107)
_.closed  # unused attribute (bot/slack/socket_link.py:111)
_.terminated  # unused attribute (bot/slack/socket_link.py:112)
retired_at  # unused variable (bot/storage/audit_schema.py:40)
delivered_at  # unused variable (bot/storage/audit_schema.py:55)
_.itersize  # unused attribute (bot/storage/audit_verify.py:116)
_on_connect  # unused function (bot/storage/db.py:62)
_.isolation_level  # unused attribute (bot/storage/db.py:64)
_on_begin  # unused function (bot/storage/db.py:74)
_on_begin  # unused function (bot/storage/db.py:90)
_on_checkin  # unused function (bot/storage/db.py: pool event listener, PostgreSQL idle ping)
_on_checkout  # unused function (bot/storage/db.py: pool event listener, PostgreSQL idle ping)
approved_at  # unused variable (bot/storage/tables.py:48)
totp_step  # unused variable (bot/storage/tables.py:65)
approved_at  # unused variable (bot/storage/tables.py:66)
confirmed_at  # unused variable (bot/storage/tables.py:78)
used_at  # unused variable (bot/storage/tables.py:91)
delete_after  # unused variable (bot/storage/tables.py:112)
deleted_at  # unused variable (bot/storage/tables.py:113)
last_error  # unused variable (bot/storage/tables.py:129)
sent_at  # unused variable (bot/storage/tables.py:158): the outbox's delivery time, for troubleshooting
done_at  # unused variable (bot/storage/tables.py:130): when a kill switch recorded a key's outcome, for troubleshooting
_.starts  # unused attribute (bot/ops/worker.py): how many workers were started, read by tests/cli/test_worker.py
_.lazy_listener_runner  # unused attribute (bot/slack/handoff.py): Bolt's runner of lazy functions, which Bolt reads
_.__class__  # unused attribute (bot/tls.py): the shared TLS context's class, which copy and deepcopy read
https_open  # unused method (bot/slack/connections.py): urllib's HTTPS handler method, which urllib's opener calls
http_open  # unused method (bot/slack/connections.py): urllib's HTTP handler method, which urllib's opener calls
in_flight  # unused method (bot/kucoin/connections.py): calls in flight per pool, read by tests/kucoin/test_connections.py
