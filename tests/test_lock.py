"""The lock files pin, with hashes, a version of every third-party package pyproject asks for, and nothing
the production image would not need; make install and the Docker image install from them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "requirements" / "runtime.txt"
DEV = ROOT / "requirements" / "dev.txt"
SANDBOX_IN = ROOT / "requirements" / "sandbox.in"
OURS = {"kukey", "kukey-sandbox"}
DEV_ONLY = {"pytest", "hypothesis", "ruff", "mypy", "kucoin-universal-sdk", "pip-tools", "websockets"}


def pins(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every `name==version \\ --hash=...` entry."""
    found: dict[str, tuple[str, int]] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8"))
    for entry in entries:
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", entry)
        if match:
            found[canonicalize_name(match.group(1))] = (match.group(2), entry.count("--hash=sha256:"))
    return found


def project(path: Path) -> dict[str, list[str]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    return {"": data.get("dependencies", []), **data.get("optional-dependencies", {})}


def _unmet(requirements: list[str], locked: dict[str, tuple[str, int]]) -> list[str]:
    problems = []
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in OURS:
            continue
        if name not in locked:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(locked[name][0], prereleases=True):
            problems.append(f"{req} is not met by the locked {locked[name][0]}")
    return problems


def test_runtime_lock_covers_the_dependencies_with_hashes() -> None:
    """Every runtime dependency is pinned in requirements/runtime.txt at a version it accepts, each pin has
    hashes, and no test or dev tool is in it (the image installs exactly this file)."""
    locked = pins(RUNTIME)
    assert _unmet(project(ROOT / "pyproject.toml")[""], locked) == []
    assert all(count >= 1 for _, count in locked.values()), locked
    assert not {canonicalize_name(n) for n in DEV_ONLY} & set(locked)


def test_dev_lock_covers_runtime_sandbox_and_dev_tools() -> None:
    """requirements/dev.txt pins kukey's runtime and dev dependencies and the sandbox's, at the same versions
    as the runtime lock where both have them, every pin with hashes."""
    runtime, dev = pins(RUNTIME), pins(DEV)
    ours = project(ROOT / "pyproject.toml")
    assert _unmet(ours[""] + ours["dev"], dev) == []
    assert _unmet(project(ROOT / "sandbox" / "pyproject.toml")[""], dev) == []
    assert all(count >= 1 for _, count in dev.values())
    assert {name: v for name, (v, _) in runtime.items()} == {name: dev[name][0] for name in runtime}


def test_sandbox_input_lists_the_sandbox_dependencies() -> None:
    """requirements/sandbox.in (the lock's input for the sandbox) says what sandbox/pyproject.toml says."""
    listed = sorted(line.strip() for line in SANDBOX_IN.read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    declared = sorted(r for r in project(ROOT / "sandbox" / "pyproject.toml")[""]
                      if canonicalize_name(Requirement(r).name) not in OURS)
    assert listed == declared


def test_installs_use_the_locks() -> None:
    """make install installs the dev lock with --require-hashes; the Dockerfile the runtime lock."""
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements/dev.txt" in makefile
    assert "--no-deps" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("requirements/runtime.txt") >= 2 and "--require-hashes" in dockerfile
