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

from . import upstream_crds
from .conftest import Manifests
from .render import CHART, of_kind

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
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {a["alert"] for a in alerts} == {
        "AtendeGeminiSlow", "AtendeGeminiErrors", "AtendeWhaticketSendFailures",
        "AtendeQueueBacklog", "AtendeQueueStale", "AtendeDeadLettersRising",
        "AtendeRedisMemoryHigh", "AtendeHandoffSlaBreached", "AtendeBudgetExhausted",
        "AtendeEventSubscriptionDisabled", "AtendeRepliesFallingBack",
        "AtendeCloudApiDeliveriesFailing",
    }  # fmt: skip
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert len(alert["annotations"]["runbook"]) > 40


SERIES = [
    {"series": 'atende_queue_ready_jobs{namespace="atende", pod="api-1"}', "values": "0 900x20"},
    {"series": 'atende_handoff_sla_breaches_total{tenant="acme"}', "values": "0 0 1 1 1 1"},
    {"series": 'atende_llm_budget_used_ratio{tenant="acme"}', "values": "0.5 1.02x5"},
    {"series": 'atende_redis_used_memory_bytes{role="queue"}', "values": "900x10"},
    {"series": 'atende_redis_maxmemory_bytes{role="queue"}', "values": "1000x10"},
    {"series": "atende_queue_oldest_ready_seconds", "values": "0+60x15"},
    {"series": 'atende_event_subscriptions_disabled_total{tenant="acme"}', "values": "0 0 0 1x5"},
    {
        "series": 'atende_fallbacks_total{tenant="acme", channel="sms", reason="session_down"}',
        "values": "0 1+1x10",
    },
    {
        "series": 'atende_delivery_statuses_total{tenant="acme", status="failed"}',
        "values": "0 0 1 5x5",
    },
]
# (alert, when, extra labels, summary as rendered); None: must not fire yet.
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
]  # fmt: skip


def rule_tests(rules: dict[str, Any]) -> dict[str, Any]:
    """promtool's unit-test file: alerts firing (or not) with their labels and annotations."""
    by_name = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}
    cases = []
    for alert, when, labels, summary in EXPECTED:
        expected = []
        if labels is not None:
            rule = by_name[alert]
            annotations = {"summary": summary, "runbook": rule["annotations"]["runbook"]}
            expected = [{"exp_labels": rule["labels"] | labels, "exp_annotations": annotations}]
        cases.append({"eval_time": when, "alertname": alert, "exp_alerts": expected})
    test = {"interval": "1m", "input_series": SERIES, "alert_rule_test": cases}
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [test]}


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


def _alertmanager_yaml(resource: dict[str, Any]) -> dict[str, Any]:
    """The AlertmanagerConfig as the alertmanager.yml the operator makes of it (secrets as
    placeholders)."""
    spec = resource["spec"]

    def route(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"receiver": node["receiver"]}
        out["matchers"] = [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in node["matchers"]]
        for key, snake in (
            ("groupBy", "group_by"),
            ("groupWait", "group_wait"),
            ("groupInterval", "group_interval"),
            ("repeatInterval", "repeat_interval"),
        ):
            if key in node:
                out[snake] = node[key]
        if "routes" in node:
            out["routes"] = [route(child) for child in node["routes"]]
        return out

    receivers = []
    for receiver in spec["receivers"]:
        entry: dict[str, Any] = {"name": receiver["name"]}
        for config in receiver.get("slackConfigs", []):
            entry.setdefault("slack_configs", []).append(
                {
                    "api_url": "https://hooks.slack.example/x",
                    "channel": config["channel"],
                    "send_resolved": config["sendResolved"],
                    "title": config["title"],
                    "text": config["text"],
                }
            )
        for config in receiver.get("pagerdutyConfigs", []):
            entry.setdefault("pagerduty_configs", []).append(
                {"routing_key": "placeholder", "send_resolved": config["sendResolved"]}
            )
        receivers.append(entry)
    # prometheus-operator mounts an AlertmanagerConfig's route under the global root route.
    root = {"receiver": "null", "routes": [route(spec["route"])]}
    return {"route": root, "receivers": [{"name": "null"}, *receivers]}


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["service=atende", "severity=critical"], "pagerduty"),
        (["service=atende", "severity=warning"], "slack"),
    ],
)
def test_critical_alerts_page_and_the_rest_go_to_slack(
    keda: Manifests, tmp_path: Path, labels: list[str], receiver: str
) -> None:
    [resource] = of_kind(keda, "AlertmanagerConfig")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_yaml(resource)))
    checked = _run(AMTOOL, "check-config", "alertmanager.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routed = _run(
        AMTOOL, "config", "routes", "test", "--config.file=alertmanager.yml", *labels, cwd=tmp_path
    )
    assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr
