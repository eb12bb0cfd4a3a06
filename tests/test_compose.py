"""Static checks of the production stack (docker-compose.yml, deploy/) where no Docker engine runs.

Each test reads the files as written; none starts a container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.validators import validator_for

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY_README = REPO / "deploy/README.md"
COMPOSE_SCHEMA = REPO.parent / "shared/schemas/compose-spec.json"

Service = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found: dict[str, Service] = compose["services"]
    return found


def port_mappings(service: Service) -> Iterator[tuple[str | None, str | None, str]]:
    """(host_ip, host_port, container_port) of each `ports:` entry; None where it is omitted.

    Short syntax is ``[[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]``; long syntax is a mapping.
    """
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = entry.get("published")
            yield (
                entry.get("host_ip"),
                None if published is None else str(published),
                str(entry["target"]),
            )
            continue
        *host, container = str(entry).split("/")[0].rsplit(":", 2)
        host_ip, host_port = ([None, None, *host])[-2:]
        yield host_ip, host_port, container


def volume_mounts(service: Service) -> Iterator[tuple[str, str | None]]:
    """(type, source) of each `volumes:` entry: type is "bind", "volume" (named) or another."""
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            yield entry["type"], entry.get("source")
            continue
        parts = entry.split(":")
        if len(parts) == 1:  # a container path alone: an anonymous volume
            yield "volume", None
        elif parts[0].startswith((".", "/", "~")):
            yield "bind", parts[0]
        else:
            yield "volume", parts[0]


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(
            f"{COMPOSE_SCHEMA} is absent: the Compose Specification schema comes from "
            "../shared, which only CI and developers have"
        )
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    # No format_checker: `format` stays an annotation, as the compose tools themselves treat it.
    validator = validator_for(schema, default=Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in errors
    )


def test_compose_file_has_no_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "`version:` is obsolete in the Compose Specification"


def test_every_build_context_and_its_dockerfile_exist(services: dict[str, Service]) -> None:
    missing = []
    for name, service in services.items():
        if "build" not in service:
            continue
        build = service["build"]
        if isinstance(build, str):
            build = {"context": build}
        context = REPO / build.get("context", ".")
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        missing += [f"{name}: {path}" for path in (context, dockerfile) if not path.exists()]
    assert not missing, f"build paths missing from the repository: {missing}"


def test_every_bind_mounted_host_path_exists_in_the_repository(
    services: dict[str, Service],
) -> None:
    missing = []
    for name, service in services.items():
        for kind, source in volume_mounts(service):
            if kind != "bind":
                continue
            path = (REPO / str(source)).resolve()
            if not (path.is_relative_to(REPO) and path.exists()):
                missing.append(f"{name}: {source}")
    assert not missing, f"bind mounts whose host path is not in the repository: {missing}"


def test_every_published_port_is_bound_to_localhost(services: dict[str, Service]) -> None:
    exposed = [
        f"{name}: {host_ip or '0.0.0.0'}:{host_port or '<random>'}->{container}"
        for name, service in services.items()
        for host_ip, host_port, container in port_mappings(service)
        if host_ip != "127.0.0.1"
    ]
    assert not exposed, f"ports published beyond 127.0.0.1: {exposed}"


def test_deploy_readme_mentions_every_port(services: dict[str, Service]) -> None:
    readme = DEPLOY_README.read_text(encoding="utf-8")
    ports = {
        port
        for service in services.values()
        for _, host_port, container in port_mappings(service)
        for port in (host_port, container)
        if port is not None
    } | {str(port) for service in services.values() for port in service.get("expose", [])}
    unmentioned = sorted(port for port in ports if not re.search(rf"\b{re.escape(port)}\b", readme))
    assert not unmentioned, f"ports missing from {DEPLOY_README.name}: {unmentioned}"


def test_deploy_readme_mentions_every_named_volume(compose: dict[str, Any]) -> None:
    readme = DEPLOY_README.read_text(encoding="utf-8")
    unmentioned = [name for name in compose.get("volumes") or {} if f"`{name}`" not in readme]
    assert not unmentioned, f"named volumes missing from {DEPLOY_README.name}: {unmentioned}"


def test_every_named_volume_mounted_is_declared(
    compose: dict[str, Any],
    services: dict[str, Service],
) -> None:
    declared = set(compose.get("volumes") or {})
    undeclared = [
        f"{name}: {source}"
        for name, service in services.items()
        for kind, source in volume_mounts(service)
        if kind == "volume" and source is not None and source not in declared
    ]
    assert not undeclared, f"named volumes not declared under top-level `volumes:`: {undeclared}"


def test_worker_publishes_no_fixed_host_port(services: dict[str, Service]) -> None:
    fixed = [f"{ip or ''}:{port}" for ip, port, _ in port_mappings(services["worker"]) if port]
    assert not fixed, f"worker publishes host ports {fixed}: a second replica could not bind them"


def test_worker_has_no_container_name(services: dict[str, Service]) -> None:
    assert (
        "container_name" not in services["worker"]
    ), "a fixed container_name allows one worker container only; --scale worker=N needs none"


def test_every_pulled_image_is_pinned_to_a_tag_other_than_latest(
    services: dict[str, Service],
) -> None:
    built_here = {service.get("image") for service in services.values() if "build" in service}
    unpinned = []
    for name, service in services.items():
        image = service.get("image")
        if image is None or image in built_here or "@" in image:  # built locally, or a digest
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if tag in ("", "latest"):
            unpinned.append(f"{name}: {image}")
    assert not unpinned, f"images not pinned to a version tag: {unpinned}"


def test_prometheus_scrapes_the_worker_metrics_port(services: dict[str, Service]) -> None:
    mounted = [src for kind, src in volume_mounts(services["prometheus"]) if kind == "bind"]
    config_files = [REPO / src for src in mounted if src is not None and src.endswith(".yml")]
    assert config_files, "prometheus mounts no configuration file from the repository"
    config = yaml.safe_load(config_files[0].read_text(encoding="utf-8"))
    metrics_port = int(services["worker"]["environment"]["STOREWATCH_METRICS_PORT"])
    dns_targets = [
        (name, sd.get("type"), sd.get("port"))
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    ]
    assert ("worker", "A", metrics_port) in dns_targets, (
        f"no dns_sd_configs entry resolves the worker service on port {metrics_port}: "
        f"{dns_targets}"
    )


def container_mounts(service: Service) -> Iterator[tuple[Path, str]]:
    """(host path in the repository, container path) of each bind mount of a service."""
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry["type"] == "bind":
                yield REPO / entry["source"], entry["target"]
            continue
        parts = entry.split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
            yield REPO / parts[0], parts[1]


def host_path(service: Service, container_path: str) -> Path | None:
    """The repository file or directory a container path of the service comes from."""
    for source, target in container_mounts(service):
        target = target.rstrip("/")
        if container_path == target:
            return source
        if container_path.startswith(target + "/"):
            return source / container_path[len(target) + 1 :]
    return None


def test_prometheus_loads_the_alert_rules_it_mounts(services: dict[str, Service]) -> None:
    prometheus = services["prometheus"]
    config_path = host_path(prometheus, "/etc/prometheus/prometheus.yml")
    assert config_path is not None, "prometheus.yml is not mounted at /etc/prometheus"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert config.get("rule_files"), "prometheus.yml loads no rule file"
    for pattern in config["rule_files"]:
        in_container = pattern if pattern.startswith("/") else f"/etc/prometheus/{pattern}"
        directory, _, glob = in_container.rpartition("/")
        source = host_path(prometheus, directory)
        assert source is not None, f"rule_files {pattern!r}: {directory} is not mounted"
        rule_files = sorted(source.glob(glob))
        assert rule_files, f"rule_files {pattern!r} matches nothing in {source}"
        for path in rule_files:
            groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
            assert any(rule.get("alert") for group in groups for rule in group["rules"]), path


def test_grafana_datasource_points_at_the_prometheus_service(services: dict[str, Service]) -> None:
    grafana = services["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning is not None, "grafana mounts no provisioning directory"
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.yml"))
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    ]
    prometheus_ports = {container for _, _, container in port_mappings(services["prometheus"])}
    urls = [source["url"] for source in datasources if source["type"] == "prometheus"]
    assert any(
        re.fullmatch(rf"http://prometheus:({'|'.join(prometheus_ports)})/?", url) for url in urls
    ), f"no datasource reaches the prometheus service: {urls}"


def test_grafana_loads_every_dashboard_file_with_the_provisioned_datasource(
    services: dict[str, Service],
) -> None:
    grafana = services["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning is not None
    providers = [
        provider
        for path in sorted((provisioning / "dashboards").glob("*.yml"))
        for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    ]
    assert providers, "no dashboard provider"
    uids = {
        source["uid"]
        for path in sorted((provisioning / "datasources").glob("*.yml"))
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    }
    for provider in providers:
        folder = host_path(grafana, provider["options"]["path"])
        assert folder is not None, f"dashboard path {provider['options']['path']} is not mounted"
        dashboards = sorted(folder.glob("*.json"))
        assert dashboards, f"no dashboard JSON in {folder}"
        for path in dashboards:
            dashboard = json.loads(path.read_text(encoding="utf-8"))
            used = {
                target["datasource"]["uid"]
                for panel in dashboard["panels"]
                for target in panel.get("targets", [])
            }
            assert used <= uids, f"{path.name} uses datasources {used - uids}, provisioned {uids}"
    home = grafana.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        home_path = host_path(grafana, home)
        assert home_path is not None and home_path.is_file(), f"home dashboard {home} missing"


def test_every_monitoring_config_file_is_mounted(services: dict[str, Service]) -> None:
    """A file under deploy/prometheus or deploy/grafana that no service mounts is dead config."""
    mounted = [
        source.resolve() for service in services.values() for source, _ in container_mounts(service)
    ]
    configs = [
        path
        for folder in ("deploy/prometheus", "deploy/grafana")
        for path in (REPO / folder).rglob("*")
        if path.suffix in (".yml", ".yaml", ".json")
    ]
    unmounted = [
        str(path.relative_to(REPO))
        for path in configs
        if not any(path.resolve().is_relative_to(m) for m in mounted)
    ]
    assert not unmounted, f"config files no service mounts: {unmounted}"


def test_the_demo_writes_every_output_on_a_named_volume_its_user_owns(
    services: dict[str, Service], compose: dict[str, Any]
) -> None:
    """What the demo wrote outlives its container (`run --rm`): every file it names is under
    the mount of a declared named volume, mounted at the image user's home (a new named volume
    takes that folder's owner, so the non-root user can write to it)."""
    demo = services["simulate"]
    mounts = {
        entry.split(":")[1]: entry.split(":")[0]
        for entry in demo["volumes"]
        if isinstance(entry, str) and entry.count(":") >= 1
    }
    assert all(name in compose["volumes"] for name in mounts.values())
    script = " ".join(demo["command"])
    written = re.findall(r"(?:--out|--labels|--alerts-out|--report|tee)\s+(\S+)", script)
    assert len(written) >= 5, written
    assert [path for path in written if not any(path.startswith(m + "/") for m in mounts)] == []
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    home = re.search(r"^WORKDIR\s+(\S+)", dockerfile.split("USER ")[-1], re.M)
    assert home and "--create-home" in dockerfile and home[1] in mounts
