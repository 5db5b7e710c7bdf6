"""Monitoring as code: the alert rules pass promtool's own unit tests, critical alerts page and
the rest go to Slack (amtool), dashboards and rules only name metrics the code exports, and
the custom resources pass KEDA's and prometheus-operator's own CRD schemas."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import services.core.metrics  # noqa: F401 - registers every metric the code exports

from . import prometheus_operator, upstream_crds
from .conftest import Manifests
from .render import CHART, NAMESPACE, of_kind, render, values_file

PROMTOOL = shutil.which("promtool") or "promtool"
AMTOOL = shutil.which("amtool") or "amtool"
METRIC = re.compile(r"\batende_[a-z_]+")


def exported_metrics() -> set[str]:
    names = set()
    for collector in REGISTRY.collect():
        names.add(collector.name)
        names.update(sample.name for sample in collector.samples)
    families = {name for name in names if name.startswith("atende_")}
    # Histograms and counters: the names PromQL sees.
    suffixed = {f"{n}{s}" for n in families for s in ("_bucket", "_count", "_sum", "_total")}
    return families | suffixed


def test_custom_resources_pass_their_operators_crd_schemas(
    scenarios: dict[str, Manifests], hooks: Manifests
) -> None:
    kinds = set()
    for name, manifests in [*scenarios.items(), ("hooks", hooks)]:
        for verdict in upstream_crds.validate(manifests):
            assert verdict.known, f"{name}: no schema for {verdict.kind}"
            assert verdict.errors == [], f"{name}: {verdict.kind}/{verdict.name}: {verdict.errors}"
            kinds.add(verdict.kind)
    expected = {"ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert kinds >= expected | {"AlertmanagerConfig"}


def test_the_crd_schemas_refuse_what_the_operators_would(keda: Manifests) -> None:
    """The check bites: the mistakes a values change could make are named, field by field."""
    [scaled] = of_kind(keda, "ScaledObject")
    broken = copy.deepcopy(scaled)
    broken["spec"]["minReplicaCount"] = "1"
    broken["spec"]["triggers"][0]["metadata"]["threshold"] = 5
    del broken["spec"]["scaleTargetRef"]["name"]
    [monitor] = of_kind(keda, "ServiceMonitor")
    bad_monitor = copy.deepcopy(monitor)
    bad_monitor["spec"]["endpoints"][0]["port"] = 8000
    [scaled_verdict, monitor_verdict] = upstream_crds.validate([broken, bad_monitor])
    assert set(scaled_verdict.errors) == {
        "/spec/minReplicaCount must be integer",
        "/spec/triggers/0/metadata/threshold must be string",
        "/spec/scaleTargetRef must have required property name",
    }
    assert monitor_verdict.errors == ["/spec/endpoints/0/port must be string"]
    [unknown] = upstream_crds.validate([{**scaled, "kind": "ScaledThing"}])
    assert not unknown.known


def test_rules_and_dashboards_name_only_exported_metrics(keda: Manifests) -> None:
    [rule] = of_kind(keda, "PrometheusRule")
    named = set(METRIC.findall(json.dumps(rule["spec"])))
    for path in (CHART / "files" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"].startswith("atende-")
        named |= set(METRIC.findall(path.read_text()))
    missing = named - exported_metrics()
    assert not missing, f"rules or dashboards use metrics nobody exports: {sorted(missing)}"
    dashboards = [
        c for c in of_kind(keda, "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    assert len(dashboards) == 4


def test_every_alert_has_a_severity_and_a_runbook(keda: Manifests) -> None:
    [rule] = of_kind(keda, "PrometheusRule")
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == {
        "AtendeGeminiSlow", "AtendeGeminiErrors", "AtendeWhaticketSendFailures",
        "AtendeQueueBacklog", "AtendeQueueStale", "AtendeDeadLettersRising",
        "AtendeRedisMemoryHigh", "AtendeHandoffSlaBreached", "AtendeBudgetExhausted",
        "AtendeEventSubscriptionDisabled", "AtendeRepliesFallingBack",
        "AtendeCloudApiDeliveriesFailing", "AtendeAuditLogAlterable",
    }  # fmt: skip
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert len(alert["annotations"]["runbook"]) > 40


# (metric, labels besides namespace="atende", promtool values)
_SERIES = [
    ("atende_queue_ready_jobs", 'pod="api-1"', "0 900x20"),
    ("atende_queue_ready_jobs", 'pod="worker-1"', "0x20"),
    ("atende_handoff_sla_breaches_total", 'tenant="acme"', "0 0 1 1 1 1"),
    ("atende_llm_budget_used_ratio", 'tenant="acme"', "0.5 1.02x5"),
    ("atende_redis_used_memory_bytes", 'role="queue"', "900x10"),
    ("atende_redis_maxmemory_bytes", 'role="queue"', "1000x10"),
    ("atende_queue_oldest_ready_seconds", "", "0+60x15"),
    ("atende_event_subscriptions_disabled_total", 'tenant="acme"', "0 0 0 1x5"),
    ("atende_fallbacks_total", 'tenant="acme", channel="sms", reason="session_down"', "0 1+1x10"),
    ("atende_delivery_statuses_total", 'tenant="acme", status="failed"', "0 0 1 5x5"),
    # One worker still runs as a role that owns the tables; the api does not.
    ("atende_database_role_can_alter_audit", 'pod="worker-1"', "1x40"),
    ("atende_database_role_can_alter_audit", 'pod="api-1"', "0x40"),
    # Gemini: every call slow (all in the 16 s bucket) and half of them failing.
    ("atende_llm_latency_seconds_bucket", 'tenant="acme", le="8"', "0x25"),
    ("atende_llm_latency_seconds_bucket", 'tenant="acme", le="16"', "0+60x25"),
    ("atende_llm_latency_seconds_bucket", 'tenant="acme", le="+Inf"', "0+60x25"),
    ("atende_llm_latency_seconds_count", 'tenant="acme"', "0+60x25"),
    ("atende_llm_errors_total", 'tenant="acme", error_class="gemini_5xx"', "0+60x25"),
    # Whaticket: globex's replies fail, acme's go out.
    ("atende_send_errors_total", 'tenant="globex", error_class="whaticket_504"', "0+6x25"),
    ("atende_sends_total", 'tenant="globex", channel="whatsapp"', "0+6x25"),
    ("atende_sends_total", 'tenant="acme", channel="whatsapp"', "0+60x25"),
    ("atende_dead_letters_total", 'tenant="globex", stage="send"', "0 20x10"),
    # One accepted message a second for acme.
    ("atende_webhooks_total", 'tenant="acme", outcome="accepted"', "0+60x25"),
]


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    selector = ", ".join(['namespace="atende"', *filter(None, [labels])])
    return {"series": f"{name}{{{selector}}}", "values": values}


SERIES = [_series(*series) for series in _SERIES]
# promtool's clock starts at the epoch, a Thursday: at 00:10 UTC it is 21:10 on Wednesday
# (weekday 3) in Brasília, the default heatmap offset (-3 h).
VOLUME_BY_SLOT = {
    "expr": "atende:webhooks_accepted_per_hour:by_slot",
    "eval_time": "10m",
    "exp_samples": [
        {
            "labels": 'atende:webhooks_accepted_per_hour:by_slot{namespace="atende", '
            'tenant="acme", hour="21", weekday="3"}',
            "value": 3600,
        }
    ],
}
# (alert, when, extra labels, summary as rendered); None: must not fire yet. Every alert keeps
# the namespace (prometheus-operator routes on it) and, when it is about one tenant, the tenant.
EXPECTED = [
    ("AtendeQueueBacklog", "5m", None, None),
    ("AtendeQueueBacklog", "15m", {}, "900 turns wait for a worker"),
    ("AtendeHandoffSlaBreached", "3m", {"tenant": "acme"},
     "A customer of acme waits for a person past the SLA"),
    ("AtendeBudgetExhausted", "3m", {"tenant": "acme"}, "acme used its monthly token budget"),
    ("AtendeRedisMemoryHigh", "8m", {"role": "queue"}, "Redis is near its memory limit"),
    ("AtendeQueueStale", "6m", None, None),  # 360 s, but not yet for 5 minutes
    ("AtendeQueueStale", "11m", {}, "A turn has waited 11m 0s for a worker"),
    ("AtendeEventSubscriptionDisabled", "2m", None, None),
    ("AtendeEventSubscriptionDisabled", "4m", {"tenant": "acme"},
     "A workflow endpoint of acme was switched off for failing"),
    ("AtendeRepliesFallingBack", "3m", None, None),  # not yet for 5 minutes
    ("AtendeRepliesFallingBack", "7m", {"tenant": "acme", "channel": "sms"},
     "Replies of acme go by sms because WhatsApp cannot deliver them"),
    ("AtendeCloudApiDeliveriesFailing", "2m", None, None),  # one failure is not a trend
    ("AtendeCloudApiDeliveriesFailing", "4m", {"tenant": "acme"},
     "Meta reports replies of acme as not delivered"),
    ("AtendeGeminiSlow", "8m", None, None),  # not yet for 10 minutes
    ("AtendeGeminiSlow", "20m", {}, "Gemini answers slowly (p95 above 10 s)"),
    ("AtendeGeminiErrors", "20m", {}, "More than 10% of Gemini calls fail"),
    ("AtendeWhaticketSendFailures", "20m", {"tenant": "globex"},
     "Replies to globex fail to reach Whaticket"),
    ("AtendeDeadLettersRising", "5m", {}, "Turns are failing into dead letters"),
    ("AtendeAuditLogAlterable", "20m", None, None),  # not yet for 30 minutes
    ("AtendeAuditLogAlterable", "35m", {"pod": "worker-1"},
     "worker-1 runs as a database role that can alter the audit log"),
]  # fmt: skip


# A counter appears at its first increment (the client creates it then): the first event of a
# series must fire its alert too, though increase() alone sees 1 -> 1.
FIRST_EVENT_SERIES = [
    _series("atende_fallbacks_total", 'tenant="acme", channel="sms", reason="down"', "_ _ 1x20"),
    _series("atende_handoff_sla_breaches_total", 'tenant="acme"', "_ _ 1x20"),
    _series("atende_dead_letters_total", 'tenant="acme", stage="send"', "_ _ 11x20"),
]
FIRST_EVENT = [
    ("AtendeRepliesFallingBack", "9m", {"tenant": "acme", "channel": "sms"},
     "Replies of acme go by sms because WhatsApp cannot deliver them"),
    ("AtendeHandoffSlaBreached", "3m", {"tenant": "acme"},
     "A customer of acme waits for a person past the SLA"),
    ("AtendeDeadLettersRising", "3m", {}, "Turns are failing into dead letters"),
]  # fmt: skip


def _cases(rules: dict[str, Any], expected: list[Any]) -> list[dict[str, Any]]:
    by_name = {r["alert"]: r for group in rules["groups"] for r in group["rules"] if "alert" in r}
    cases = []
    for alert, when, labels, summary in expected:
        alerts = []
        if labels is not None:
            rule = by_name[alert]
            annotations = {"summary": summary, "runbook": rule["annotations"]["runbook"]}
            exp_labels = rule["labels"] | {"namespace": "atende"} | labels
            alerts = [{"exp_labels": exp_labels, "exp_annotations": annotations}]
        cases.append({"eval_time": when, "alertname": alert, "exp_alerts": alerts})
    return cases


def rule_tests(rules: dict[str, Any]) -> dict[str, Any]:
    """promtool's unit-test file: alerts firing (or not) with their labels and annotations."""
    tests = [
        {
            "interval": "1m",
            "input_series": SERIES,
            "alert_rule_test": _cases(rules, EXPECTED),
            "promql_expr_test": [VOLUME_BY_SLOT],
        },
        {
            "interval": "1m",
            "input_series": FIRST_EVENT_SERIES,
            "alert_rule_test": _cases(rules, FIRST_EVENT),
        },
    ]
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_checks_and_unit_tests_the_rules(keda: Manifests, tmp_path: Path) -> None:
    [rule] = of_kind(keda, "PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(rule_tests(rule["spec"])))
    checked = _run(PROMTOOL, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(PROMTOOL, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


PLACEHOLDERS = {
    ("alertmanager-slack", "webhook-url"): "https://hooks.slack.example/services/T0/B0/x",
    ("alertmanager-pagerduty", "routing-key"): "placeholder-routing-key",
}


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["namespace=atende", "service=atende", "severity=critical"], "atende/atende/pagerduty"),
        (["namespace=atende", "service=atende", "severity=warning"], "atende/atende/slack"),
        # Another namespace's alerts are not ours to route (the operator's namespace matcher).
        (["namespace=other", "service=atende", "severity=critical"], "null"),
        (["service=atende", "severity=critical"], "null"),
    ],
)
def test_critical_alerts_page_and_the_rest_go_to_slack(
    keda: Manifests, tmp_path: Path, labels: list[str], receiver: str
) -> None:
    """Routed by the configuration prometheus-operator generates from the AlertmanagerConfig
    (OnNamespace: the namespace matcher added; see prometheus_operator.py for the sources)."""
    [resource] = of_kind(keda, "AlertmanagerConfig")
    config = prometheus_operator.alertmanager_yaml(
        resource, namespace=NAMESPACE, secrets=PLACEHOLDERS
    )
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    checked = _run(AMTOOL, "check-config", "alertmanager.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routed = _run(
        AMTOOL, "config", "routes", "test", "--config.file=alertmanager.yml", *labels, cwd=tmp_path
    )
    assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_monitors_and_rules_carry_the_labels_prometheus_selects_on(tmp_path: Path) -> None:
    """kube-prometheus-stack's Prometheus selects only resources labelled release: <its name>."""
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": False},
        "monitoring": {"labels": {"release": "kube-prometheus-stack"}},
    }
    manifests = render(values, tmp_path)
    kinds = ("ServiceMonitor", "PodMonitor", "PrometheusRule", "AlertmanagerConfig")
    for kind in kinds:
        [resource] = of_kind(manifests, kind)
        assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
        assert resource["metadata"]["labels"]["app.kubernetes.io/instance"] == "atende", kind


def test_an_alert_can_wait_longer_or_page(tmp_path: Path) -> None:
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": False},
        "monitoring": {
            "customRules": {
                "AtendeQueueBacklog": {"for": "30m", "severity": "warning"},
                "AtendeDeadLettersRising": {"for": "2m", "severity": "critical"},
            }
        },
    }
    [rule] = of_kind(render(values, tmp_path), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["AtendeQueueBacklog"]["for"] == "30m"
    assert alerts["AtendeQueueBacklog"]["labels"]["severity"] == "warning"
    assert alerts["AtendeDeadLettersRising"]["for"] == "2m"
    assert alerts["AtendeDeadLettersRising"]["labels"]["severity"] == "critical"
    assert alerts["AtendeQueueStale"]["for"] == "5m"  # the others keep their defaults
    assert "for" not in alerts["AtendeBudgetExhausted"]
