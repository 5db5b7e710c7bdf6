"""The operator's RBAC, rendered by Helm's own library: cluster-wide by default, a Role per
namespace with ``operator.watchNamespaces`` (and then no cluster-wide Secret grant), never a
write to an existing Secret; always equal to ``k8s/rbac/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import Manifests
from .render import RenderError, named, of_kind, render, values_file

RBAC = Path(__file__).resolve().parents[2] / "k8s" / "rbac"
OPERATOR = "atende-operator"
SECRETS_WRITES = {"patch", "update", "delete", "deletecollection", "*"}


def reference(file: str, kind: str) -> dict[str, Any]:
    documents = yaml.safe_load_all((RBAC / file).read_text())
    found: dict[str, Any] = next(d for d in documents if d["kind"] == kind)
    return found


def secret_verbs(rules: list[dict[str, Any]]) -> set[str]:
    return {v for r in rules if "secrets" in r["resources"] for v in r["verbs"]}


def watching(tmp_path: Path, namespaces: list[str]) -> Manifests:
    values = values_file("keda-values.yaml") | {"migrations": {"hook": False}}
    values["operator"] = {**values.get("operator", {}), "watchNamespaces": namespaces}
    return render(values, tmp_path)


def test_cluster_wide_by_default_without_any_write_to_secrets(keda: Manifests) -> None:
    role = named(keda, "ClusterRole", OPERATOR)
    assert role["rules"] == reference("operator.yaml", "ClusterRole")["rules"]
    assert secret_verbs(role["rules"]) == {"get", "list", "watch", "create"}
    assert of_kind(keda, "Role") == []
    assert of_kind(keda, "RoleBinding") == []


def test_watch_namespaces_render_a_role_per_namespace_and_no_cluster_secret_grant(
    tmp_path: Path,
) -> None:
    manifests = watching(tmp_path, ["tenants-a", "tenants-b"])
    for manifest in manifests:
        if manifest["apiVersion"].startswith("rbac.authorization.k8s.io/"):
            kubernetes_validate.validate(manifest, "1.32.0", strict=True)
    cluster = named(manifests, "ClusterRole", OPERATOR)
    assert cluster["rules"] == reference("operator-namespaced.yaml", "ClusterRole")["rules"]
    granted = {res for rule in cluster["rules"] for res in rule["resources"]}
    assert granted == {"customresourcedefinitions", "namespaces"}  # no secrets, no configmaps

    tenant_rules = reference("operator-namespaced.yaml", "Role")["rules"]
    roles = {r["metadata"]["namespace"]: r for r in of_kind(manifests, "Role")}
    assert sorted(roles) == ["tenants-a", "tenants-b"]
    for role in roles.values():
        assert role["metadata"]["name"] == OPERATOR
        assert role["rules"] == tenant_rules
        assert not secret_verbs(role["rules"]) & SECRETS_WRITES

    bindings = {b["metadata"]["namespace"]: b for b in of_kind(manifests, "RoleBinding")}
    assert sorted(bindings) == ["tenants-a", "tenants-b"]
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": OPERATOR,
        }
        # The operator's ServiceAccount lives in the release's namespace, not the tenants'.
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": OPERATOR, "namespace": "atende"}
        ]
    args = named(manifests, "Deployment", OPERATOR)["spec"]["template"]["spec"]["containers"][0]
    assert [a for a in args["args"] if a.startswith("--namespace")] == [
        "--namespace=tenants-a",
        "--namespace=tenants-b",
    ]


def test_the_namespaced_reference_has_the_cluster_wide_tenant_rules() -> None:
    """k8s/rbac's two variants grant the same, only scoped differently."""
    cluster_wide = reference("operator.yaml", "ClusterRole")["rules"]
    namespaced = reference("operator-namespaced.yaml", "ClusterRole")["rules"]
    namespaced += reference("operator-namespaced.yaml", "Role")["rules"]
    assert cluster_wide == namespaced


@pytest.mark.parametrize("namespace", ["tenants-*", "Tenants", ""])
def test_a_glob_or_an_invalid_name_is_refused(tmp_path: Path, namespace: str) -> None:
    """A Role needs a namespace name: kopf's globs cannot be rendered as Roles."""
    with pytest.raises(RenderError, match="watchNamespaces"):
        watching(tmp_path, [namespace])
