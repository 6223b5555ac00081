"""deploy/kubernetes/: valid against the Kubernetes schemas (offline) and true to the node.

The schemas ship inside kubernetes-validate, so no cluster and no network are needed. The
probes are then tried on a real node whose Redis is down: liveness must pass, readiness fail.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from service.config import Settings
from tests.support.processes import ServiceProcess, redis_process, service_process

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes still common on managed clusters, and the newest the schemas know.
VERSIONS = ("1.29", latest_version())
SECRET_VARIABLES = ("BREAKING_REDIS_URL", "BREAKING_EDITOR_TOKENS")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{doc['kind']}", doc)
        for path in sorted(MANIFESTS.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _documents(path)
    ]


RESOURCES = _resources()


def _one(kind: str, name: str = "breaking-push") -> dict[str, Any]:
    [found] = [d for _, d in RESOURCES if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return _one("Deployment")


@pytest.fixture(scope="module")
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [node] = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = node
    return found


def _drain_seconds() -> int:
    """How long the node itself drains after SIGTERM (uvicorn's graceful shutdown)."""
    source = (ROOT / "service" / "server.py").read_text()
    match = re.search(r"timeout_graceful_shutdown=(\d+)", source)
    assert match, "service/server.py no longer states its drain time"
    return int(match[1])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "resource"), RESOURCES, ids=[name for name, _ in RESOURCES])
def test_manifest_is_valid_kubernetes(name: str, resource: dict[str, Any], version: str) -> None:
    # strict: a misspelt field is an error, not silently ignored by the API server.
    kubernetes_validate.validate(resource, version, strict=True)


def test_validation_rejects_a_broken_manifest(deployment: dict[str, Any]) -> None:
    """The check above can fail: a misspelt probe field is caught."""
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    probe = broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_applies_the_node_manifests(container: dict[str, Any]) -> None:
    [kustomization] = _documents(MANIFESTS / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert {"deployment.yaml", "service.yaml", "pdb.yaml"} <= listed
    assert all((MANIFESTS / name).is_file() for name in listed)
    # redis.yaml is an opt-in example: trials only, so never applied by default.
    assert "redis.yaml" not in listed
    [image] = kustomization["images"]
    assert image["name"] == container["image"].partition(":")[0], "the override must match"


def test_service_and_budget_select_the_deployment_pods(deployment: dict[str, Any]) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        _one("Service")["spec"]["selector"],
        _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()


def test_service_targets_the_container_port(container: dict[str, Any]) -> None:
    [port] = _one("Service")["spec"]["ports"]
    [container_port] = container["ports"]
    assert port["targetPort"] == container_port["name"]
    assert container["args"][-2:] == ["--port", str(container_port["containerPort"])]
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"


def test_disruptions_move_one_node_of_subscribers_at_a_time(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    assert _one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert spec["replicas"] >= 3, "one node away still leaves two to take its subscribers"
    rolling = spec["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)
    assert spec["minReadySeconds"] > 0


def test_grace_period_covers_the_prestop_wait_and_the_drain(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    wait = int(command[1])
    assert wait >= 3, "endpoints take a few seconds to drop a terminating pod"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > wait + _drain_seconds()


def test_probes_name_the_node_endpoints(container: dict[str, Any]) -> None:
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    liveness = container["livenessProbe"]
    # A few missed checks (a long fan-out, a GC pause) must not restart the node.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30


def test_environment_names_real_settings_and_keeps_secrets_out(
    container: dict[str, Any],
) -> None:
    known = {f"BREAKING_{name.upper()}" for name in Settings.model_fields}
    env = {item["name"]: item for item in container["env"]}
    assert set(env) <= known, f"unknown variables: {set(env) - known}"
    for name in SECRET_VARIABLES:
        assert "value" not in env[name], f"{name} may hold a password: from a Secret"
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "breaking-push"


def test_resources_reserve_a_core_and_cap_memory_only(container: dict[str, Any]) -> None:
    resources = container["resources"]
    assert resources["requests"]["cpu"] == "1", "a node is one event loop: one core"
    assert "cpu" not in resources.get("limits", {}), "throttling delays every subscriber"
    assert "memory" in resources["requests"]
    assert "memory" in resources["limits"]


def test_runs_as_the_image_unprivileged_user(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001, "the Dockerfile's user"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def _probe(node: ServiceProcess, probe: dict[str, Any]) -> int:
    """What the kubelet would get: the status of the probe's GET within its timeout."""
    path = probe["httpGet"]["path"]
    return httpx.get(f"{node.url}{path}", timeout=probe["timeoutSeconds"]).status_code


def test_liveness_passes_and_readiness_fails_while_redis_is_down(
    container: dict[str, Any],
) -> None:
    """The probes as written, on a running node whose Redis goes away: not ready, still alive."""
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    with redis_process() as redis, service_process(redis.url) as node:
        assert (_probe(node, readiness), _probe(node, liveness)) == (200, 200)
        redis.stop()
        deadline = time.monotonic() + 10
        while _probe(node, readiness) == 200:
            assert time.monotonic() < deadline, "readiness kept passing without Redis"
            time.sleep(0.05)
        assert _probe(node, readiness) == 503
        for _ in range(liveness["failureThreshold"]):
            assert _probe(node, liveness) == 200, "a Redis outage would restart the pod"


def test_redis_example_persists_with_aof_and_a_password() -> None:
    statefulset = _one("StatefulSet", "breaking-push-redis")
    [redis] = statefulset["spec"]["template"]["spec"]["containers"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--requirepass" in command
    assert redis["volumeMounts"][0]["mountPath"] == "/data"
    assert statefulset["spec"]["volumeClaimTemplates"]
