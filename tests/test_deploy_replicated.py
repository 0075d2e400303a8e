"""The replicated deployment files tell the truth: the Kubernetes manifests (two replicas on PostgreSQL) and
the Docker Compose file use exactly the variables, secret files, probes and commands kukey and its image
use, migrate before the replicas start, and keep the runtime role's GRANTs equal to docs/postgresql.md's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

import bot
from bot.config import SECRET_VARIABLES
from tests.test_deploy import ROOT, _container, _docs, _env, _mounts
from tests.test_env_example import variables_read_by_config

REPLICATED = ROOT / "deploy" / "kubernetes" / "replicated"
COMPOSE = ROOT / "deploy" / "compose"
IMAGE = f"kukey:{bot.__version__}"
FILE_SECRETS = {f"{name}_FILE" for name in SECRET_VARIABLES}


def _created_secret_files(secret: str) -> set[str]:
    """The file names `kubectl create secret generic <secret> --from-file=NAME=...` gives, per the
    kustomization's instructions."""
    text = (REPLICATED / "kustomization.yaml").read_text(encoding="utf-8")
    commands = [c.split("\n") for c in re.split(r"kubectl create secret generic ", text)[1:]]
    named = [lines for lines in commands if lines[0].startswith(secret + " ")]
    assert len(named) == 1, f"the kustomization says how to create {secret} once"
    lines = named[0]
    length = next(i for i, line in enumerate(lines) if not line.rstrip().endswith("\\")) + 1  # the continued lines
    return set(re.findall(r"--from-file=([a-z-]+)=", "\n".join(lines[:length])))


def test_two_replicas_roll_one_at_a_time_with_probes() -> None:
    """Two replicas, replaced by a rolling update that never goes below two ready pods, probes on /livez and
    /readyz on the port KUKEY_METRICS_PORT names, and a PodDisruptionBudget keeping one up."""
    deployment = _docs(REPLICATED / "deployment.yaml")[0]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate" and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = _container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["ops"]) == _env(container)["KUKEY_METRICS_PORT"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "ops"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert container["image"] == IMAGE and container["args"] == ["run"]
    pdb = _docs(REPLICATED / "pdb.yaml")[0]
    assert pdb["kind"] == "PodDisruptionBudget" and 1 <= pdb["spec"]["minAvailable"] < spec["replicas"]
    assert pdb["spec"]["selector"] == spec["selector"]
    resources = yaml.safe_load((REPLICATED / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    assert all((REPLICATED / name).is_file() for name in resources)


def test_replicas_read_every_secret_and_the_database_url_from_files() -> None:
    """Every secret, the database URL (it holds a password) included, comes from a mounted Secret file named
    by its NAME_FILE variable; the kustomization's `kubectl create secret` makes exactly those files; no
    variable is one kukey would ignore."""
    deployment = _docs(REPLICATED / "deployment.yaml")[0]
    env = _env(_container(deployment))
    secret_path, secret = _mounts(deployment)["secrets"]
    assert not set(env) & set(SECRET_VARIABLES), "secrets must come from files"
    files = {name: value for name, value in env.items() if name.endswith("_FILE")}
    optional = {"SLACK_SIGNING_SECRET_FILE",  # Socket Mode: no signing secret
                "KUKEY_AUDIT_FORWARD_FILE", "KUKEY_AUDIT_FORWARD_SECRET_FILE"}  # the audit stream is off by default
    assert set(files) == FILE_SECRETS - optional
    assert all(value.startswith(secret_path + "/") for value in files.values())
    assert _created_secret_files(secret["secret"]["secretName"]) == {Path(p).name for p in files.values()}
    assert set(env) - variables_read_by_config() == set()


def test_the_migration_job_upgrades_as_the_owner_from_a_file() -> None:
    """The migration Job runs `kukey db upgrade` once (no restarts), on the Deployment's image, with the
    owner's database URL from a Secret file of its own, which the kustomization says how to create."""
    job = _docs(REPLICATED / "migration-job.yaml")[0]
    assert job["kind"] == "Job"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"] == ["db", "upgrade"]
    assert container["image"] == _container(_docs(REPLICATED / "deployment.yaml")[0])["image"]
    env = _env(container)
    assert set(env) == {"KUKEY_DATABASE_URL_FILE"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = container["volumeMounts"]
    assert env["KUKEY_DATABASE_URL_FILE"].startswith(mount["mountPath"] + "/")
    owner_secret = volumes[mount["name"]]["secret"]["secretName"]
    assert _created_secret_files(owner_secret) == {Path(env["KUKEY_DATABASE_URL_FILE"]).name}


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_two_replicas_after_the_migration() -> None:
    """Compose: the database healthy, then `kukey db upgrade` (one-shot), then the GRANTs (one-shot), then
    two kukey replicas with a healthcheck on /readyz at KUKEY_METRICS_PORT."""
    services = _compose()["services"]
    kukey, migrate, grants = services["kukey"], services["migrate"], services["grants"]
    assert kukey["deploy"]["replicas"] == 2 and kukey["command"] == ["run"] and kukey["image"] == IMAGE
    assert migrate["command"] == ["db", "upgrade"] and migrate["image"] == IMAGE
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert grants["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert kukey["depends_on"] == {"grants": {"condition": "service_completed_successfully"}}
    assert migrate["restart"] == grants["restart"] == "no"
    probe = " ".join(kukey["healthcheck"]["test"])
    assert f"127.0.0.1:{kukey['environment']['KUKEY_METRICS_PORT']}/readyz" in probe
    assert "pg_isready" in services["db"]["healthcheck"]["test"]


def test_compose_passes_every_secret_as_a_file() -> None:
    """Compose: every secret, both database URLs included, is a Compose secret from ./secrets/ read through
    its NAME_FILE variable at /run/secrets/<name>; the runtime and the owner URL go to different services;
    no variable is one kukey would ignore."""
    compose = _compose()
    declared = compose["secrets"]
    assert all(spec["file"] == f"./secrets/{name}" for name, spec in declared.items())
    for service in ("kukey", "migrate"):
        spec = compose["services"][service]
        env = spec["environment"]
        assert not set(env) & set(SECRET_VARIABLES), f"{service}: secrets must come from files"
        assert set(env) - variables_read_by_config() == set()
        for name, path in env.items():
            if name.endswith("_FILE"):
                secret = path.removeprefix("/run/secrets/")
                assert secret in spec["secrets"] and secret in declared, (service, name)
    assert compose["services"]["kukey"]["environment"]["KUKEY_DATABASE_URL_FILE"] == "/run/secrets/database-url"
    owner_url = {"KUKEY_DATABASE_URL_FILE": "/run/secrets/database-owner-url"}
    assert compose["services"]["migrate"]["environment"] == owner_url
    assert "database-owner-url" not in compose["services"]["kukey"]["secrets"]


def _sql(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("--")]


def test_compose_grants_are_the_documented_block() -> None:
    """grants.sql holds exactly docs/postgresql.md's GRANT block, for the role the init script creates."""
    docs = (ROOT / "docs" / "postgresql.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```sql\n(.*?)```", docs, re.S) if "GRANT CONNECT" in b)
    assert _sql((COMPOSE / "grants.sql").read_text(encoding="utf-8")) == _sql(block)
    assert "CREATE ROLE kukey_app LOGIN" in (COMPOSE / "initdb" / "10-kukey-app-role.sh").read_text(encoding="utf-8")
