"""Tests of the Helm chart in helm/segmenter.

The chart is linted and rendered with helm-python-sdk (Helm's Go SDK through ctypes: no helm
binary, no cluster, no network), the rendered objects are checked field by field, and the
rendered configuration files are handed to `segmenter config check`, so the chart and the
server agree on every configuration key. Run with tests/helm/run.sh.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import helm_python as helm

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "segmenter"
RELEASE = "seg"
NAMESPACE = "crm"
FULLNAME = "seg-segmenter"

CONFIG_DIR = "/etc/segmenter/config"
KEYS_DIR = "/etc/segmenter/keys"
TLS_DIR = "/etc/segmenter/tls"

# A partial rule set, merged over the built-in rules by the server.
RULES = """\
name = "acme retail 2025"

[lifecycle]
churned_after_days = 150
new_within_days = 60

[engagement]
frequent_min = 8
"""

# What a production release sets: PostgreSQL through a Secret the operator manages, three to
# twelve pods, mutual TLS, API keys, a custom rule set, monitoring and network isolation.
PRODUCTION: dict[str, Any] = {
    "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12,
                    "targetCPUUtilizationPercentage": 60},
    "database": {"url": "", "existingSecret": "segmenter-db", "existingSecretKey": "url"},
    "auth": {
        "keys": [
            {"name": "erp", "scopes": ["classify", "write"], "key": "erp-0123456789abcdef0123456789abcdef"},
            {"name": "call-centre", "scopes": ["classify"], "key": "cc-\"quoted\"-and\\backslash-0123456789"},
        ],
        "rateLimitPerSecond": 50,
        "rateLimitBurst": 200,
    },
    "tls": {"enabled": True, "secretName": "segmenter-tls", "clientAuth": {"enabled": True}},
    "rules": RULES,
    "config": {"log_level": "segmenter=debug,info", "max_batch_events": 5000,
               "shutdown_grace_seconds": 25, "max_message_bytes": 8388608},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "networkPolicy": {"enabled": True},
    "headlessService": {"enabled": True},
}


# ---- rendering helpers ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def chart():
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


class Rendered:
    """The objects of one render, looked up by kind and name."""

    def __init__(self, manifests: dict[str, str]):
        self.manifests = manifests
        self.objects: list[dict[str, Any]] = []
        for path, text in manifests.items():
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.objects.append(doc)

    @property
    def notes(self) -> str:
        return next(text for path, text in self.manifests.items() if path.endswith("NOTES.txt"))

    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str = FULLNAME) -> dict[str, Any]:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}: {sorted(self.kinds())}"
        return found[0]

    def has(self, kind: str, name: str = FULLNAME) -> bool:
        return any(o["metadata"]["name"] == name for o in self.all(kind))

    @property
    def deployment(self) -> dict[str, Any]:
        return self.get("Deployment")

    @property
    def pod(self) -> dict[str, Any]:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod["containers"]
        assert [c["name"] for c in containers] == ["segmenter"]
        return containers[0]

    @property
    def config_toml(self) -> str:
        return self.get("ConfigMap")["data"]["segmenter.toml"]

    @property
    def config(self) -> dict[str, Any]:
        return tomllib.loads(self.config_toml)

    def secret_data(self) -> dict[str, str]:
        secret = self.get("Secret")
        return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def render(chart, values: dict[str, Any] | None = None) -> Rendered:
    return Rendered(chart.render(values or {}, name=RELEASE, namespace=NAMESPACE))


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of value layers (later wins), as `helm -f a -f b` does."""
    out: dict[str, Any] = {}
    for layer in layers:
        _merge_into(out, copy.deepcopy(layer))
    return out


def _merge_into(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        else:
            base[key] = value


@pytest.fixture(scope="session")
def default(chart) -> Rendered:
    return render(chart)


@pytest.fixture(scope="session")
def production(chart) -> Rendered:
    return render(chart, PRODUCTION)


# ---- chart metadata, lint, schema ----------------------------------------------------------


def test_chart_metadata_and_app_version_match_cargo(chart):
    meta = chart.metadata
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "segmenter"
    assert meta["appVersion"] == cargo["package"]["version"]
    assert chart.schema is not None
    assert chart.schema["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("kube_version", [None, "v1.27.0"], ids=["current", "oldest"])
@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_lint_passes_strict(values, kube_version):
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version=kube_version)
    assert report["errors"] == []
    # Severity 2 = warning, 3 = error; "icon is recommended" is severity 1 (info).
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_schema_covers_every_value(chart):
    """Every key of values.yaml is declared, with a type, in values.schema.json."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    missing: list[str] = []

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if "type" not in node and "oneOf" not in node:
            missing.append(f"{path} (no type)")
        if isinstance(value, dict) and "properties" in node:
            for key, inner in value.items():
                if key not in node["properties"]:
                    missing.append(f"{path}.{key}")
                else:
                    walk(inner, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "values")
    assert missing == []
    assert schema["additionalProperties"] is False


def test_schema_refuses_unknown_and_mistyped_values(chart):
    bad_values = [
        {"replicaCount": "three"},
        {"no_such_value": 1},
        {"config": {"log_format": "xml"}},
        {"config": {"reporting_currency": "yuan"}},
        {"config": {"no_such_key": 1}},
        {"config": {"listen": "0.0.0.0:1"}},         # the chart owns listen
        {"config": {"database_url": "postgres://x"}},  # never into the ConfigMap
        {"auth": {"keys": [{"name": "erp", "scopes": ["classify"]}]}},  # no key
        {"database": {"url": "mysql://db/x"}},
        {"ports": {"grpc": 70000}},
    ]
    for values in bad_values:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(values)
        with pytest.raises(helm.HelmError):
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
    chart.validate_schema(PRODUCTION)


# ---- which objects --------------------------------------------------------------------------


def test_default_objects(default):
    assert default.kinds() == {
        "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
        "HorizontalPodAutoscaler", "PodDisruptionBudget",
    }
    assert not default.has("Service", f"{FULLNAME}-headless")
    assert default.get("ConfigMap")["metadata"]["namespace"] == NAMESPACE


def test_production_objects(production):
    assert production.kinds() == {
        "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy",
    }
    headless = production.get("Service", f"{FULLNAME}-headless")
    assert headless["spec"]["clusterIP"] == "None"
    # The chart's Secret holds only the keys: the URL is in the operator's Secret.
    assert set(production.secret_data()) == {"keys.toml"}


def test_optional_objects_follow_their_switches(chart):
    off = render(chart, {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": False},
                         "serviceAccount": {"create": False}})
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount"}.isdisjoint(off.kinds())
    assert off.pod["serviceAccountName"] == "default"
    sqlite = render(chart, {"autoscaling": {"enabled": False},
                            "database": {"url": "sqlite:///data/segmenter.db"},
                            "persistence": {"enabled": True}})
    pvc = sqlite.get("PersistentVolumeClaim", f"{FULLNAME}-data")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert {"name": "data", "mountPath": "/data"} in sqlite.container["volumeMounts"]


def test_no_chart_secret_when_every_secret_is_existing(chart):
    rendered = render(chart, {"database": {"existingSecret": "db"}, "auth": {"existingSecret": "keys"}})
    assert "Secret" not in rendered.kinds()
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations
    assert "checksum/config" in annotations
    keys_volume = next(v for v in rendered.pod["volumes"] if v["name"] == "keys")
    assert keys_volume["secret"]["secretName"] == "keys"
    assert keys_volume["secret"]["items"] == [{"key": "keys.toml", "path": "keys.toml"}]
    assert rendered.config["auth"]["keys_file"] == f"{KEYS_DIR}/keys.toml"


# ---- the pod ---------------------------------------------------------------------------------


def test_probes_are_grpc_health_checks_on_the_grpc_port(default):
    container = default.container
    grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
    assert grpc_port == 50051
    # Readiness asks the whole server (NOT_SERVING without the database); liveness and startup
    # ask the "liveness" service, which stays SERVING while the process runs.
    expected = {
        "startupProbe": {"port": 50051, "service": "liveness"},
        "readinessProbe": {"port": 50051},
        "livenessProbe": {"port": 50051, "service": "liveness"},
    }
    for probe, grpc in expected.items():
        assert container[probe]["grpc"] == grpc, probe
        assert "tcpSocket" not in container[probe] and "httpGet" not in container[probe]
    assert container["readinessProbe"]["periodSeconds"] == 5
    assert container["livenessProbe"]["failureThreshold"] == 6


def test_probes_follow_the_port_and_health_service(chart):
    rendered = render(chart, {"ports": {"grpc": 6000}, "probes": {"readinessService": "segmenter.v1.SegmentationService"}})
    assert rendered.container["readinessProbe"]["grpc"] == {"port": 6000, "service": "segmenter.v1.SegmentationService"}
    assert rendered.container["livenessProbe"]["grpc"] == {"port": 6000, "service": "liveness"}
    assert rendered.config["listen"] == "0.0.0.0:6000"
    assert rendered.get("Service")["spec"]["ports"][0]["targetPort"] == "grpc"


def test_probes_with_tls_connect_over_tcp(production):
    # Kubelet gRPC probes cannot speak TLS.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert production.container[probe]["tcpSocket"] == {"port": 50051}
        assert "grpc" not in production.container[probe]


@pytest.mark.parametrize("which", ["default", "production"])
def test_security_context(which, default, production):
    rendered = default if which == "default" else production
    pod = rendered.pod["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    container = rendered.container["securityContext"]
    assert container["runAsNonRoot"] is True
    assert container["runAsUser"] == 10001
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    assert rendered.pod["automountServiceAccountToken"] is False
    tmp = next(v for v in rendered.pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in rendered.container["volumeMounts"]


def test_resources_and_image(default, chart):
    resources = default.container["resources"]
    assert resources["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert set(resources["limits"]) == {"cpu", "memory"}
    assert default.container["image"] == f"ghcr.io/segmenter/segmenter:{chart.metadata['appVersion']}"
    assert default.container["args"] == ["serve", "--config", f"{CONFIG_DIR}/segmenter.toml"]
    pinned = render(chart, {"image": {"digest": "sha256:" + "a" * 64, "tag": "ignored"}})
    assert pinned.container["image"] == "ghcr.io/segmenter/segmenter@sha256:" + "a" * 64


def test_termination_grace_exceeds_shutdown_grace(chart, default, production):
    assert default.config["shutdown_grace_seconds"] == 20
    assert default.pod["terminationGracePeriodSeconds"] == 30
    assert production.config["shutdown_grace_seconds"] == 25
    assert production.pod["terminationGracePeriodSeconds"] == 35
    explicit = render(chart, {"terminationGracePeriodSeconds": 60})
    assert explicit.pod["terminationGracePeriodSeconds"] == 60
    with pytest.raises(helm.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(chart, {"terminationGracePeriodSeconds": 20})


def test_database_url_comes_from_a_secret(default, production):
    env = {e["name"]: e for e in default.container["env"]}
    ref = env["SEGMENTER__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": FULLNAME, "key": "database-url"}
    assert default.secret_data()["database-url"].startswith("postgres://")
    assert "database_url" not in default.config  # never in the ConfigMap

    env = {e["name"]: e for e in production.container["env"]}
    ref = env["SEGMENTER__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "segmenter-db", "key": "url"}
    assert "value" not in env["SEGMENTER__DATABASE_URL"]


def test_volume_mounts_for_config_rules_keys_and_tls(default, production):
    mounts = {m["name"]: m for m in production.container["volumeMounts"]}
    assert mounts["config"] == {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}
    assert mounts["keys"] == {"name": "keys", "mountPath": KEYS_DIR, "readOnly": True}
    assert mounts["tls"] == {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}
    volumes = {v["name"]: v for v in production.pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == FULLNAME
    assert volumes["keys"]["secret"]["secretName"] == FULLNAME
    assert volumes["keys"]["secret"]["items"] == [{"key": "keys.toml", "path": "keys.toml"}]
    sources = volumes["tls"]["projected"]["sources"]
    assert sources[0]["secret"]["name"] == "segmenter-tls"
    assert [i["path"] for i in sources[0]["secret"]["items"]] == ["tls.crt", "tls.key"]
    assert sources[1]["secret"] == {"name": "segmenter-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    # The rules live in the same ConfigMap as the configuration.
    assert production.get("ConfigMap")["data"]["rules.toml"].strip() == RULES.strip()

    names = {m["name"] for m in default.container["volumeMounts"]}
    assert names == {"config", "tmp"}
    assert "rules.toml" not in default.get("ConfigMap")["data"]


def test_client_ca_from_its_own_secret(chart):
    rendered = render(chart, merged(PRODUCTION, {"tls": {"clientAuth": {"caSecretName": "clients-ca", "caKey": "bundle.pem"}}}))
    sources = next(v for v in rendered.pod["volumes"] if v["name"] == "tls")["projected"]["sources"]
    assert sources[1]["secret"] == {"name": "clients-ca", "items": [{"key": "bundle.pem", "path": "ca.crt"}]}
    server_only = render(chart, merged(PRODUCTION, {"tls": {"clientAuth": {"enabled": False}}}))
    assert "client_ca_file" not in server_only.config["tls"]


# ---- configuration -------------------------------------------------------------------------


def test_default_config_toml(default):
    config = default.config
    assert config["listen"] == "0.0.0.0:50051"
    assert config["metrics"] == {"listen": "0.0.0.0:9464"}
    assert config["log_format"] == "json"
    assert config["shutdown_grace_seconds"] == 20
    assert config["auth"] == {"enabled": True, "rate_limit_per_second": 0, "rate_limit_burst": 100}
    for absent in ("rules_file", "tls", "database_url"):
        assert absent not in config


def test_production_config_toml(production):
    config = production.config
    assert config["listen"] == "0.0.0.0:50051"
    assert config["metrics"]["listen"] == "0.0.0.0:9464"
    assert config["rules_file"] == f"{CONFIG_DIR}/rules.toml"
    assert config["tls"] == {
        "cert_file": f"{TLS_DIR}/tls.crt",
        "key_file": f"{TLS_DIR}/tls.key",
        "client_ca_file": f"{TLS_DIR}/ca.crt",
    }
    assert config["auth"] == {"enabled": True, "keys_file": f"{KEYS_DIR}/keys.toml",
                              "rate_limit_per_second": 50, "rate_limit_burst": 200}
    # Extra keys from values, as integers (values arrive as floats) and strings.
    assert config["max_batch_events"] == 5000 and isinstance(config["max_batch_events"], int)
    assert config["max_message_bytes"] == 8388608
    assert config["log_level"] == "segmenter=debug,info"
    assert config["reporting_currency"] == "CNY"


def test_metrics_can_be_turned_off(chart):
    rendered = render(chart, {"metrics": {"enabled": False}})
    assert rendered.config["metrics"] == {"listen": ""}
    assert [p["name"] for p in rendered.get("Service")["spec"]["ports"]] == ["grpc"]
    assert [p["name"] for p in rendered.container["ports"]] == ["grpc"]
    with pytest.raises(helm.HelmRenderError, match="metrics.enabled"):
        render(chart, {"metrics": {"enabled": False}, "serviceMonitor": {"enabled": True}})


def test_null_unsets_a_config_key(chart):
    rendered = render(chart, {"config": {"max_in_flight": None}})
    assert "max_in_flight" not in rendered.config
    assert "max_in_flight" in render(chart).config


def test_keys_toml(production):
    keys = tomllib.loads(production.secret_data()["keys.toml"])["keys"]
    assert keys == [
        {"name": "erp", "scopes": ["classify", "write"], "key": "erp-0123456789abcdef0123456789abcdef"},
        {"name": "call-centre", "scopes": ["classify"], "key": "cc-\"quoted\"-and\\backslash-0123456789"},
    ]


def checksum(rendered: Rendered, name: str = "checksum/config") -> str:
    return rendered.deployment["spec"]["template"]["metadata"]["annotations"][name]


def test_checksum_is_the_sha256_of_the_rendered_configmap(chart, default, production):
    for rendered in (default, production):
        configmap = rendered.manifests["segmenter/templates/configmap.yaml"]
        assert checksum(rendered) == hashlib.sha256(configmap.encode()).hexdigest()
        secret = rendered.manifests["segmenter/templates/secret.yaml"]
        assert checksum(rendered, "checksum/secret") == hashlib.sha256(secret.encode()).hexdigest()


def test_checksum_changes_with_config_and_rules_only(chart, default, production):
    assert checksum(default) != checksum(production)
    log_level = render(chart, {"config": {"log_level": "debug"}})
    assert checksum(log_level) != checksum(default)
    rules = render(chart, {"rules": RULES})
    assert checksum(rules) != checksum(default)
    other_rules = render(chart, {"rules": RULES.replace("150", "151")})
    assert checksum(other_rules) != checksum(rules)
    # A change outside the ConfigMap leaves the config checksum alone.
    unrelated = render(chart, {"podAnnotations": {"team": "crm"}, "resources": {"requests": {"cpu": "1"}}})
    assert checksum(unrelated) == checksum(default)
    assert unrelated.deployment["spec"]["template"]["metadata"]["annotations"]["team"] == "crm"
    # New keys roll the pods through the Secret checksum.
    other_keys = copy.deepcopy(PRODUCTION)
    other_keys["auth"]["keys"][0]["key"] = "erp-rotated-0123456789abcdef01234567"
    assert checksum(render(chart, other_keys), "checksum/secret") != checksum(production, "checksum/secret")
    assert checksum(render(chart, other_keys)) == checksum(production)


# ---- scaling, disruption, service, network -------------------------------------------------


def test_hpa(default, production, chart):
    hpa = production.get("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    # The HPA owns the replica count.
    assert "replicas" not in production.deployment["spec"]
    default_hpa = default.get("HorizontalPodAutoscaler")
    assert (default_hpa["spec"]["minReplicas"], default_hpa["spec"]["maxReplicas"]) == (2, 10)

    fixed = render(chart, merged(PRODUCTION, {"autoscaling": {"enabled": False}, "replicaCount": 3}))
    assert "HorizontalPodAutoscaler" not in fixed.kinds()
    assert fixed.deployment["spec"]["replicas"] == 3
    assert fixed.deployment["spec"]["strategy"]["type"] == "RollingUpdate"

    memory = render(chart, {"autoscaling": {"targetMemoryUtilizationPercentage": 80}})
    assert [m["resource"]["name"] for m in memory.get("HorizontalPodAutoscaler")["spec"]["metrics"]] == ["cpu", "memory"]
    with pytest.raises(helm.HelmRenderError, match="minReplicas"):
        render(chart, {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}})


def test_pdb(default, chart):
    pdb = default.get("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == default.deployment["spec"]["selector"]["matchLabels"]
    min_available = render(chart, {"podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 1}})
    spec = min_available.get("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 1 and "maxUnavailable" not in spec
    percent = render(chart, {"podDisruptionBudget": {"maxUnavailable": "50%"}})
    assert percent.get("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    with pytest.raises(helm.HelmRenderError, match="not both"):
        render(chart, {"podDisruptionBudget": {"minAvailable": 1}})


def test_service_ports(default, production):
    service = default.get("Service")
    assert service["spec"]["type"] == "ClusterIP"
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["port"] == 50051 and ports["grpc"]["targetPort"] == "grpc"
    assert ports["grpc"]["appProtocol"] == "grpc"
    assert ports["metrics"]["port"] == 9464 and ports["metrics"]["targetPort"] == "metrics"
    container_ports = {p["name"]: p["containerPort"] for p in default.container["ports"]}
    assert container_ports == {"grpc": 50051, "metrics": 9464}
    headless = production.get("Service", f"{FULLNAME}-headless")
    assert [p["name"] for p in headless["spec"]["ports"]] == ["grpc"]


def test_servicemonitor(production):
    monitor = production.get("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    service_labels = production.get("Service")["metadata"]["labels"]
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service_labels[key] == value


def test_networkpolicy(production, chart):
    policy = production.get("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == production.deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    grpc_rule, metrics_rule = policy["spec"]["ingress"]
    assert grpc_rule["ports"] == [{"port": 50051, "protocol": "TCP"}]
    assert grpc_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"segmenter.io/client": "true"}}},
        {"podSelector": {"matchLabels": {"segmenter.io/client": "true"}}},
    ]
    assert metrics_rule["ports"] == [{"port": 9464, "protocol": "TCP"}]
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]
    # Peers that are not configured give no rule: an empty `from` would admit everyone.
    closed = render(chart, {"networkPolicy": {"enabled": True,
                                              "grpc": {"fromNamespaceLabels": None, "fromPodLabels": None},
                                              "metrics": {"fromPodLabels": {"app.kubernetes.io/name": "prometheus"}}}})
    [only_metrics] = closed.get("NetworkPolicy")["spec"]["ingress"]
    assert only_metrics["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }]
    assert "no client can reach gRPC" in closed.notes


def test_standard_labels(default, production, chart):
    version = chart.metadata["appVersion"]
    for rendered in (default, production):
        for obj in rendered.objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "segmenter", obj["kind"]
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/version"] == version
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"] == f"segmenter-{chart.metadata['version']}"
        selector = rendered.deployment["spec"]["selector"]["matchLabels"]
        assert selector == {"app.kubernetes.io/name": "segmenter", "app.kubernetes.io/instance": RELEASE}
        pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        assert rendered.get("Service")["spec"]["selector"] == selector
    renamed = render(chart, {"fullnameOverride": "crm-segmenter"})
    assert renamed.has("Deployment", "crm-segmenter") and renamed.has("ConfigMap", "crm-segmenter")


# ---- guards -----------------------------------------------------------------------------------


def test_sqlite_with_more_than_one_pod_is_refused(chart):
    sqlite = {"database": {"url": "sqlite:///data/segmenter.db"}}
    with pytest.raises(helm.HelmRenderError, match="SQLite"):
        render(chart, sqlite)  # HPA on by default
    with pytest.raises(helm.HelmRenderError, match="postgres://"):
        render(chart, merged(sqlite, {"autoscaling": {"enabled": False}, "replicaCount": 3}))
    # One pod: fine, and rolled out by Recreate (one writer at a time).
    single = render(chart, merged(sqlite, {"autoscaling": {"enabled": False}, "replicaCount": 1,
                                           "persistence": {"enabled": True}}))
    assert single.deployment["spec"]["replicas"] == 1
    assert single.deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "WARNING: the database is SQLite" not in single.notes
    # A URL in a Secret the chart cannot read is the operator's responsibility.
    render(chart, {"database": {"url": "sqlite:///x.db", "existingSecret": "db"}})


def test_other_refusals(chart):
    with pytest.raises(helm.HelmRenderError, match="tls.secretName"):
        render(chart, {"tls": {"enabled": True}})
    with pytest.raises(helm.HelmRenderError, match="tls.enabled"):
        render(chart, {"tls": {"clientAuth": {"enabled": True}}})
    with pytest.raises(helm.HelmRenderError, match="database.existingSecret"):
        render(chart, {"database": {"url": ""}})
    with pytest.raises(helm.HelmRenderError, match="resources.requests.cpu"):
        render(chart, {"resources": {"requests": {"cpu": None}}})


def test_notes(default, production):
    assert "grpc.health.v1.Health/Check" in default.notes
    assert "-plaintext" in default.notes
    assert "placeholder" in default.notes
    assert "-cacert ca.crt" in production.notes and "-cert client.crt" in production.notes
    assert "placeholder" not in production.notes
    assert "2 to 10" in default.notes and "3 to 12" in production.notes


# ---- the server reads what the chart renders ----------------------------------------------


def segmenter_binary() -> Path | None:
    configured = os.environ.get("SEGMENTER_BIN")
    path = Path(configured) if configured else REPO / "target" / "debug" / "segmenter"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def write_tls_files(directory: Path) -> None:
    """A self-signed certificate and key (and the same as CA), or placeholders without openssl."""
    crt, key, ca = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=seg-segmenter.crm.svc",
             "-keyout", str(key), "-out", str(crt)],
            check=True, capture_output=True,
        )
        shutil.copy(crt, ca)
    else:
        for path in (crt, key, ca):
            path.write_text("placeholder\n")


def config_check(rendered: Rendered, tmp_path: Path, database_url: str) -> dict[str, Any]:
    """Writes the rendered files as the pod sees them (mount paths rewritten to tmp_path) and
    runs `segmenter config check` on them with the pod's environment."""
    binary = segmenter_binary()
    if binary is None:
        pytest.skip("no segmenter binary (build it with `cargo build`, or set SEGMENTER_BIN)")
    text = rendered.config_toml
    data = rendered.get("ConfigMap")["data"]
    if "rules.toml" in data:
        (tmp_path / "rules.toml").write_text(data["rules.toml"])
        text = text.replace(f"{CONFIG_DIR}/rules.toml", str(tmp_path / "rules.toml"))
    config = tomllib.loads(text)
    if "keys_file" in rendered.config.get("auth", {}):
        (tmp_path / "keys.toml").write_text(rendered.secret_data()["keys.toml"])
        text = text.replace(f"{KEYS_DIR}/keys.toml", str(tmp_path / "keys.toml"))
    if "tls" in config:
        write_tls_files(tmp_path)
        text = text.replace(f"{TLS_DIR}/", f"{tmp_path}/")
    assert "/etc/segmenter/" not in text
    config_file = tmp_path / "segmenter.toml"
    config_file.write_text(text)

    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTER")}
    env["SEGMENTER__DATABASE_URL"] = database_url
    result = subprocess.run([str(binary), "config", "check", str(config_file)],
                            env=env, capture_output=True, text=True, timeout=60)
    hint = ""
    if "unknown field" in result.stderr:
        hint = f"\n(is {binary} older than src/config.rs? rebuild it with `cargo build`)"
    assert result.returncode == 0, f"config check failed:\n{result.stderr}{hint}\n--- segmenter.toml\n{text}"
    return tomllib.loads(result.stdout)


def test_default_config_passes_config_check(default, tmp_path):
    url = default.secret_data()["database-url"]
    effective = config_check(default, tmp_path, url)
    assert effective["database_url"] == url
    assert effective["listen"] == "0.0.0.0:50051"
    assert effective["metrics"]["listen"] == "0.0.0.0:9464"
    assert effective["log_format"] == "json"


def test_production_config_passes_config_check(production, tmp_path):
    url = "postgres://segmenter:s3cret@postgres.db.svc:5432/segmenter"
    effective = config_check(production, tmp_path, url)
    assert effective["database_url"] == url
    assert effective["rules_file"] == str(tmp_path / "rules.toml")
    assert effective["tls"]["client_ca_file"] == str(tmp_path / "ca.crt")
    assert effective["auth"]["keys_file"] == str(tmp_path / "keys.toml")
    assert effective["max_batch_events"] == 5000
    assert effective["shutdown_grace_seconds"] == 25


def test_schema_knows_every_server_config_key(chart, production, tmp_path):
    """values.schema.json's `config` declares exactly the server's keys that the chart does not
    set itself: a key added to src/config.rs must be added to the schema (or the chart)."""
    effective = config_check(production, tmp_path, "postgres://db/segmenter")
    chart_owned = {"listen", "database_url", "rules_file", "auth", "tls", "metrics"}
    declared = set(chart.schema["properties"]["config"]["properties"])
    assert set(effective) - chart_owned == declared
    assert set(effective["auth"]) == {"enabled", "keys_file", "rate_limit_per_second", "rate_limit_burst"}
    assert set(effective["tls"]) == {"cert_file", "key_file", "client_ca_file"}
    assert set(effective["metrics"]) == {"listen"}
