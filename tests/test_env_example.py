""".env.example lists exactly the variables kukey reads, each with a comment and no real value, and works
unchanged both as a local .env file and as `docker run --env-file` beside the Dockerfile's defaults."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import SECRET_VARIABLES, Settings
from bot.domain.secret import is_secret_name
from tests.test_packaging import runtime_stage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"
_LITERAL = re.compile(r"""["']((?:KUCOIN|SLACK|KUKEY)_[A-Z0-9_]+)["']""")
_ASSIGNMENT = re.compile(r"^(# )?([A-Z][A-Z0-9_]*)=(.*)$")


def variables_read_by_config() -> set[str]:
    """Every variable name that appears as a string literal in bot/config.py or bot/environment.py, and the
    NAME_FILE variant of every secret."""
    found: set[str] = set()
    for module in ("config.py", "environment.py"):
        found |= set(_LITERAL.findall((ROOT / "bot" / module).read_text(encoding="utf-8")))
    return found | {f"{name}_FILE" for name in SECRET_VARIABLES}


def example_assignments() -> dict[str, tuple[str, str, bool]]:
    """NAME -> (value, the comment line just above it or the group's comment, set?) for `NAME=...` lines
    and for commented `# NAME=...` lines (which show a default or an alternative)."""
    out: dict[str, tuple[str, str, bool]] = {}
    comment = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            name = match.group(2)
            assert name not in out, f"{name} is listed twice"
            out[name] = (match.group(3), comment, match.group(1) is None)
        elif line.startswith("# "):
            comment = line
    return out


def dockerfile_env() -> dict[str, str]:
    """The ENV defaults of the Dockerfile's runtime stage."""
    env: dict[str, str] = {}
    for op, args in runtime_stage():
        if op == "ENV":
            env.update(pair.split("=", 1) for pair in args.split() if "=" in pair)
    return env


def test_example_lists_exactly_the_variables_config_reads() -> None:
    """Every variable kukey reads is in .env.example, and .env.example lists no other."""
    read = variables_read_by_config()
    listed = set(example_assignments())
    assert len(read) >= 23
    assert read - listed == set(), f"missing from .env.example: {read - listed}"
    assert listed - read == set(), f"in .env.example but never read: {listed - read}"


def test_each_variable_has_a_comment_and_secrets_are_empty() -> None:
    """Each variable has a comment line above it (or above its group), and every secret-looking one is empty."""
    for name, (value, comment, _) in example_assignments().items():
        assert comment.startswith("# ") and len(comment) > 10, f"{name} has no comment line above it"
        if is_secret_name(name) or (name.endswith(("_KEY", "_TOKEN", "_FILE")) and name != "KUKEY_ENV_FILE"):
            assert value == "", f"{name} must be empty in the example"
        assert not value.startswith(("xox", "xapp")), name


def test_the_example_sets_nothing_the_docker_image_sets() -> None:
    """Used as `docker run --env-file .env`, the example overrides none of the image's ENV defaults: a
    variable the Dockerfile sets is only shown commented out (an uncommented `NAME=` would replace the
    image's value with an empty one in Docker)."""
    image = dockerfile_env()
    assert {"KUKEY_DATABASE_URL", "KUKEY_POLICY", "KUKEY_METRICS_PORT"} <= set(image)
    set_here = {name for name, (_, _, active) in example_assignments().items() if active}
    assert set_here & set(image) == set()


def test_the_example_as_a_dotenv_file_is_valid_configuration(tmp_path: Path) -> None:
    """Read as a .env file, and as the environment Docker makes of it on top of the image's defaults, the
    example's values pass Settings validation and leave every default in place."""
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings.from_env({"KUKEY_ENV_FILE": str(env_file)})
    assert settings.kucoin_api_url == "https://api.kucoin.com"
    assert settings.database_url == "sqlite:///kukey.db"
    assert settings.master_key is None and settings.metrics_port is None
    docker = {**dockerfile_env(), **{n: v for n, (v, _, active) in example_assignments().items() if active}}
    in_image = Settings.from_env(docker)
    assert in_image.metrics_port == 9102
    assert str(in_image.policy_path) == "/etc/kukey/policy.toml"
    assert in_image.database_url == "sqlite:////data/kukey.db"
