"""`kukey doctor` as a person runs it: one line per check, a `fix:` line under each problem, a summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.clock import SystemClock
from kukey_sandbox.world import KukeyWorld

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandbox" / "kukey_sandbox" / "kucoin" / "seed.json"
LINES = ["OK settings", "OK policy", "OK database", "OK master key", "OK slack bot token", "OK slack scopes",
         "OK slack app token", "OK slack clock", "OK channel C0APPROVALS", "OK channel C0INCIDENT",
         "OK channel C0AUDITLOG", "OK user group S0APPROVERS", "OK kucoin key", "OK kucoin clock"]


def _general_only() -> dict[str, object]:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["masters"][0]["permissions"] = ["General"]
    return dict(seed)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), sandbox_kwargs={"seed": _general_only()}) as w:
        yield w


def _doctor(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, list[str]]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(Path(env["KUKEY_POLICY"]).parent)  # where no stray ./.env adds settings
    code = main(["doctor", *args])
    return code, capsys.readouterr().out.splitlines()


def test_all_checks_pass_and_exit_zero(world: KukeyWorld, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """With a correct configuration every check prints one OK line, then the summary, and doctor exits 0."""
    code, out = _doctor(world.env(), monkeypatch, capsys)
    assert code == 0
    assert [line.split(":", 1)[0] for line in out[:-1]] == LINES
    assert out[4] == "OK slack bot token: bot kukey (user id U0KUKEYBOT) in workspace kukey sandbox (T0KUKEY00)"
    assert out[-1] == "kukey doctor: 14 of 14 checks passed"


def test_a_warning_has_a_fix_line_and_does_not_fail(world: KukeyWorld, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An empty user group prints WARN with a fix line under it, and doctor still exits 0."""
    world.fake.add_usergroup("S0ONCALL1", "oncall", users=[])
    world.policy_path.write_text(world.policy_text.replace('responders = ["U0DAVE001"]',
                                                           'responders = ["S0ONCALL1"]'), encoding="utf-8")
    code, out = _doctor(world.env(), monkeypatch, capsys)
    assert code == 0
    at = out.index("WARN user group S0ONCALL1: groups.responders: the group has no members, so it counts nobody")
    assert out[at + 1].startswith("  fix: add people to the group in Slack")
    assert out[-1] == "kukey doctor: 15 of 15 checks passed, 1 with a warning"


def test_a_failure_exits_one_with_its_fix(world: KukeyWorld, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A bot the incident channel lacks is a FAIL line, a fix line, and exit 1; the rest still runs."""
    world.fake.leave("C0INCIDENT", world.fake.bot_user_id)
    code, out = _doctor(world.env(), monkeypatch, capsys, "--http")
    assert code == 1
    at = out.index("FAIL channel C0INCIDENT: incident channel #incident: the bot is not a member")
    assert out[at + 1].startswith("  fix: /invite @kukey in #incident: ")
    assert "OK slack signing secret: set, 32 hexadecimal digits" in "\n".join(out)
    assert out[-1] == "kukey doctor: 13 of 14 checks passed, 1 failed"


def test_doctor_reads_the_env_file_as_kukey_run_does(world: KukeyWorld, tmp_path: Path) -> None:
    """`kukey doctor` run where .env lives, with nothing in the environment, finds the whole configuration."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in world.env().items()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == "kukey doctor: 14 of 14 checks passed"
