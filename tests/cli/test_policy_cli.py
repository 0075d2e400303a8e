"""`kukey policy check FILE`: a summary and exit 0 for a good file, every problem and exit 1 for a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policy.example.toml"


def test_example_policy_passes_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped example passes, and the first line says how many rules and which approvals channel."""
    assert main(["policy", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"OK: {EXAMPLE}: 3 rules, approvals channel C0APPROVALS"
    assert any(line.startswith("  rules[0] 'treasury*': General,InnerTransfer; expiry up to 30 days")
               for line in out)


def test_summary_says_how_approvers_are_told(capsys: pytest.CaptureFixture[str]) -> None:
    """A rule with direct messages, reminders or escalation says so in its line; a channel-only rule does not."""
    assert main(["policy", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3].endswith("2 approvals from treasury; notify both; approvers reminded from 10 min; "
                           "escalated to admins after 20 min")
    assert out[4].endswith("1 approval from approvers")


def test_bad_policy_lists_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file prints each problem as FILE: KEY: problem, then a count, and exits 1."""
    bad = tmp_path / "bad.toml"
    bad.write_text('approvals_channel = "#ops"\n[[rules]]\nmatch = "*"\nmax_expire_dayz = 30\nmax_keys = 0\n'
                   '[[rules]]\nmatch = "bot-*"\nmax_expire_days = 45\n', encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}: approvals_channel: must be a Slack channel id like C0123456789, got '#ops': use the "
        "channel id (C...), not its name",
        f"{bad}: rules[0].max_expire_dayz: unknown key (did you mean `max_expire_days`?)",
        f"{bad}: rules[0].max_keys: must be from 1 to 20, got 0",
        f'{bad}: rules[1].max_expire_days: must be one of 30, 90, 180, 360 or "never", got 45',
        f"4 problems in {bad}",
    ]


def test_checks_across_fields_are_listed_with_the_other_problems(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Once the rules themselves are valid, an approver group nobody is in and a rule never reached are
    listed beside a wrong top-level setting."""
    bad = tmp_path / "bad.toml"
    bad.write_text('approvals_channel = "C0APPROVALS"\ntotp_max_failures = 0\n[[rules]]\nmatch = "*"\n'
                   '[[rules]]\nmatch = "bot-*"\n', encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}: totp_max_failures: must be from 1 to 100, got 0",
        f"{bad}: rules[0].approver_group: nobody could approve: the group `approvers` is missing or empty",
        f"{bad}: rules[1].match: is never used: rules[0] (`*`) matches every sub-account first",
        f"{bad}: rules[1].approver_group: nobody could approve: the group `approvers` is missing or empty",
        f"4 problems in {bad}",
    ]


def test_toml_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A TOML syntax error is reported with the file and the line, without a traceback."""
    bad = tmp_path / "syntax.toml"
    bad.write_text('approvals_channel = "C0APPROVALS"\nrules = [\n', encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{bad}: line 2: TOML syntax error: Invalid value (at end of document)")
    assert "Traceback" not in captured.out + captured.err


def test_check_runs_as_a_process_without_traceback(tmp_path: Path) -> None:
    """`python -m bot policy check` on a missing file exits non-zero with one clear line and no traceback."""
    missing = tmp_path / "missing.toml"
    result = subprocess.run([sys.executable, "-m", "bot", "policy", "check", str(missing)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{missing}: cannot read the file")
    assert "Traceback" not in result.stdout + result.stderr
