"""Every `kukey` subcommand, as a real process, under each misconfiguration a new user makes: one clear line
per problem and the right exit code, never a traceback.

A process costs about 0.6 s of CPU (imports), so misconfigurations that do not hide one another share
one: four bundles cover all twelve (a garbage or wrong bot token, a garbage app token, an unreachable
Slack or KuCoin, a missing channel, a channel without the bot, an unknown user group, a database path
under a regular file, a wrong master key on an existing database, an invalid policy, a `.env` without
the master key). Every command runs under each bundle and must print exactly one line for each problem
it checks, no line for what it does not touch (where nothing it touches is broken it succeeds), and the
right exit code; run, doctor and reconcile must report nothing else. HTTP mode differs from Socket Mode
only in the transport check, so `--http` runs the two bundles where that shows. `keygen` and `policy
check FILE` read no configuration. All processes run in parallel threads; closed ports refuse at once.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.secret import Secret
from bot.security.crypto import SecretBox, generate_master_key
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment
from kukey_sandbox.world import APPROVER, KukeyWorld, default_policy

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandbox" / "kukey_sandbox" / "kucoin" / "seed.json"
NO_BOT_CHANNEL = "C0NOBOT01"
MISSING_CHANNEL = "C0NOSUCHCH"
UNKNOWN_GROUP = "S0NOSUCH1"
# Nothing a person should ever see: a traceback, an exception class at the start of a line, a crash line.
_CLASS_DUMP = re.compile(r"^\s*[\w.]+(Error|Exception|Warning)\b.*:", re.MULTILINE)


@dataclass(frozen=True)
class Expect:
    code: int
    lines: tuple[str, ...]  # each held by exactly one line of the output: a problem, or what success prints
    strict: bool = False  # and nothing else fails (run, doctor and reconcile list every problem they find)


@dataclass
class Cell:
    """One misconfiguration, set up in a home directory of its own."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    policy: str | None = None
    dotenv_without: str | None = None  # put the configuration in ./.env instead, without this variable


@dataclass
class Matrix:
    world: KukeyWorld
    template: Path
    closed_port: int
    root: Path

    def home(self, command: str, cell: Cell) -> tuple[Path, dict[str, str]]:
        """A fresh home with the policy, a copy of the database and the new key; and the process environment."""
        home = self.root / re.sub(r"\W+", "-", f"{command} {cell.name}")
        home.mkdir(parents=True)
        for name in ("kukey.db", "kukey.db-wal"):
            if (self.template.parent / name).exists():
                shutil.copy(self.template.parent / name, home / name)
        (home / "policy.toml").write_text(cell.policy or self.world.policy_text, encoding="utf-8")
        (home / "new.key").write_text(generate_master_key() + "\n", encoding="utf-8")
        (home / "blocker").write_text("", encoding="utf-8")
        config = {**self.world.env(), "KUKEY_DATABASE_URL": f"sqlite:///{home / 'kukey.db'}",
                  "KUKEY_POLICY": str(home / "policy.toml"),
                  **{k: v.format(home=home, port=self.closed_port) for k, v in cell.env.items()}}
        base = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
        if cell.dotenv_without is None:
            return home, {**base, **config}
        lines = [f"{k}={v}" for k, v in config.items() if k != cell.dotenv_without]
        (home / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return home, base


INVALID_POLICY = 'approvals_channel = "#ops"\n[[rules]]\nmatch = "*"\n'
BROKEN_PLACES = default_policy().replace('"C0APPROVALS"', f'"{MISSING_CHANNEL}"').replace(
    '"C0AUDITLOG"', f'"{NO_BOT_CHANNEL}"').replace('"S0APPROVERS"', f'"{UNKNOWN_GROUP}"')
UNREACHABLE = {"SLACK_API_URL": "http://127.0.0.1:{port}/api/", "KUCOIN_API_URL": "http://127.0.0.1:{port}"}
WRONG_BOT, GARBAGE_APP = {"SLACK_BOT_TOKEN": "xoxb-0000-not-the-token"}, {"SLACK_APP_TOKEN": "xapp-1-garbage"}
UNWRITABLE = {"KUKEY_DATABASE_URL": "sqlite:///{home}/blocker/kukey.db"}  # its parent is a file
# Each misconfiguration, and its one line wherever a command checks it.
PROBLEM = {
    "bot token garbage": "SLACK_BOT_TOKEN does not look like a bot token",
    "bot token wrong": "auth.test refused the bot token: invalid_auth",
    "app token garbage": "apps.connections.open refused the app token: invalid_auth",
    "slack unreachable": "no answer from http://127.0.0.1:{port}/api/: could not connect",
    "kucoin unreachable": "Could not connect to KuCoin for GET /api/v1/timestamp.",
    "channel missing": f"channel {MISSING_CHANNEL}: approvals channel: Slack finds no such channel",
    "bot not in channel": f"channel {NO_BOT_CHANNEL}: audit channel #no-bot-here: the bot is not a member",
    "user group unknown": f"user group {UNKNOWN_GROUP}: groups.approvers: Slack knows no such user group",
    "database unwritable": "database: cannot create {home}/blocker/kukey.db: {home}/blocker is not a directory",
    "database missing": "KUKEY_DATABASE_URL points to '{home}/blocker/kukey.db', which does not exist",
    "master key wrong": "master key: the audit log was last signed by master key ",
    "policy invalid": "policy: {home}/policy.toml: approvals_channel: must be a Slack channel id",
    ".env lacks a variable": "KUKEY_MASTER_KEY is not set",
}
# Misconfigurations that do not hide one another share a process; where one does hide another (a bot
# token Slack refuses hides the channels), the hidden one goes into another bundle.
BUNDLES = {
    "tokens, KuCoin, database": Cell("tokens, KuCoin, database", env={
        **WRONG_BOT, **GARBAGE_APP, "KUCOIN_API_URL": UNREACHABLE["KUCOIN_API_URL"], **UNWRITABLE}),
    "channels, groups, master key": Cell("channels, groups, master key", policy=BROKEN_PLACES,
                                         env={"KUKEY_MASTER_KEY": generate_master_key()}),
    ".env: garbage, Slack down, policy, no key": Cell(
        ".env: garbage, Slack down, policy, no key", policy=INVALID_POLICY, dotenv_without="KUKEY_MASTER_KEY",
        env={"SLACK_BOT_TOKEN": "garbage", "SLACK_API_URL": UNREACHABLE["SLACK_API_URL"]}),
    "every remote part": Cell("every remote part", policy=BROKEN_PLACES,
                              env={**WRONG_BOT, **GARBAGE_APP, **UNREACHABLE}),
}
B1, B2, B3, B4 = BUNDLES
EVERYTHING = Cell("everything broken", policy=INVALID_POLICY, env={
    **WRONG_BOT, **GARBAGE_APP, **UNREACHABLE, **UNWRITABLE, "KUKEY_MASTER_KEY": generate_master_key()})


def _fails(code: int, *problems: str) -> Expect:
    return Expect(code, tuple(PROBLEM[p] for p in problems), strict=True)


def _says(code: int, line: str) -> Expect:
    return Expect(code, (line,))


RUN = {B1: ("bot token wrong", "app token garbage", "kucoin unreachable", "database unwritable"),
       B2: ("channel missing", "bot not in channel", "user group unknown", "master key wrong"),
       B3: ("bot token garbage", "slack unreachable", "policy invalid", ".env lacks a variable"),
       B4: ("slack unreachable", "kucoin unreachable")}
# HTTP mode differs only in the transport check: it never reads the app token, and with the bot token
# refused by its shape nothing else calls Slack. The other bundles would repeat Socket Mode's runs.
RUN_HTTP = {B1: RUN[B1][:1] + RUN[B1][2:], B3: ("bot token garbage", "policy invalid", ".env lacks a variable")}
_STORE = {B1: _fails(2, "database unwritable"), B2: _fails(2, "master key wrong"),
          B3: _fails(2, ".env lacks a variable")}
_READ = {B1: _says(2, PROBLEM["database missing"]), B3: _says(2, PROBLEM["bot token garbage"])}
COMMANDS: dict[str, tuple[list[str], dict[str, Expect]]] = {
    "run": (["run"], {b: _fails(2, *lines) for b, lines in RUN.items()}),
    "run --http": (["run", "--http", "--host", "127.0.0.1", "--port", "0"],
                   {b: _fails(2, *lines) for b, lines in RUN_HTTP.items()}),
    "doctor": (["doctor"], {b: _fails(1, *lines) for b, lines in RUN.items()}),
    "doctor --http": (["doctor", "--http"], {b: _fails(1, *lines) for b, lines in RUN_HTTP.items()}),
    # reconcile does not use the app token or the user groups
    "reconcile": (["reconcile"], {
        B1: _fails(2, "bot token wrong", "kucoin unreachable", "database unwritable"),
        B2: _fails(2, "channel missing", "bot not in channel", "master key wrong"),
        B3: _fails(2, "bot token garbage", "policy invalid", ".env lacks a variable"),
        B4: _fails(2, "slack unreachable", "kucoin unreachable")}),
    "audit verify": (["audit", "verify"], {B1: _READ[B1], B2: _STORE[B2], B3: _STORE[B3],
                                           B4: _says(0, "OK: 2 events verified")}),
    "audit tail": (["audit", "tail"], {**_READ, B2: _says(0, "kukey.started"), B4: _says(0, "kukey.started")}),
    "audit export": (["audit", "export"], {**_READ, B2: _says(0, '"action": "kukey.started"'),
                                           B4: _says(0, '"action": "kukey.started"')}),
    "totp reset": (["totp", "reset", APPROVER], {**_STORE, B4: _says(0, f"kukey: reset {APPROVER}")}),
    "rekey": (["rekey", "--new-key-file", "new.key"], {
        **_STORE, B4: _says(0, "kukey: re-encrypted 0 passphrases, 1 TOTP seed")}),
    "keygen": (["keygen"], {EVERYTHING.name: _says(0, "kukey: a new master key is on stdout")}),
    "policy check": (["policy", "check", "policy.toml"], {
        B2: _says(0, "OK: policy.toml: 1 rule"),
        EVERYTHING.name: _says(1, "policy.toml: approvals_channel: must be a Slack channel id")}),
}
CELLS = {**BUNDLES, EVERYTHING.name: EVERYTHING}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["masters"][0]["permissions"] = ["General"]  # no WARN: the master key has what kukey needs only
    root = tmp_path_factory.mktemp("matrix")
    with KukeyWorld(home=root, run_bot=False, clock=SystemClock(), sandbox_kwargs={"seed": seed}) as world:
        world.fake.add_channel(NO_BOT_CHANNEL, "no-bot-here", members=[APPROVER])
        template = root / "template" / "kukey.db"
        template.parent.mkdir()
        _write_database(template, world.master_key)
        yield Matrix(world, template, _closed_port(), root)


def _write_database(path: Path, master_key: str) -> None:
    """A database in use: two audit events and one TOTP enrollment, under the world's master key."""
    import base64

    master = base64.b64decode(master_key)
    engine = make_engine(f"sqlite:///{path}")
    try:
        init_db(engine)
        clock = FakeClock(datetime.now(UTC))
        with session_scope(engine) as s:
            audit = AuditLog(master, clock)
            audit.record(s, "kukey.started", actor="kukey")
            audit.record(s, "totp.enrolled", actor=APPROVER)
            s.add(Enrollment(user_id=APPROVER, seed_enc=SecretBox(master).encrypt(
                Secret("JBSWY3DPEHPK3PXP"), aad=f"totp:{APPROVER}"), created_at=clock.now()))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Seen:
    code: int | None
    output: str


def _run(matrix: Matrix, command: str, cell: Cell) -> tuple[Seen, Path]:
    args = COMMANDS[command][0]
    home, env = matrix.home(command, cell)
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=home, env=env, text=True, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return Seen(done.returncode, done.stdout), home


def _failure_lines(out: str) -> list[str]:
    """The lines that report a problem: doctor's FAIL lines, or a refusal's `kukey: ...` lines."""
    return [line for line in out.splitlines() if line.startswith("FAIL ") or (
        line.startswith("kukey: ") and not line.startswith("kukey: warning:") and "did not start" not in line)]


def _problems(command: str, cell: str, expect: Expect, seen: Seen, home: Path, port: int) -> list[str]:
    out = seen.output
    found = []
    if "Traceback" in out or _CLASS_DUMP.search(out) or "unexpected error" in out:
        found.append("a traceback or an exception dump")
    if seen.code != expect.code:
        found.append(f"exit {seen.code}, expected {expect.code}")
    expected = [text.format(home=home, port=port) for text in expect.lines]
    for line in expected:
        holding = [text for text in out.splitlines() if line in text]
        if len(holding) != 1:
            found.append(f"{len(holding)} lines hold {line!r}, expected exactly one")
    others = (text.format(home=home, port=port) for text in PROBLEM.values())
    found += [f"it reports {line!r}, which it does not touch" for line in others
              if line not in expected and line in out]
    if expect.strict and len(_failure_lines(out)) != len(expect.lines):
        found.append(f"{len(_failure_lines(out))} problem lines, expected {len(expect.lines)}")
    if command.startswith("run") and "connected" in out:
        found.append("kukey run said it connected")
    return [f"`kukey {command}` with {cell}: {'; '.join(found)}\n    " + out.replace("\n", "\n    ")] if found else []


def test_each_misconfiguration_gives_one_clear_line_and_the_right_exit_code(matrix: Matrix) -> None:
    """Every subcommand, under each misconfiguration, prints one clear line per problem it checks (and
    succeeds on its own terms when it does not touch the misconfigured part) with the right exit code,
    and never a traceback."""
    cells = [(command, name, expect) for command, (_, expected) in COMMANDS.items()
             for name, expect in expected.items()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = [pool.submit(_run, matrix, command, CELLS[name]) for command, name, _ in cells]
        problems = [p for (command, name, expect), run in zip(cells, runs, strict=True)
                    for p in _problems(command, name, expect, *run.result(), matrix.closed_port)]
    assert not problems, "\n".join(problems)
