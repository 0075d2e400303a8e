"""The deployment files tell the truth: the Kubernetes manifests and the README's `docker run` line use
exactly the variables, paths and ports that kukey and its Docker image use."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

import bot
from bot.config import SECRET_VARIABLES
from tests.test_env_example import dockerfile_env, variables_read_by_config
from tests.test_packaging import runtime_stage

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "deploy" / "kubernetes" / "single"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def _mounts(deployment: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """volume name -> (mount path, volume source)"""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return {m["name"]: (m["mountPath"], volumes[m["name"]]) for m in _container(deployment)["volumeMounts"]}


def test_single_replica_deployment_on_sqlite() -> None:
    """One replica, replaced with Recreate (SQLite allows one writer), its database on a claimed volume at
    the path KUKEY_DATABASE_URL names, probes on /livez and /readyz on KUKEY_METRICS_PORT, non-root."""
    deployment = _docs(SINGLE / "deployment.yaml")[0]
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = _container(deployment)
    env = _env(container)
    mounts = _mounts(deployment)
    data_path, data = mounts["data"]
    assert env["KUKEY_DATABASE_URL"] == f"sqlite:///{data_path}/kukey.db"
    assert data["persistentVolumeClaim"]["claimName"] == _docs(SINGLE / "pvc.yaml")[0]["metadata"]["name"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["ops"]) == env["KUKEY_METRICS_PORT"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "ops"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    policy_path, policy = mounts["policy"]
    assert env["KUKEY_POLICY"] == f"{policy_path}/policy.toml" and "configMap" in policy
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["image"] == f"kukey:{bot.__version__}"


def test_secrets_are_mounted_files_named_by_the_file_variables() -> None:
    """Every secret reaches kukey as a file from the Secret volume through its NAME_FILE variable (never as a
    value in the manifest), and the kustomization's `kubectl create secret` creates exactly those files."""
    deployment = _docs(SINGLE / "deployment.yaml")[0]
    env = _env(_container(deployment))
    secret_path, secret = _mounts(deployment)["secrets"]
    assert "secret" in secret
    secrets = set(SECRET_VARIABLES) - {"KUKEY_DATABASE_URL"}  # a sqlite:/// URL holds no password
    assert not set(env) & secrets, "secrets must come from files"
    assert env["KUKEY_DATABASE_URL"].startswith("sqlite:///")
    files = {name: value for name, value in env.items() if name.endswith("_FILE")}
    assert all(value.startswith(secret_path + "/") for value in files.values())
    needed = {"KUKEY_MASTER_KEY_FILE", "SLACK_BOT_TOKEN_FILE", "SLACK_APP_TOKEN_FILE", "KUCOIN_API_KEY_FILE",
              "KUCOIN_API_SECRET_FILE", "KUCOIN_API_PASSPHRASE_FILE"}
    assert set(files) == needed
    created = set(re.findall(r"--from-file=([a-z-]+)=", (SINGLE / "kustomization.yaml").read_text()))
    assert created == {Path(p).name for p in files.values()}


def test_manifests_use_only_variables_kukey_reads() -> None:
    """No manifest sets a variable kukey would ignore (a typo would silently fall back to a default)."""
    env = _env(_container(_docs(SINGLE / "deployment.yaml")[0]))
    assert set(env) - variables_read_by_config() == set()


def _readme_docker_run() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("docker run ")]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_readme_docker_run_line_matches_the_image() -> None:
    """The README's `docker run` line reads .env, keeps the database on a volume at the image's /data,
    mounts the policy where the image's KUKEY_POLICY looks, publishes the image's health port and runs the
    released image; with .env.example unchanged it keeps every image default (tests/test_env_example.py)."""
    words = _readme_docker_run()
    image_env = dockerfile_env()
    volumes = [words[i + 1] for i, w in enumerate(words) if w == "-v"]
    targets = {v.split(":")[1] for v in volumes}
    assert image_env["KUKEY_POLICY"] in targets
    volume_dirs = [args for op, args in runtime_stage() if op == "VOLUME"]
    assert any("/data" in args for args in volume_dirs) and "/data" in targets
    assert image_env["KUKEY_DATABASE_URL"] == "sqlite:////data/kukey.db"
    published = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
    assert [p.rsplit(":", 1)[1] for p in published] == [image_env["KUKEY_METRICS_PORT"]]
    assert words[words.index("--env-file") + 1] == ".env"
    assert words[-1] == f"kukey:{bot.__version__}"
