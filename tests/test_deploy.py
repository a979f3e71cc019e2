"""The deployment files parse and agree with each other and with the image.

No container engine or cluster runs here, so these check what `docker compose`
and `kubectl` would be given: every YAML file parses, services point at each
other by the names they have, probes ask the admin port, and the policy the
Kubernetes ConfigMap carries is one the proxy accepts.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from paths import ROOT, RULES
from ruamel.yaml import YAML

from proxy.ruleset import load_rules

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
REPLICAS = DEPLOY / "compose-replicas"
YAML_FILES = sorted([ROOT / "docker-compose.yml", *DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])

# The image's paths and ports (Dockerfile; tests/test_wheel.py checks them there).
RULES_DIR = "/srv/optout/rules"
LOG_DIR = "/var/log/optout"
STATE_DIR = "/var/lib/optout"
PROXY_PORT = 8080
ADMIN_PORT = 9090

API_VERSIONS = {
    "ConfigMap": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
    "NetworkPolicy": "networking.k8s.io/v1",
}


def load_all(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path) if doc is not None]


def manifests() -> dict[str, dict[str, Any]]:
    """Kubernetes objects by "Kind/name"."""
    objects = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in load_all(path):
            if doc["kind"] != "Kustomization":
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def container() -> dict[str, Any]:
    (proxy,) = manifests()["Deployment/optout-proxy"]["spec"]["template"]["spec"]["containers"]
    return proxy


def compose(path: Path) -> dict[str, Any]:
    (doc,) = load_all(path)
    return doc


def upstream_service(service: dict[str, Any]) -> tuple[str, int]:
    match = re.fullmatch(r"http://([\w-]+):(\d+)", service["environment"]["OPTOUT_UPSTREAM"])
    assert match, service["environment"]
    return match.group(1), int(match.group(2))


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_file_parses(path: Path) -> None:
    assert load_all(path)


@pytest.mark.parametrize(
    "path", sorted(KUBERNETES.glob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_kubernetes_objects_have_kind_version_and_name(path: Path) -> None:
    for doc in load_all(path):
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]]
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"]
            labels = doc["metadata"]["labels"]
            assert "optout-proxy" in (
                labels["app.kubernetes.io/name"],
                labels.get("app.kubernetes.io/part-of"),
            )


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = load_all(KUBERNETES / "kustomization.yaml")
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_probes_ask_the_admin_port() -> None:
    proxy = container()
    ports = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert ports == {"http": PROXY_PORT, "admin": ADMIN_PORT}
    probes = {name: proxy[name]["httpGet"] for name in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "admin"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "admin"}
    assert proxy["startupProbe"]["httpGet"]["port"] == "admin"
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["OPTOUT_ADMIN"] == f"0.0.0.0:{ADMIN_PORT}"


def test_pod_runs_unprivileged_on_a_read_only_root() -> None:
    pod = manifests()["Deployment/optout-proxy"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    proxy = container()
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert proxy["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(proxy["resources"]) == {"requests", "limits"}
    volumes = {v["name"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in proxy["volumeMounts"]}
    assert set(mounts.values()) <= volumes
    assert {LOG_DIR, STATE_DIR, "/tmp", f"{RULES_DIR}/policy.yaml"} <= set(mounts)


def test_each_pod_writes_its_own_log_file() -> None:
    env = {e["name"]: e for e in container()["env"]}
    names = list(env)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["OPTOUT_LOG"]["value"] == f"{LOG_DIR}/$(POD_NAME).jsonl"
    assert names.index("POD_NAME") < names.index("OPTOUT_LOG")  # $(VAR) needs it defined first


def test_deployment_reads_the_configmaps() -> None:
    objects = manifests()
    proxy = container()
    (source,) = proxy["envFrom"]
    assert f"ConfigMap/{source['configMapRef']['name']}" in objects
    pod = objects["Deployment/optout-proxy"]["spec"]["template"]["spec"]
    (policy,) = [v for v in pod["volumes"] if "configMap" in v]
    configmap = objects[f"ConfigMap/{policy['configMap']['name']}"]
    (mount,) = [m for m in proxy["volumeMounts"] if m["name"] == policy["name"]]
    assert mount["subPath"] in configmap["data"]


def test_configmap_policy_is_accepted_with_the_shipped_agents(tmp_path: Path) -> None:
    rules = shutil.copytree(RULES, tmp_path / "rules")
    data = manifests()["ConfigMap/optout-policy"]["data"]
    (rules / "policy.yaml").write_text(data["policy.yaml"])
    ruleset = load_rules(rules)
    assert [rule.name for rule in ruleset.policy.rules] == ["block-spoofed", "block-ai-training"]


def test_configmap_environment_is_valid() -> None:
    env = manifests()["ConfigMap/optout-env"]["data"]
    assert all(isinstance(value, str) for value in env.values())  # quoted, as Kubernetes needs
    assert env["OPTOUT_UPSTREAM"].startswith(("http://", "https://"))
    for network in env["OPTOUT_TRUSTED_PROXIES"].split(","):
        ipaddress.ip_network(network.strip())


def test_service_and_autoscaler_target_the_deployment() -> None:
    objects = manifests()
    deployment = objects["Deployment/optout-proxy"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = objects["Service/optout-proxy"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    hpa = objects["HorizontalPodAutoscaler/optout-proxy"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "optout-proxy",
    }
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]


def test_compose_proxy_fronts_the_demo_site() -> None:
    services = compose(ROOT / "docker-compose.yml")["services"]
    proxy, site = services["proxy"], services["site"]
    host, port = upstream_service(proxy)
    assert host == "site"
    assert str(port) in site["expose"]
    assert f"{port}/healthz" in " ".join(site["healthcheck"]["test"])
    assert proxy["depends_on"]["site"]["condition"] == "service_healthy"
    assert f"{PROXY_PORT}:{PROXY_PORT}" in proxy["ports"]
    assert f"127.0.0.1:{ADMIN_PORT}:{ADMIN_PORT}" in proxy["ports"]
    assert {v.split(":")[1] for v in proxy["volumes"]} == {LOG_DIR, STATE_DIR}


def test_replicas_trust_only_the_balancer() -> None:
    doc = compose(REPLICAS / "docker-compose.yml")
    services = doc["services"]
    balancer = services["haproxy"]["networks"]["edge"]["ipv4_address"]
    (subnet,) = doc["networks"]["edge"]["ipam"]["config"]
    assert ipaddress.ip_address(balancer) in ipaddress.ip_network(subnet["subnet"])
    replicas = {name: s for name, s in services.items() if name.startswith("proxy-")}
    assert len(replicas) >= 2
    for replica in replicas.values():
        assert replica["environment"]["OPTOUT_TRUSTED_PROXIES"] == balancer
        assert upstream_service(replica)[0] in services
        assert "edge" in replica["networks"]
    assert "edge" not in services["site"]["networks"]


def test_replicas_write_separate_log_files_named_after_them() -> None:
    services = compose(REPLICAS / "docker-compose.yml")["services"]
    replicas = {name: s for name, s in services.items() if name.startswith("proxy-")}
    for name, replica in replicas.items():
        assert replica["hostname"] == name
        assert replica["environment"]["OPTOUT_LOG"] == f"{LOG_DIR}/{name}.jsonl"
        state = [v for v in replica["volumes"] if v.endswith(f":{STATE_DIR}")]
        assert state == [f"state-{name.removeprefix('proxy-')}:{STATE_DIR}"]


def test_haproxy_balances_every_replica_and_checks_readiness() -> None:
    services = compose(REPLICAS / "docker-compose.yml")["services"]
    replicas = sorted(name for name in services if name.startswith("proxy-"))
    config = (REPLICAS / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server (\S+) (\S+)$", config, re.MULTILINE)
    assert servers == [(name, f"{name}:{PROXY_PORT}") for name in replicas]
    assert "option httpchk GET /readyz" in config
    assert re.search(rf"default-server check port {ADMIN_PORT}\b", config)
    assert re.search(r"^\s*option forwardfor\b", config, re.MULTILINE)
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["haproxy"]["volumes"]


def test_vector_ships_the_current_and_rotated_logs_but_not_compressed_ones() -> None:
    from fnmatch import fnmatch

    from proxy.evidence.logfiles import rotated_name

    config = load_all(DEPLOY / "vector" / "vector.yaml")[0]
    source = config["sources"]["optout_access_log"]
    directory = "/var/log/optout"
    expand = [p.replace("${OPTOUT_LOG_DIR:-/var/log/optout}", directory) for p in source["include"]]
    skip = [p.replace("${OPTOUT_LOG_DIR:-/var/log/optout}", directory) for p in source["exclude"]]

    def shipped(name: str) -> bool:
        path = f"{directory}/{name}"
        return any(fnmatch(path, p) for p in expand) and not any(fnmatch(path, p) for p in skip)

    rotated = rotated_name("access.jsonl", 1_764_000_000, 42)
    assert shipped("access.jsonl")
    assert shipped(rotated)
    assert not shipped(rotated + ".gz")
    transform = config["transforms"]["optout_records"]
    assert transform["inputs"] == ["optout_access_log"]
    assert "parse_json!" in transform["source"]
    assert "event.original" in transform["source"]  # the chained bytes are kept
    assert {s["type"] for s in config["sinks"].values()} == {"elasticsearch", "loki"}
    assert all(s["inputs"] == ["optout_records"] for s in config["sinks"].values())


def test_the_pods_and_replicas_share_one_store_only_they_reach() -> None:
    from proxy.store.shared import parse_store

    objects = manifests()
    url = parse_store(objects["ConfigMap/optout-env"]["data"]["OPTOUT_STORE"])
    assert url == "redis://optout-store:6379/0"
    store = objects["Service/optout-store"]["spec"]
    assert store["ports"][0]["port"] == 6379
    (pod,) = objects["Deployment/optout-store"]["spec"]["template"]["spec"]["containers"]
    assert store["selector"].items() <= (
        objects["Deployment/optout-store"]["spec"]["template"]["metadata"]["labels"].items()
    )
    assert "--save" in pod["args"]
    assert pod["args"][pod["args"].index("--save") + 1] == ""  # no snapshots
    # The proxy's Service must not pick up the store's pods.
    proxy = objects["Service/optout-proxy"]["spec"]["selector"]
    assert not proxy.items() <= objects["Deployment/optout-store"]["metadata"]["labels"].items()
    (rule,) = objects["NetworkPolicy/optout-store"]["spec"]["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"] == proxy
    services = compose(REPLICAS / "docker-compose.yml")["services"]
    for name, replica in services.items():
        if name.startswith("proxy-"):
            assert replica["environment"]["OPTOUT_STORE"] == "redis://store:6379/0"
            assert replica["depends_on"]["store"]["condition"] == "service_healthy"
    assert services["store"]["networks"] == ["backend"]
