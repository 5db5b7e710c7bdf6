"""What prometheus-operator makes of the chart's monitoring resources, for a Prometheus and an
Alertmanager started outside a cluster.

Emulated from the operator's source (prometheus-operator/prometheus-operator, ``main``):

- ``pkg/prometheus/promcfg.go`` ``generateServiceMonitorConfig`` / ``generatePodMonitorConfig``:
  the relabelings of a ServiceMonitor endpoint (role ``endpoints``) and of a PodMonitor
  endpoint, in the operator's order. The targets carry the ``__meta_kubernetes_*`` labels that
  Prometheus' Kubernetes service discovery gives them
  (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config),
  read from the rendered Service and Deployments.
- ``pkg/alertmanager/amcfg.go`` ``AddAlertmanagerConfigs``, ``convertRoute``,
  ``makeNamespacedString`` and the default matcher strategy ``OnNamespace``
  (``namespaceEnforcer`` wrapped in ``continueToNextRoute``): each AlertmanagerConfig's route
  gets a ``namespace="<its namespace>"`` matcher and ``continue: true``, is put first under the
  base configuration's root route, and its receivers are renamed
  ``<namespace>/<name>/<receiver>``; secrets are read from the Secrets the resource names.
  The expected output shape is the operator's own golden file
  ``pkg/alertmanager/testdata/CR_with_Pagerduty_Receiver.golden``; the behaviour is documented
  at https://prometheus-operator.dev/docs/developer/alerting/ ("the operator adds a namespace
  matcher").
"""

from __future__ import annotations

import re
from typing import Any

Manifest = dict[str, Any]
# The base configuration the golden files start from: everything else goes nowhere.
BASE_ROUTE_RECEIVER = "null"


def _sanitize(name: str) -> str:
    """``sanitizeLabelName``: anything not a label character becomes ``_``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _meta_labels(kind: str, labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in labels.items():
        out[f"__meta_kubernetes_{kind}_label_{_sanitize(key)}"] = value
        out[f"__meta_kubernetes_{kind}_labelpresent_{_sanitize(key)}"] = "true"
    return out


def _selector_keeps(kind: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
    keeps = []
    for key in sorted(selector.get("matchLabels", {})):
        name = _sanitize(key)
        keeps.append(
            {
                "action": "keep",
                "source_labels": [
                    f"__meta_kubernetes_{kind}_label_{name}",
                    f"__meta_kubernetes_{kind}_labelpresent_{name}",
                ],
                "regex": f"({selector['matchLabels'][key]});true",
            }
        )
    return keeps


_RUNNING_FILTER = {
    "action": "drop",
    "source_labels": ["__meta_kubernetes_pod_phase"],
    "regex": "(Failed|Succeeded)",
}
_INIT = {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}


def _job(
    job_name: str, endpoint: dict[str, Any], target: dict[str, str], relabels: list[Any]
) -> dict[str, Any]:
    interval = endpoint.get("interval", "30s")
    return {
        "job_name": job_name,
        "honor_labels": False,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [{"targets": [target["__address__"]], "labels": target}],
        "relabel_configs": relabels,
    }


def _pod(deployment: Manifest, pod_name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The pod's meta labels (as the SD gives them) and its first container."""
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    meta = {
        "__meta_kubernetes_namespace": deployment["metadata"].get("namespace", ""),
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_container_name": container["name"],
        **_meta_labels("pod", template["metadata"]["labels"]),
    }
    return meta, container


def service_monitor_job(
    monitor: Manifest,
    service: Manifest,
    deployment: Manifest,
    *,
    namespace: str,
    pod_name: str,
    address: str,
) -> dict[str, Any]:
    """The scrape job of the monitor's first endpoint, with one target: ``pod_name`` behind
    ``service`` listening on ``address``."""
    [endpoint] = monitor["spec"]["endpoints"]
    pod, _ = _pod(deployment, pod_name)
    [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]] or [{}]
    target = {
        **pod,
        "__address__": address,
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_service_name": service["metadata"]["name"],
        **_meta_labels("service", service["metadata"]["labels"]),
        "__meta_kubernetes_endpoint_port_name": port.get("name", ""),
        "__meta_kubernetes_endpoint_address_target_kind": "Pod",
        "__meta_kubernetes_endpoint_address_target_name": pod_name,
    }
    targets = [
        "__meta_kubernetes_endpoint_address_target_kind",
        "__meta_kubernetes_endpoint_address_target_name",
    ]
    relabels = [
        _INIT,
        *_selector_keeps("service", monitor["spec"]["selector"]),
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_endpoint_port_name"],
            "regex": endpoint["port"],
        },
        {
            "source_labels": targets,
            "separator": ";",
            "regex": "Node;(.*)",
            "replacement": "${1}",
            "target_label": "node",
        },
        {
            "source_labels": targets,
            "separator": ";",
            "regex": "Pod;(.*)",
            "replacement": "${1}",
            "target_label": "pod",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        _RUNNING_FILTER,
        {
            "source_labels": ["__meta_kubernetes_service_name"],
            "target_label": "job",
            "replacement": "${1}",
        },
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    name = f"serviceMonitor/{namespace}/{monitor['metadata']['name']}/0"
    return _job(name, endpoint, target, relabels)


def pod_monitor_job(
    monitor: Manifest, deployment: Manifest, *, namespace: str, pod_name: str, address: str
) -> dict[str, Any]:
    """The scrape job of the PodMonitor's first endpoint, with ``pod_name`` on ``address``."""
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    pod, container = _pod(deployment, pod_name)
    names = [p["name"] for p in container.get("ports", [])]
    target = {
        **pod,
        "__address__": address,
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_container_port_name": endpoint["port"]
        if endpoint["port"] in names
        else "",
    }
    relabels = [
        _INIT,
        *_selector_keeps("pod", monitor["spec"]["selector"]),
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": endpoint["port"],
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        _RUNNING_FILTER,
        {"target_label": "job", "replacement": f"{namespace}/{monitor['metadata']['name']}"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    name = f"podMonitor/{namespace}/{monitor['metadata']['name']}/0"
    return _job(name, endpoint, target, relabels)


def _matcher(m: dict[str, Any]) -> str:
    """``monitoringv1alpha1.Matcher.String()``: name, operator, quoted value."""
    value = str(m["value"]).replace("\\", "\\\\").replace('"', '\\"')
    return f'{m["name"]}{m.get("matchType", "=")}"{value}"'


_ROUTE_FIELDS = {
    "groupBy": "group_by",
    "groupWait": "group_wait",
    "groupInterval": "group_interval",
    "repeatInterval": "repeat_interval",
    "continue": "continue",
}


def _route(node: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"receiver": f"{prefix}/{node['receiver']}"}
    for camel, snake in _ROUTE_FIELDS.items():
        if camel in node:
            out[snake] = node[camel]
    if node.get("matchers"):
        out["matchers"] = [_matcher(m) for m in node["matchers"]]
    if node.get("routes"):
        out["routes"] = [_route(child, prefix) for child in node["routes"]]
    return out


def _secret(secrets: dict[tuple[str, str], str], ref: dict[str, str]) -> str:
    return secrets[(ref["name"], ref["key"])]


def _slack(config: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"send_resolved": config.get("sendResolved", False)}
    for field in ("channel", "title", "text"):
        if field in config:
            out[field] = config[field]
    if "apiURL" in config:
        out["api_url"] = _secret(secrets, config["apiURL"])
    return out


def _pagerduty(config: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"send_resolved": config.get("sendResolved", True)}
    for field in ("url", "severity"):
        if field in config:
            out[field] = config[field]
    if "routingKey" in config:
        out["routing_key"] = _secret(secrets, config["routingKey"])
    return out


def alertmanager_yaml(
    resource: Manifest, *, namespace: str, secrets: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """alertmanager.yaml as the operator generates it from one AlertmanagerConfig in
    ``namespace`` (matcher strategy OnNamespace), on the golden files' base configuration.
    ``secrets`` maps (Secret name, key) to the value the Secret holds."""
    prefix = f"{namespace}/{resource['metadata']['name']}"
    spec = resource["spec"]
    route = _route(spec["route"], prefix)
    route["matchers"] = [*route.get("matchers", []), f'namespace="{namespace}"']
    route["continue"] = True
    receivers: list[dict[str, Any]] = [{"name": BASE_ROUTE_RECEIVER}]
    for receiver in spec["receivers"]:
        entry: dict[str, Any] = {"name": f"{prefix}/{receiver['name']}"}
        if receiver.get("slackConfigs"):
            entry["slack_configs"] = [_slack(c, secrets) for c in receiver["slackConfigs"]]
        if receiver.get("pagerdutyConfigs"):
            entry["pagerduty_configs"] = [
                _pagerduty(c, secrets) for c in receiver["pagerdutyConfigs"]
            ]
        receivers.append(entry)
    return {
        "route": {"receiver": BASE_ROUTE_RECEIVER, "routes": [route]},
        "receivers": receivers,
        "templates": [],
    }
