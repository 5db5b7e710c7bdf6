"""Values a platform engineer sets, and what every process then gets: the same settings and
secrets in the Deployments and the migration Jobs, every platform setting reachable, the usual
chart conventions, and one clear message for a bad value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.core.config import Settings

from .conftest import Manifests
from .render import (
    CHART,
    RenderError,
    hooks_as_plain_resources,
    named,
    of_kind,
    render,
    values_file,
)

BASE = values_file("keda-values.yaml") | {"migrations": {"hook": False}}
# Settings the chart sets from values other than `config`: secrets, and two it owns.
SECRET_SETTINGS = {"database_url", "redis_url", "cache_redis_url", "gemini_api_key",
                   "secret_key", "previous_secret_keys", "migration_database_url"}  # fmt: skip
CHART_SET = {"data_dir": "/var/lib/atende", "worker_metrics_port": "9100",
             "worker_shutdown_grace_seconds": "200"}  # fmt: skip


def containers(manifests: Manifests) -> dict[str, dict[str, Any]]:
    """Every container of every Deployment, Job and Pod, by workload name."""
    found = {}
    for m in manifests:
        spec = (
            m["spec"] if m["kind"] == "Pod" else m.get("spec", {}).get("template", {}).get("spec")
        )
        if m["kind"] in ("Deployment", "Job", "Pod") and spec:
            found[m["metadata"]["name"]] = spec["containers"][0]
    return found


def environment(container: dict[str, Any], manifests: Manifests) -> dict[str, str]:
    """What the kubelet would give the container: envFrom ConfigMaps, then env with its
    secretKeyRefs resolved from the rendered objects (a missing optional key is left out)."""
    data = {
        (m["kind"], m["metadata"]["name"]): m.get("data") or m.get("stringData") or {}
        for m in manifests
        if m["kind"] in ("ConfigMap", "Secret")
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= data[("ConfigMap", source["configMapRef"]["name"])]
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        stored = data.get(("Secret", ref["name"]), {})
        if ref["key"] in stored:
            env[entry["name"]] = stored[ref["key"]]
        else:
            assert ref.get("optional"), f"{entry['name']}: {ref} does not exist"
    return env


def test_the_migration_jobs_get_what_the_deployments_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": True, "downgradeTo": "0004"},
        "config": {"turnGiveUpAfterSeconds": 120, "logLevel": "DEBUG"},
        "secrets": values_file("keda-values.yaml")["secrets"]
        | {"geminiApiKey": "g-key", "previousSecretKeys": ["old-key-" + "x" * 32]},
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    }
    manifests = render(values, tmp_path, hooks_as_plain_resources(tmp_path))
    running = containers(manifests)
    api = environment(running["atende-api"], manifests)
    workloads = set(running) - {"atende-test"}
    assert {"atende-worker", "atende-operator", "atende-migrate", "atende-migrate-downgrade"} <= (
        workloads
    )
    for name in workloads:  # every Deployment and Job, whatever Jobs the chart adds
        assert environment(running[name], manifests) == api, name
    # The hook reads its own copies (at pre-install the release's do not exist yet).
    hook = running["atende-migrate"]
    assert hook["envFrom"][0]["configMapRef"]["name"] == "atende-migrate-config"
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in hook["env"] if "valueFrom" in e}
    assert refs == {"atende-migrate-secrets"}
    assert api["HTTPS_PROXY"] == "http://proxy:3128"
    assert api["ATENDE_PREVIOUS_SECRET_KEYS"] == '["old-key-' + "x" * 32 + '"]'
    # ... and it is an environment the product accepts in production.
    for key, value in api.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.turn_give_up_after_seconds == 120
    assert [key.get_secret_value() for key in settings.previous_secret_keys] == [
        "old-key-" + "x" * 32
    ]


def test_only_the_migration_jobs_get_the_schema_owners_url(tmp_path: Path) -> None:
    owner = "postgresql://atende_owner:owner-pw@postgres:5432/atende"
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": True, "downgradeTo": "0004"},
        "secrets": values_file("keda-values.yaml")["secrets"] | {"migrationDatabaseUrl": owner},
    }
    manifests = render(values, tmp_path, hooks_as_plain_resources(tmp_path))
    running = containers(manifests)
    migrations = {"atende-migrate", "atende-migrate-rollback", "atende-migrate-downgrade"}
    assert migrations <= set(running)
    api = environment(running["atende-api"], manifests)
    for name, container in running.items():
        env = environment(container, manifests)
        if name in migrations:
            assert env == api | {"ATENDE_MIGRATION_DATABASE_URL": owner}, name
        else:  # the Deployments and the helm test pod run as the runtime role
            assert "ATENDE_MIGRATION_DATABASE_URL" not in env, name
            assert owner not in json.dumps(container), name


def test_an_existing_secret_reaches_the_hook_and_the_deployments_alike(tmp_path: Path) -> None:
    values = values_file("hpa-values.yaml") | {"migrations": {"hook": True}}
    manifests = render(values, tmp_path, hooks_as_plain_resources(tmp_path))
    assert of_kind(manifests, "Secret") == []
    refs = {
        name: {e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if "valueFrom" in e}
        for name, c in containers(manifests).items()
        if name != "atende-test"
    }
    assert {"atende-api", "atende-worker", "atende-operator", "atende-migrate"} <= set(refs)
    assert all(names == {"atende-from-vault"} for names in refs.values())


def test_every_platform_setting_is_reachable_through_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each field of services/core/config.py is either a secret, set by the chart, or a
    `config` key the schema knows; set them all and the processes read them back."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    config_schema = schema["properties"]["config"]["properties"]
    fields = Settings.model_fields
    camel = {_camel(name): name for name in fields}
    assert set(config_schema) <= set(camel), "schema names settings that do not exist"
    unreachable = set(fields) - SECRET_SETTINGS - set(CHART_SET) - {camel[k] for k in config_schema}
    assert unreachable == set(), "add them to values.schema.json's config"
    secret_annotations = [fields[name].annotation for name in SECRET_SETTINGS]
    assert all("SecretStr" in str(a) or a in (str, str | None) for a in secret_annotations)

    every = {key: _example(fields[camel[key]].annotation, key) for key in config_schema}
    manifests = render(BASE | {"config": every}, tmp_path)
    env = environment(containers(manifests)["atende-worker"], manifests)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for key, value in every.items():
        read = getattr(settings, camel[key])
        if key == "egressAllowedNetworks":  # read back as ip_network objects
            read = [str(network) for network in read]
        assert (read.get_secret_value() if isinstance(read, SecretStr) else read) == value, key
    assert {k: env[f"ATENDE_{k.upper()}"] for k in CHART_SET} == CHART_SET


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _example(annotation: Any, key: str) -> Any:
    """A value different from the default, of the setting's type."""
    examples: dict[str, Any] = {"environment": "staging", "logFormat": "console",
                                "logLevel": "WARNING", "geminiBaseUrl": "https://gemini.proxy",
                                "mediaBaseUrl": "https://media.proxy",
                                "egressAllowedNetworks": ["10.20.0.0/16", "fd00::/8"],
                                "platformModels": ["gemini-3-pro"],
                                "embeddingDimensions": 1536}  # fmt: skip
    if key in examples:
        return examples[key]
    if annotation is bool:
        return False
    if annotation is int:
        return 16_777_216 if "Bytes" in key else 7  # large enough for Helm's float pitfall
    if annotation is float:
        return 2.5
    if annotation == list[float]:
        return [1.0, 2.5]
    return "v2"


def test_conventions_reach_every_pod(tmp_path: Path) -> None:
    values = BASE | {
        "migrations": {"hook": True, "nodeSelector": {"pool": "jobs"}},
        "global": {"imagePullSecrets": ["from-parent"]},
        "imagePullSecrets": [{"name": "regcred"}],
        "image": {"digest": "sha256:" + "a" * 64, "tag": "ignored"},
        "podAnnotations": {"team": "helpdesk"},
        "podLabels": {"cost-center": "cx"},
        "extraEnvFrom": [{"secretRef": {"name": "more"}}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp"}],
        "worker": {"nodeSelector": {"pool": "workers"}, "tolerations": [{"operator": "Exists"}]},
        "api": {"affinity": {"nodeAffinity": {}}, "topologySpreadConstraints": []},
    }
    manifests = render(values, tmp_path, hooks_as_plain_resources(tmp_path))
    pods = {
        m["metadata"]["name"]: m["spec"]["template"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
    }
    assert {"atende-api", "atende-worker", "atende-operator", "atende-migrate"} <= set(pods)
    for name, pod in pods.items():
        spec, container = pod["spec"], pod["spec"]["containers"][0]
        assert container["image"] == "ghcr.io/atende/atende@sha256:" + "a" * 64, name
        assert spec["imagePullSecrets"] == [{"name": "from-parent"}, {"name": "regcred"}], name
        assert pod["metadata"]["annotations"]["team"] == "helpdesk", name
        assert pod["metadata"]["labels"]["cost-center"] == "cx", name
        assert container["envFrom"][-1] == {"secretRef": {"name": "more"}}, name
        assert {"name": "ca", "configMap": {"name": "corp-ca"}} in spec["volumes"], name
        assert {"name": "ca", "mountPath": "/etc/ssl/corp"} in container["volumeMounts"], name
    assert pods["atende-worker"]["spec"]["nodeSelector"] == {"pool": "workers"}
    assert pods["atende-worker"]["spec"]["tolerations"] == [{"operator": "Exists"}]
    assert pods["atende-migrate"]["spec"]["nodeSelector"] == {"pool": "jobs"}
    assert "nodeSelector" not in pods["atende-api"]["spec"]
    assert pods["atende-api"]["spec"]["affinity"] == {"nodeAffinity": {}}
    assert "topologySpreadConstraints" not in pods["atende-api"]["spec"]
    # The selector labels stay the chart's: podLabels never change what a Deployment selects.
    api = named(manifests, "Deployment", "atende-api")
    assert "cost-center" not in api["spec"]["selector"]["matchLabels"]


def test_production_defaults_never_leave_a_component_at_zero(keda: Manifests) -> None:
    budgets = {p["metadata"]["name"]: p["spec"] for p in of_kind(keda, "PodDisruptionBudget")}
    assert budgets == {
        "atende-api": {"minAvailable": 1, "selector": budgets["atende-api"]["selector"]},
        "atende-worker": {"minAvailable": 1, "selector": budgets["atende-worker"]["selector"]},
    }
    [scaled] = of_kind(keda, "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] >= 2
    for component in ("api", "worker"):
        spec = named(keda, "Deployment", f"atende-{component}")["spec"]["template"]["spec"]
        spread = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
        assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in spread.values():
            labels = constraint["labelSelector"]["matchLabels"]
            assert labels["app.kubernetes.io/component"] == component
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"  # small clusters schedule


def test_the_worker_is_probed_on_its_own_health_endpoint(keda: Manifests) -> None:
    worker = named(keda, "Deployment", "atende-worker")["spec"]["template"]["spec"]
    container = worker["containers"][0]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, probe
    assert {"name": "metrics", "containerPort": 9100} in container["ports"]
    assert worker["terminationGracePeriodSeconds"] == 200


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"secrets": {"databaseUrl": "postgresql://a@b/c", "redisUrl": "redis://r:6379/0"}},
         r"secrets.secretKey \(or existingSecret\) is required"),
        ({"existingSecret": "vault"}, "set either existingSecret or secrets, not both"),
        ({"autoscaling": {"mode": "sometimes"}},
         "at '/autoscaling/mode': value must be one of 'keda', 'hpa', 'none'"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}},
         r"autoscaling.minReplicas \(5\) is above autoscaling.maxReplicas \(3\)"),
        ({"api": {"pdb": {"minAvailable": 0}}}, "at '/api/pdb/minAvailable': minimum: got 0"),
        ({"worker": {"pdb": {"minAvailable": "0%"}}}, "at '/worker/pdb/minAvailable': '0%'"),
        ({"worker": {"pdb": {"maxUnavailable": 1}}},
         "at '/worker/pdb': additional properties 'maxUnavailable' not allowed"),
        ({"worker": {"replicas": 0}}, "at '/worker/replicas': minimum: got 0"),
        ({"config": {"turnGiveUpAfterSecond": 5}},
         "at '/config': additional properties 'turnGiveUpAfterSecond' not allowed"),
        ({"image": {"digest": "latest"}}, "at '/image/digest'"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_by_name(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render(BASE | values, tmp_path)


def test_a_fifty_percent_budget_is_accepted(tmp_path: Path) -> None:
    manifests = render(BASE | {"worker": {"pdb": {"minAvailable": "50%"}}}, tmp_path)
    assert named(manifests, "PodDisruptionBudget", "atende-worker")["spec"]["minAvailable"] == (
        "50%"
    )
