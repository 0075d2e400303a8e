"""`kukey demo` plays the whole story in a real process and prints it without secrets; `--keep` keeps the
world running for `python -m kukey_sandbox.demo.send` until Ctrl-C; the masking and the send tool on their own."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kukey_sandbox.demo.send
from kukey_sandbox.demo.render import Redactor

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SEED = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{32}(?![A-Za-z0-9])")
# Each step, in the order the story plays it, as the transcript shows it.
STEPS = [
    ("enrollment offered", "[bob, only visible to you] TOTP enrollment"),
    ("code prompt", '[bob, modal "Confirm enrollment"]'),
    ("enrollment confirmed", "TOTP enrollment confirmed"),
    ("request posted", "[#kukey-approvals] kukey: New API key for alpha-trading"),
    ("approval", "@bob approved."),
    ("reveal", "Secret: "),
    ("reveal recorded", "was created and shown to @alice"),
    ("wipe", "> alice clicks [Stored it - wipe]"),
    ("Home tab", "[alice, kukey's Home tab] kukey"),
    ("key on the Home tab", "[Rotate] [Revoke]"),
    ("rotation requested", "[#kukey-approvals] kukey: Rotate key"),
    ("self-approval refused", "You cannot approve your own request"),
    ("rotation approved", "@carol approved."),
    ("old key deleted", "was deleted at KuCoin. Rotation done"),
    ("KuCoin checked", "KuCoin sandbox: alpha-trading has only the new key"),
    ("update", "now allows 203.0.113.5,203.0.113.6"),
    ("approver DM", "[carol, DM] kukey: @alice asks for your approval: New API key for delta-research"),
    ("DM's buttons", "[Approve] [Deny]"),
    ("time passes", "5 minutes pass"),
    ("DM reminder", "[carol, DM] kukey: Reminder 1: request"),
    ("thread reminder", "Reminder: @carol, this request still needs 1 more approval"),
    ("approved from the DM", "> carol clicks [Approve] in her DM"),
    ("DMs edited", "[carol, DM] kukey edited (2 messages): Request"),
    ("DMs' buttons gone", "(buttons removed)"),
    ("new key checked", "KuCoin sandbox: delta-research has key"),
    ("kill switch", "/kukey revoke everything"),
    ("typed count", "dave types 2 (the number of keys)"),
    ("progress message", "[#incident] kukey: :rotating_light: Kill switch done"),
    ("n of N", "2 of 2 keys deleted"),
    ("report", "Every key of the kill switch"),
    ("out of reach", "Out of kukey's reach"),
    ("nothing left", "KuCoin sandbox: alpha-trading has no key left"),
    ("nothing left anywhere", "KuCoin sandbox: delta-research has no key left"),
    ("audit verify", "> kukey audit verify"),
    ("audit OK", "OK: "),
    ("database", "Database: "),
    ("summary", "kukey demo: OK"),
]


def kukey(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_demo_plays_every_step_and_prints_no_secret(tmp_path: Path) -> None:
    """`kukey demo` exits 0 after printing every step in order, with no key secret, passphrase or seed."""
    process = kukey("demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert "Traceback" not in out + err
    at = 0
    for step, needle in STEPS:
        found = out.find(needle, at)
        assert found >= 0, f"{step}: {needle!r} missing after position {at}\n{out}"
        at = found
    assert UUID.search(out) is None and SEED.search(out) is None
    assert "(hidden, shown once to alice)" in out and "Passphrase: " in out and "otpauth://…(hidden" in out
    assert "secret=" not in out and "••••••" in out
    assert (tmp_path / "demo" / "kukey.db").is_file() and str(tmp_path / "demo" / "kukey.db") in out
    # 161 before issue 15's steps; its approver DM step (a request on a rule with notify = "both", the DM,
    # a reminder 5 minutes later, the approval from the DM that edits both DMs, the reveal of the key the kill
    # switch then deletes: 57) and the kill switch in place of one sub-account's incident revoke (+9)
    assert len(out.splitlines()) <= 235


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """`kukey demo --keep` running, its stdout lines arriving in a queue; stopped afterwards if still alive."""
    process = kukey("demo", "--keep", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    lines: queue.Queue[str] = queue.Queue()
    out = process.stdout
    assert out is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def read_until(lines: queue.Queue[str], needle: str, timeout: float = 60.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or needle not in seen[-1]:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line with {needle!r}:\n{''.join(seen)}"
        try:
            seen.append(lines.get(timeout=remaining))
        except queue.Empty:
            continue
    return seen


def send(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kukey_sandbox.demo.send", *words], env=dict(os.environ),
                          capture_output=True, text=True, timeout=60, check=False)


def test_keep_runs_until_ctrl_c_and_takes_commands(kept: tuple[subprocess.Popen[str], queue.Queue[str]]) -> None:
    """With --keep the world stays up: a demo user's commands (and a look at their Home tab) work through
    kukey_sandbox.demo.send; Ctrl-C exits 0."""
    process, lines = kept
    shown = "".join(read_until(lines, "kukey demo: running"))
    url = re.search(r"demo control\s+(http://127\.0\.0\.1:\d+/\S+)", shown)
    assert url, shown
    created = send("--url", url.group(1), "alice", "/kukey", "create", "beta-spot", "perms=Spot",
                   "ips=203.0.113.7", "expire=30", "trying it out")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "[#kukey-approvals] kukey: New API key for beta-spot" in created.stdout
    ok, clicked = kukey_sandbox.demo.send.send(url.group(1), "bob", "click Approve")
    assert ok and any('[bob, modal "Approve request"]' in line for line in clicked), clicked
    ok, approved = kukey_sandbox.demo.send.send(url.group(1), "bob", "code")
    assert ok and "@bob approved." in "\n".join(approved) and "[Reveal key]" in "\n".join(approved), approved
    ok, home = kukey_sandbox.demo.send.send(url.group(1), "carol", "home")
    assert ok and "[carol, kukey's Home tab] kukey" in "\n".join(home) and "[Re-enroll]" in "\n".join(home), home
    ok, refused = kukey_sandbox.demo.send.send(url.group(1), "zed", "look")
    assert not ok and "no demo user 'zed'" in refused[0]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    rest = "".join(read_until(lines, "kukey demo: stopped"))
    assert UUID.search(shown + rest) is None and SEED.search(shown + rest) is None


def test_send_without_a_running_demo_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """The send tool exits 2 with a clear message when nothing listens at the URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert kukey_sandbox.demo.send.main(["--url", f"http://127.0.0.1:{port}/token", "alice", "look"]) == 2
    assert "is `kukey demo --keep` still running?" in capsys.readouterr().err


@pytest.mark.parametrize(("shown", "kept", "gone"), [
    ("*Secret:* `5b9a0c1e-75f4-42fa-8dd6-325700f2d828`", "Secret: 5b9a…(hidden, shown once to alice)",
     "75f4-42fa"),
    ("*Passphrase:* `B1SfQ8x0pLm3Zr7TyUu2Wv`", "Passphrase: B1Sf…(hidden, shown once to alice)", "Q8x0pLm3"),
    ("*Seed (base32):* `JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP`", "Seed (base32): (hidden)", "JBSWY3DP"),
    ("`otpauth://totp/kukey:bob?secret=JBSWY3DPEHPK3PXP&issuer=kukey`", "otpauth://…(hidden", "JBSWY3DP"),
    ("a stray 73f8f002-75f4-42fa-8dd6-325700f2d828 somewhere", "a stray (hidden) somewhere", "73f8f002"),
])
def test_redactor_masks_secrets_passphrases_and_seeds(shown: str, kept: str, gone: str) -> None:
    """Every kind of secret the demo could print is masked, keeping only a short prefix of key secrets."""
    from kukey_sandbox.demo.render import plain

    masked = Redactor()(plain(shown, {}, {}), owner="alice")
    assert kept in masked and gone not in masked


def test_redactor_masks_known_values_anywhere() -> None:
    """A value the demo knows is secret (a seed it read) is masked even without a label around it."""
    masked = Redactor(known=lambda: ["abcdefgh12345678"])("seed abcdefgh12345678 here", owner="bob")
    assert masked == "seed (hidden) here"
