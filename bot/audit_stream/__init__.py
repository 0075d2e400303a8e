"""The live audit stream: every committed audit event, in seq order, to a SIEM or a terminal.

    target.py     KUKEY_AUDIT_FORWARD parsed and checked (standard library only: bot.config uses it)
    reading.py    engines that read the log without kukey's write lock; events after a seq; JSON lines
    cursor.py     the durable progress and the lease (table audit_forward): one replica forwards at a time
    delivery.py   what a target does with an event (Sender), and DeliveryError
    webhook.py    HTTPS POST of each event, signed with HMAC-SHA256 when a secret is configured
    syslog.py     RFC 5424 over TCP (RFC 6587 octet counting) or UDP
    forwarder.py  the thread inside `kukey run` that ties them together, with retries and metrics

The write path knows none of this: events are read back after they commit, by seq, on the stream's own
connections. `kukey audit tail --follow` (bot.cli.audit) uses reading.py.
"""
