"""The forwarder ships every audit event as an RFC 5424 message to real syslog listeners on 127.0.0.1, over
TCP and UDP: the header, the structured data and the JSON message conform to the RFC's grammar and hold
the event as `kukey audit export` prints it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.ops.metrics import Metrics
from bot.storage.db import session_scope
from tests.audit_stream.helpers import Log, exported, streaming, wait_until
from tests.audit_stream.receivers import SyslogReceiver
from tests.audit_stream.test_webhook import sample

LOG_AUDIT = 13
ODD_NAME = 'we"ird]sub\\name'


def test_each_event_is_one_rfc5424_message_in_order(database_url: str, log: Log, clock: FakeClock, engine: Engine,
                                                    syslog: SyslogReceiver, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Facility log-audit, severity informational for "ok" and notice otherwise; the event's time, "kukey",
    the action as MSGID; structured data with seq, action, actor, request id, sub-account and outcome
    (escaped as the RFC says); the message is the exported event's JSON."""
    log.write(10)
    with session_scope(engine) as session:
        log.audit.record(session, AuditAction.TOTP_FAILED, actor="U0EVE0001", request_id="KK-ODD", sub_account=ODD_NAME,
                         outcome="refused", detail={"why": "wrong code"})
    with streaming(database_url, syslog.url, clock=clock):
        wait_until(lambda: len(syslog.messages) == 11, "11 messages")
    events = [json.loads(line) for line in exported(database_url, monkeypatch, capsys)]
    messages = syslog.parsed()
    for message, event in zip(messages, events, strict=True):
        assert json.loads(message.msg) == event
        assert message.pri == LOG_AUDIT * 8 + (6 if event["outcome"] == "ok" else 5)
        assert (message.timestamp, message.app, message.msgid) == (event["ts"], "kukey", event["action"])
        assert message.sd == {"kukey@32473": {name: str(event[name]) for name in
                                              ("seq", "action", "actor", "request_id", "sub_account", "outcome")}}
    assert messages[-1].sd["kukey@32473"]["sub_account"] == ODD_NAME
    assert all(m.msg.isascii() for m in messages)


def test_tcp_receiver_down_then_back_gets_every_event_in_order(database_url: str, log: Log, clock: FakeClock) -> None:
    """The listener closes its connections and stops; events written meanwhile are sent once it listens
    again, in order, none lost (the close is noticed before the next send)."""
    receiver = SyslogReceiver("tcp")
    metrics = Metrics()
    try:
        with streaming(database_url, receiver.url, clock=clock, metrics=metrics):
            log.write(5)
            wait_until(lambda: len(receiver.messages) == 5, "the first 5")
            receiver.stop()
            log.write(5)
            wait_until(lambda: sample(metrics, "kukey_audit_forward_failures_total",
                                      reason="ConnectionRefusedError"), "the listener refusing")
            receiver.start()
            wait_until(lambda: len({m.sd["kukey@32473"]["seq"] for m in receiver.parsed()}) == 10, "all 10")
    finally:
        receiver.stop()
    seqs = [int(m.sd["kukey@32473"]["seq"]) for m in receiver.parsed()]
    assert seqs == sorted(seqs) and set(seqs) == set(range(1, 11))



