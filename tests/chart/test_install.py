"""``helm install`` with only the required values, on a cluster without KEDA or
prometheus-operator and on one with them: resources of optional CRDs follow what the cluster
serves, and NOTES.txt says what was left out and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from .render import (
    BARE_CLUSTER,
    CUSTOM_KINDS,
    RenderError,
    hooks_as_plain_resources,
    install,
    named,
    of_kind,
    values_file,
)

OPTIONAL = {
    "ScaledObject": "keda.sh/v1alpha1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "AlertmanagerConfig": "monitoring.coreos.com/v1alpha1",
}
# Only what the chart cannot invent: the secrets.
REQUIRED = {"secrets": values_file("keda-values.yaml")["secrets"]}
PROBE = """apiVersion: v1
kind: ConfigMap
metadata: {name: capabilities}
data:
{{- range $api := list "keda.sh/v1alpha1/ScaledObject" "keda.sh/v1alpha1" "monitoring.coreos.com/v1/ServiceMonitor" "apps/v1/Deployment" "autoscaling/v2/HorizontalPodAutoscaler" }}
  {{ $api | replace "/" "_" }}: {{ $.Capabilities.APIVersions.Has $api | quote }}
{{- end }}
"""  # noqa: E501 - a template line


def _probe_chart(tmp: Path) -> Path:
    chart = tmp / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "probe.yaml").write_text(PROBE)
    return chart


@pytest.mark.parametrize(("kinds", "custom"), [(BARE_CLUSTER, "false"), (CUSTOM_KINDS, "true")])
def test_helm_reads_the_served_kinds_from_discovery(
    tmp_path: Path, kinds: dict[str, str], custom: str
) -> None:
    """Helm fills .Capabilities.APIVersions from the API server's discovery documents:
    "group/version" for every served version and "group/version/Kind" for every resource
    (``GetVersionSet`` in helm/helm pkg/action/action.go,
    https://github.com/helm/helm/blob/main/pkg/action/action.go). The in-memory API serves
    exactly the kinds registered, so the gating sees a cluster with or without the CRDs."""
    [probe] = install({}, tmp_path, _probe_chart(tmp_path), kinds).manifests
    assert probe["data"] == {
        "keda.sh_v1alpha1_ScaledObject": custom,
        "keda.sh_v1alpha1": custom,
        "monitoring.coreos.com_v1_ServiceMonitor": custom,
        "apps_v1_Deployment": "true",
        "autoscaling_v2_HorizontalPodAutoscaler": "true",
    }


def test_a_bare_cluster_gets_an_install_without_the_optional_kinds(tmp_path: Path) -> None:
    installed = install(REQUIRED, tmp_path, hooks_as_plain_resources(tmp_path), BARE_CLUSTER)
    kinds = {m["kind"] for m in installed.manifests}
    assert kinds.isdisjoint(OPTIONAL)
    # autoscaling.mode keda without KEDA: an HPA on CPU owns the workers.
    [hpa] = of_kind(installed.manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "atende-worker"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 20)
    assert "replicas" not in named(installed.manifests, "Deployment", "atende-worker")["spec"]
    assert "Workers scale:  an HPA on CPU (2–20 workers)" in installed.notes
    assert (
        "ScaledObject not created (autoscaling.mode=keda): the cluster does not serve "
        "keda.sh/v1alpha1; workers scale with an HPA on CPU instead." in installed.notes
    )
    for kind, group_version in OPTIONAL.items():
        assert f"{kind} not created" in installed.notes
        assert f"does not serve {group_version};" in installed.notes
    assert "assumeApis" in installed.notes


def test_a_cluster_with_keda_and_prometheus_operator_gets_them_all(tmp_path: Path) -> None:
    installed = install(REQUIRED, tmp_path, hooks_as_plain_resources(tmp_path), CUSTOM_KINDS)
    kinds = [m["kind"] for m in installed.manifests]
    assert {kind: kinds.count(kind) for kind in OPTIONAL} == dict.fromkeys(OPTIONAL, 1)
    assert of_kind(installed.manifests, "HorizontalPodAutoscaler") == []
    assert "replicas" not in named(installed.manifests, "Deployment", "atende-worker")["spec"]
    assert "Workers scale:  KEDA on atende_queue_ready_jobs (2–20 workers)" in installed.notes
    assert "not created" not in installed.notes


def test_a_kind_the_cluster_does_not_serve_fails_the_install(tmp_path: Path) -> None:
    """Why the gating matters: forcing the ScaledObject on a cluster without KEDA (what
    assumeApis is for, when rendering without a cluster) makes Helm refuse the install."""
    values = REQUIRED | {"assumeApis": ["keda.sh/v1alpha1/ScaledObject"]}
    with pytest.raises(RenderError, match="ScaledObject"):
        install(values, tmp_path, hooks_as_plain_resources(tmp_path), BARE_CLUSTER)


def test_assume_apis_renders_what_a_cluster_less_render_cannot_see(tmp_path: Path) -> None:
    values = REQUIRED | {
        "migrations": {"hook": False},
        "assumeApis": ["keda.sh/v1alpha1/ScaledObject"],
        "monitoring": {"serviceMonitor": False},
    }
    kinds = {"keda.sh/v1alpha1/scaledobjects": "ScaledObject"} | BARE_CLUSTER
    installed = install(values, tmp_path, kinds=kinds)
    assert [m["kind"] for m in installed.manifests if m["kind"] in OPTIONAL] == ["ScaledObject"]
    assert "ServiceMonitor not created" not in installed.notes  # not asked for
    assert "PrometheusRule not created" in installed.notes


def test_without_an_autoscaler_the_worker_deployment_keeps_its_replicas(tmp_path: Path) -> None:
    values = REQUIRED | {"migrations": {"hook": False}, "autoscaling": {"mode": "none"}}
    installed = install(values, tmp_path, kinds=BARE_CLUSTER)
    assert named(installed.manifests, "Deployment", "atende-worker")["spec"]["replicas"] == 2
    assert of_kind(installed.manifests, "HorizontalPodAutoscaler") == []
    assert "Workers scale:  fixed at 2 workers" in installed.notes
    assert "ScaledObject not created" not in installed.notes
