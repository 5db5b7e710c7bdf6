"""What matters in the rendered chart, scenario by scenario: valid Kubernetes objects, the
autoscaler owning the worker's replicas, hardened pods, probes, hooks, RBAC, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import Manifests
from .render import CHART, RenderError, named, of_kind, render, values_file

ROOT = CHART.parents[1]
KUBERNETES = "1.32.0"
BUILT_IN_GROUPS = ("v1", "apps/", "batch/", "policy/", "networking.k8s.io/", "autoscaling/",
                   "rbac.authorization.k8s.io/")  # fmt: skip


def pod_specs(manifests: Manifests) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for m in manifests:
        if m["kind"] in ("Deployment", "Job"):
            found.append((m["metadata"]["name"], m["spec"]["template"]["spec"]))
    return found


@pytest.mark.parametrize("scenario", ["keda", "hpa", "none"])
def test_every_built_in_object_is_valid_for_kubernetes(
    scenarios: dict[str, Manifests], scenario: str
) -> None:
    checked = 0
    for manifest in scenarios[scenario]:
        if manifest["apiVersion"].startswith(BUILT_IN_GROUPS):
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
            checked += 1
    assert checked >= 10


def test_hook_objects_are_valid_too(hooks: Manifests) -> None:
    for manifest in hooks:
        if manifest["apiVersion"].startswith(BUILT_IN_GROUPS):
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_keda_owns_the_worker_replicas(keda: Manifests) -> None:
    worker = named(keda, "Deployment", "atende-worker")
    assert "replicas" not in worker["spec"]
    [scaled] = of_kind(keda, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "atende-worker"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "atende_queue_ready_jobs" in trigger["metadata"]["query"]
    assert scaled["spec"]["fallback"]["replicas"] >= 1
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert of_kind(keda, "HorizontalPodAutoscaler") == []
    # In-flight turns get time to finish (arq waits for them on SIGTERM).
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 180


def test_hpa_and_fixed_modes(hpa: Manifests, fixed: Manifests) -> None:
    assert "replicas" not in named(hpa, "Deployment", "atende-worker")["spec"]
    [autoscaler] = of_kind(hpa, "HorizontalPodAutoscaler")
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 6)
    assert of_kind(hpa, "ScaledObject") == []
    assert named(fixed, "Deployment", "atende-worker")["spec"]["replicas"] == 3
    assert of_kind(fixed, "ScaledObject") == of_kind(fixed, "HorizontalPodAutoscaler") == []


@pytest.mark.parametrize("scenario", ["keda", "hpa", "none"])
def test_every_pod_is_non_root_read_only_and_drops_all(
    scenarios: dict[str, Manifests], scenario: str
) -> None:
    for name, spec in pod_specs(scenarios[scenario]):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert "limits" in container["resources"], name


def test_probes_are_wired_to_the_real_endpoints(keda: Manifests) -> None:
    api = named(keda, "Deployment", "atende-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker = named(keda, "Deployment", "atende-worker")["spec"]["template"]["spec"]
    assert worker["containers"][0]["livenessProbe"]["httpGet"]["port"] == "metrics"
    operator = named(keda, "Deployment", "atende-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    probe = operator["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"


def test_config_changes_roll_the_pods(keda: Manifests, tmp_path: Path) -> None:
    before = named(keda, "Deployment", "atende-api")["spec"]["template"]["metadata"]
    values = values_file("keda-values.yaml") | {"migrations": {"hook": False}}
    values["config"] = {"logLevel": "DEBUG"}
    after = named(render(values, tmp_path), "Deployment", "atende-api")
    annotations = after["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] != before["annotations"]["checksum/config"]
    assert annotations["checksum/secret"] == before["annotations"]["checksum/secret"]


def test_an_existing_secret_is_used_and_none_is_rendered(hpa: Manifests) -> None:
    assert [s["metadata"]["name"] for s in of_kind(hpa, "Secret")] == []
    container = named(hpa, "Deployment", "atende-api")["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    assert set(refs.values()) == {"atende-from-vault"}
    assert {"ATENDE_DATABASE_URL", "ATENDE_REDIS_URL", "ATENDE_SECRET_KEY"} <= set(refs)


def test_no_secret_and_no_existing_secret_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"secrets.databaseUrl \(or existingSecret\) is required"):
        render({"migrations": {"hook": False}}, tmp_path)


def test_the_migration_hook_brings_what_it_needs_at_pre_install(hooks: Manifests) -> None:
    hooked = [m for m in hooks if "test.atende/hook" in m["metadata"].get("annotations", {})]
    weights = {(m["kind"], m["metadata"]["annotations"]["test.atende/hook-weight"]) for m in hooked}
    assert weights == {
        ("ServiceAccount", "-20"),
        ("ConfigMap", "-20"),
        ("Secret", "-20"),
        ("Job", "-10"),  # after what it uses
    }
    jobs = {
        "atende-migrate": "pre-install,pre-upgrade",
        "atende-migrate-rollback": "pre-rollback",  # with the release's image: back to its head
    }
    for manifest in hooked:
        annotations = manifest["metadata"]["annotations"]
        name = manifest["metadata"]["name"]
        # What the Jobs read is a hook of every event a Job runs at.
        expected = (
            jobs[name] if manifest["kind"] == "Job" else "pre-install,pre-upgrade,pre-rollback"
        )
        assert annotations["test.atende/hook"] == expected
        assert annotations["test.atende/hook-delete-policy"] == (
            "before-hook-creation,hook-succeeded"
        )
    job = named(hooks, "Job", "atende-migrate")["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate", "upgrade"]
    rollback = named(hooks, "Job", "atende-migrate-rollback")["spec"]["template"]["spec"]
    assert rollback["containers"][0]["args"] == ["migrate", "downgrade", "head"]
    assert job["serviceAccountName"] == "atende-migrate"
    assert job["containers"][0]["envFrom"] == [{"configMapRef": {"name": "atende-migrate-config"}}]


def test_the_rollback_job_downgrades_to_the_given_revision(tmp_path: Path) -> None:
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": False, "downgradeTo": "0004"}
    }
    job = named(render(values, tmp_path), "Job", "atende-migrate-downgrade")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "migrate",
        "downgrade",
        "0004",
    ]
    assert "annotations" not in job["metadata"]  # a plain Job, applied before helm rollback


def test_operator_rbac_is_the_repository_s_and_the_crd_is_shipped(keda: Manifests) -> None:
    role = named(keda, "ClusterRole", "atende-operator")
    documents = list(yaml.safe_load_all((ROOT / "k8s" / "rbac" / "operator.yaml").read_text()))
    reference = next(d for d in documents if d["kind"] == "ClusterRole")
    assert role["rules"] == reference["rules"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"]
        assert "delete" not in rule["verbs"]
    shipped = (CHART / "crds" / "bottenants.atende.dev.yaml").read_text()
    assert shipped == (ROOT / "k8s" / "crds" / "bottenants.atende.dev.yaml").read_text()


def test_network_policies_and_disruption_budgets(keda: Manifests, fixed: Manifests) -> None:
    policies = {p["metadata"]["name"] for p in of_kind(keda, "NetworkPolicy")}
    assert policies == {"atende-api", "atende-worker", "atende-operator"}
    budgets = {p["metadata"]["name"] for p in of_kind(keda, "PodDisruptionBudget")}
    assert budgets == {"atende-api", "atende-worker"}
    assert of_kind(fixed, "NetworkPolicy") == []
    assert of_kind(fixed, "Ingress") == []
    ingress = named(keda, "Ingress", "atende")
    assert ingress["spec"]["tls"][0]["secretName"] == "atende-tls"


def test_webhook_secrets_stay_out_of_the_controller_s_access_log(keda: Manifests) -> None:
    ingresses = {i["metadata"]["name"]: i for i in of_kind(keda, "Ingress")}
    assert set(ingresses) == {"atende", "atende-hooks"}

    def paths(ingress: dict[str, Any]) -> list[str]:
        return [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]

    hooks, main = ingresses["atende-hooks"], ingresses["atende"]
    assert paths(hooks) == ["/hooks"]
    assert paths(main) == ["/panel", "/api"]  # /hooks is never logged by the main Ingress
    assert hooks["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/enable-access-log": "false",
        "nginx.ingress.kubernetes.io/limit-rps": "100",
        "nginx.ingress.kubernetes.io/limit-connections": "100",
        "nginx.ingress.kubernetes.io/proxy-body-size": "1m",
    }
    assert main["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/limit-rps": "10",
        "nginx.ingress.kubernetes.io/limit-connections": "20",
        "nginx.ingress.kubernetes.io/proxy-body-size": "1m",
    }
    for ingress in ingresses.values():
        assert ingress["spec"]["tls"] == [
            {"hosts": ["atende.example.com"], "secretName": "atende-tls"}
        ]
        backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
                    for p in r["http"]["paths"]}  # fmt: skip
        assert backends == {"atende-api"}


def test_edge_limits_are_values_and_zero_leaves_one_out(tmp_path: Path) -> None:
    values = values_file("keda-values.yaml") | {"migrations": {"hook": False}}
    values["api"] = {
        "ingress": {
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "limits": {"rps": 0, "connections": 5, "bodySize": ""},
            "hooks": {"accessLog": True, "limits": {"rps": 300}},
        }
    }
    ingresses = {i["metadata"]["name"]: i for i in of_kind(render(values, tmp_path), "Ingress")}
    assert ingresses["atende"]["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt",
        "nginx.ingress.kubernetes.io/limit-connections": "5",
    }
    assert ingresses["atende-hooks"]["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt",
        "nginx.ingress.kubernetes.io/limit-rps": "300",
        "nginx.ingress.kubernetes.io/limit-connections": "100",
        "nginx.ingress.kubernetes.io/proxy-body-size": "1m",
    }


def test_helm_test_checks_the_api_from_inside_the_release(keda: Manifests) -> None:
    [pod] = of_kind(keda, "Pod")
    assert pod["metadata"]["name"] == "atende-test"
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [container] = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "ATENDE_TEST_API_URL": "http://atende-api.atende.svc:80",
        # Under KEDA it also runs the trigger's query where KEDA will.
        "ATENDE_TEST_PROMETHEUS_URL": "http://prometheus-operated.monitoring:9090",
        "ATENDE_TEST_PROMETHEUS_QUERY": 'max(atende_queue_ready_jobs{namespace="atende"})',
        "ATENDE_TEST_PROMETHEUS_WAIT_SECONDS": "180",
    }
    # The api's NetworkPolicy lets this pod in (it admits only the ingress and Prometheus else).
    [rule] = named(keda, "NetworkPolicy", "atende-api")["spec"]["ingress"]
    [admitted] = [p["podSelector"]["matchLabels"] for p in rule["from"] if "podSelector" in p]
    assert admitted.items() <= pod["metadata"]["labels"].items()
    assert admitted["app.kubernetes.io/component"] == "test"


def test_the_workers_egress_policy_cuts_out_the_private_ranges(tmp_path: Path) -> None:
    plain = values_file("keda-values.yaml") | {"migrations": {"hook": False}}
    values = plain | {
        "config": {"egressAllowedNetworks": ["10.20.0.0/16"]},
        "networkPolicy": {
            "egress": {
                "enabled": True,
                "platform": [{"to": [{"podSelector": {"matchLabels": {"app": "pg"}}}]}],
            }
        },
    }
    manifests = render(values, tmp_path)
    policy = named(manifests, "NetworkPolicy", "atende-worker-egress")
    assert policy["spec"]["policyTypes"] == ["Egress"]
    dns, internet, allowed, platform = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    v4, v6 = (peer["ipBlock"] for peer in internet["to"])
    assert v4["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"} <= set(v4["except"])
    assert (v6["cidr"], {"fc00::/7", "fe80::/10"} <= set(v6["except"])) == ("::/0", True)
    assert allowed["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert platform["to"][0]["podSelector"] == {"matchLabels": {"app": "pg"}}
    kubernetes_validate.validate(policy, KUBERNETES, strict=True)
    (tmp_path / "default").mkdir()
    default = render(plain, tmp_path / "default")
    assert "atende-worker-egress" not in {
        p["metadata"]["name"] for p in of_kind(default, "NetworkPolicy")
    }
