"""A Slack and a KuCoin whose TLS certificates this host does not trust (a TLS-inspecting proxy whose CA is not
in kukey's bundle): `kukey doctor` and `kukey run`, in both transports, as real processes, say so in one line
each, with the fix, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.cli.startup import REFUSED
from bot.domain.clock import SystemClock
from kukey_sandbox.world import KukeyWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), slack_tls=True, kucoin_tls=True) as w:
        yield w


def test_doctor_and_run_name_an_untrusted_certificate(world: KukeyWorld) -> None:
    """Without SSL_CERT_FILE naming the run's CA, every command's Slack and KuCoin checks fail on the
    certificate, once each, and nothing else fails."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(world.home), "LANG": "C.UTF-8",
           **{k: v for k, v in world.env().items() if k != "SSL_CERT_FILE"}}
    commands = {"doctor": ["doctor"], "run": ["run"], "run --http": ["run", "--http", "--port", "0"]}

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=world.home, capture_output=True,
                              text=True, timeout=60, check=False)

    with ThreadPoolExecutor(len(commands)) as pool:
        done = dict(zip(commands, pool.map(run, commands.values()), strict=True))
    for name, result in done.items():
        out = result.stdout + result.stderr
        assert result.returncode == (1 if name == "doctor" else REFUSED), (name, out)
        assert "Traceback" not in out, (name, out)
        problems = [f"slack bot token: {world.fake.api_url}: its TLS certificate is not trusted here (unable to get "
                    "local issuer certificate)",
                    f"kucoin key: KuCoin's TLS certificate at {world.sandbox.url} is not trusted here (unable to get "
                    "local issuer certificate)."]
        said = [line.removeprefix("FAIL ").removeprefix("kukey: ").split("; fix: ")[0] for line in out.splitlines()
                if line.startswith(("FAIL ", "kukey: ")) and not line.startswith("kukey: run did not start")
                and "doctor: " not in line]
        assert said == problems, (name, out)
        assert out.count("point SSL_CERT_FILE (or SSL_CERT_DIR) at a CA bundle") == 2, (name, out)
    assert world.fake.calls() == [] and world.sandbox.call_counts() == {}
