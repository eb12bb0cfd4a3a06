"""Static checks of the Kubernetes manifests (deploy/k8s): they parse, the kustomization lists
files that exist, and ports, probes, configuration and secrets agree with each other and with
the worker. No cluster needed."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.config import load_settings

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy/k8s"

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def kustomization() -> Manifest:
    loaded: Manifest = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def manifests(kustomization: Manifest) -> dict[tuple[str, str], Manifest]:
    """Every object of the kustomization's resources, keyed by (kind, name)."""
    found = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text(encoding="utf-8")):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


@pytest.fixture(scope="module")
def deployment(manifests: dict[tuple[str, str], Manifest]) -> Manifest:
    return manifests[("Deployment", "storewatch-worker")]


@pytest.fixture(scope="module")
def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: Manifest = containers[0]
    return found


def worker_env(container: Manifest, manifests: dict[tuple[str, str], Manifest]) -> dict[str, Any]:
    """The container's environment: its ConfigMaps' data, then its own `env` (which wins)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update(manifests[("ConfigMap", ref["name"])]["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def test_every_yaml_file_parses() -> None:
    files = sorted(K8S.glob("*.yaml"))
    assert files
    for path in files:
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        assert docs, f"{path.name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind"} <= set(doc), f"{path.name}: {sorted(doc)}"


def test_the_kustomization_lists_files_that_exist(kustomization: Manifest) -> None:
    listed = (
        list(kustomization["resources"])
        + [
            entry.rpartition("=")[2]
            for generator in kustomization.get("configMapGenerator", [])
            for entry in generator.get("files", [])
        ]
        + [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
    )
    missing = [name for name in listed if not (K8S / name).is_file()]
    assert not missing, f"listed in kustomization.yaml but absent: {missing}"


def test_every_manifest_is_either_applied_or_an_example(kustomization: Manifest) -> None:
    applied = set(kustomization["resources"]) | {"kustomization.yaml"}
    stray = [
        p.name
        for p in K8S.glob("*.yaml")
        if p.name not in applied and not p.name.endswith(".example.yaml")
    ]
    assert not stray, f"manifests that `kubectl apply -k` would not apply: {stray}"
    assert not any(
        "secret" in name.lower() for name in kustomization["resources"]
    ), "a Secret with real credentials must not be part of the kustomization"


def test_probes_service_and_scrape_annotations_use_the_metrics_port(
    container: Manifest,
    deployment: Manifest,
    manifests: dict[tuple[str, str], Manifest],
) -> None:
    metrics_port = int(worker_env(container, manifests)["STOREWATCH_METRICS_PORT"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports.get("metrics") == metrics_port, ports

    def resolve(port: int | str) -> int:
        return ports[port] if isinstance(port, str) else port

    for probe in ("readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert resolve(http["port"]) == metrics_port, f"{probe} port {http['port']}"
        assert http["path"].startswith("/"), probe
    service = manifests[("Service", "storewatch-worker")]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for port in service["spec"]["ports"]:
        assert resolve(port["targetPort"]) == metrics_port
        assert port["port"] == metrics_port
    for scrape_hints in (
        deployment["spec"]["template"]["metadata"]["annotations"],
        service["metadata"]["annotations"],
    ):
        assert int(scrape_hints["prometheus.io/port"]) == metrics_port


def test_the_image_runs_as_the_user_and_exposes_the_port_of_the_manifests(
    container: Manifest,
    deployment: Manifest,
) -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    uid = re.search(r"useradd .*--uid (\d+)", dockerfile)
    assert uid, "the Dockerfile creates no user with a fixed uid"
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid[1])
    exposed = {int(p) for p in re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M)}
    assert {port["containerPort"] for port in container["ports"]} <= exposed


def test_the_worker_has_requests_and_limits(container: Manifest) -> None:
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind


def test_the_configuration_file_is_mounted_where_storewatch_config_names_it(
    container: Manifest,
    deployment: Manifest,
    kustomization: Manifest,
    manifests: dict[tuple[str, str], Manifest],
) -> None:
    config_path = worker_env(container, manifests)["STOREWATCH_CONFIG"]
    directory, _, filename = config_path.rpartition("/")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounted = [name for name, path in mounts.items() if path.rstrip("/") == directory]
    assert mounted, f"nothing is mounted at {directory}"
    config_map = volumes[mounted[0]]["configMap"]["name"]
    generated = {
        g["name"]: [f.rpartition("=")[0] or f for f in g.get("files", [])]
        for g in kustomization["configMapGenerator"]
    }
    assert filename in generated.get(
        config_map, []
    ), f"ConfigMap {config_map} does not carry {filename}: {generated}"


def test_the_redis_url_comes_from_a_secret_only(
    container: Manifest,
    manifests: dict[tuple[str, str], Manifest],
) -> None:
    env = worker_env(container, manifests)
    assert "secretKeyRef" in env["STOREWATCH_REDIS_URL"], env["STOREWATCH_REDIS_URL"]
    assert "redis_url" not in (K8S / "storewatch.toml").read_text(encoding="utf-8")
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    ref = env["STOREWATCH_REDIS_URL"]["secretKeyRef"]
    assert example["metadata"]["name"] == ref["name"]
    assert ref["key"] in example["stringData"]


def test_the_configuration_file_is_a_valid_storewatch_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("STOREWATCH_")]:
        monkeypatch.delenv(name)
    settings = load_settings(K8S / "storewatch.toml")
    assert settings.metrics_port == 9108
    assert settings.kafka_partitions == 6


# A month of a simulated store held in a worker's memory: 27,805 and 28,010 B in two runs of
# `pytest -s tests/test_memory.py` (its last test prints it; docs/performance.md, "Memory bounds").
STORE_IN_MEMORY_BYTES = 28_010
# An idle worker's resident memory: 158,448 kB, read from /proc/<pid>/status (VmRSS) of the
# worker `storewatch dev` starts, once it is ready.
IDLE_WORKER_BYTES = 158_448 * 1024
HEADROOM = 1.2  # models, batches in flight, the allocator's slack


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity.removesuffix(suffix)) * factor)
    return int(quantity)


def test_the_memory_limit_holds_the_stores_the_configuration_keeps_in_memory(
    container: Manifest,
    manifests: dict[tuple[str, str], Manifest],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("STOREWATCH_")]:
        monkeypatch.delenv(name)
    for name, value in worker_env(container, manifests).items():
        if isinstance(value, str) and name != "STOREWATCH_CONFIG":
            monkeypatch.setenv(name, value)
    settings = load_settings(K8S / "storewatch.toml")
    needed = settings.windows.stores_in_memory * STORE_IN_MEMORY_BYTES + IDLE_WORKER_BYTES
    resources = container["resources"]
    assert _bytes(resources["requests"]["memory"]) >= needed, "a pod scheduled where it won't fit"
    assert (
        _bytes(resources["limits"]["memory"]) >= needed * HEADROOM
    ), f"{settings.windows.stores_in_memory} stores need {needed / 2**20:.0f} MiB"
