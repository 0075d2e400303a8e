"""`kukey run` with KUKEY_AUDIT_FORWARD: a whole key lifecycle reaches a real webhook receiver on 127.0.0.1
exactly as the audit log holds it, and a receiver that never answers holds up nothing but the stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from kukey_sandbox.world import KukeyWorld
from tests.audit_stream.helpers import exported, seqs_of, wait_until
from tests.audit_stream.receivers import HANG, WebhookReceiver
from tests.databases import rows
from tests.scenarios.conftest import enrolled

SECRET = "siem-shared-secret-0123456789"


def test_a_key_lifecycle_reaches_the_siem_in_order_signed_and_as_exported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Enrolments, a request, its approval, the reveal and the bot's stop arrive at the webhook in seq order,
    each body byte for byte the line `kukey audit export` prints for the event, each validly signed."""
    receiver = WebhookReceiver()
    try:
        with KukeyWorld(home=tmp_path, env_extra={"KUKEY_AUDIT_FORWARD": receiver.url,
                                                  "KUKEY_AUDIT_FORWARD_SECRET": SECRET}) as world:
            enrolled(world).create_key()
            head = rows(world.database_url, "SELECT max(seq) FROM audit_event")[0][0]
            wait_until(lambda: head in receiver.acknowledged(), "the stream caught up")
            world.stop_bot()  # records kukey.stopped; the stream gets a few seconds to deliver it
            lines = exported(world.database_url, monkeypatch, capsys)
    finally:
        receiver.stop()
    assert [p.body.decode() for p in receiver.posts] == lines
    assert receiver.seqs() == seqs_of(lines) == list(range(1, len(lines) + 1))
    assert all(p.signed_by(SECRET) for p in receiver.posts)
    assert [p.headers["x-kukey-seq"] for p in receiver.posts] == [str(s) for s in seqs_of(lines)]
    assert '"action": "kukey.stopped"' in lines[-1]


def test_a_receiver_that_never_answers_holds_up_no_approval(tmp_path: Path) -> None:
    """With the webhook holding every request open, enrolment, request, approval and reveal all complete;
    the stream is stuck at its first event meanwhile, and delivers everything in order once released."""
    receiver = WebhookReceiver(mode=HANG)
    try:
        with KukeyWorld(home=tmp_path, env_extra={"KUKEY_AUDIT_FORWARD": receiver.url}) as world:
            wait_until(lambda: receiver.posts, "the first event sent and held")
            enrolled(world).create_key()
            written = rows(world.database_url, "SELECT max(seq) FROM audit_event")[0][0]
            assert written > 10
            assert receiver.acknowledged() == [] and set(receiver.seqs()) == {1}
            receiver.release()
            wait_until(lambda: written in receiver.acknowledged(), "every event delivered once released")
    finally:
        receiver.release()
        receiver.stop()
    seqs = receiver.seqs()
    assert seqs == sorted(seqs) and set(range(1, written + 1)) <= set(seqs)
