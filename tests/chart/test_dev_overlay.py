"""The local-cluster overlay (k8s/dev) and skaffold's profiles hold together."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

from .render import CHART, named, render

ROOT = CHART.parents[1]


def test_the_dev_overlay_is_valid_and_the_queue_redis_never_evicts() -> None:
    documents = [
        doc
        for path in sorted((ROOT / "k8s" / "dev").glob("*.yaml"))
        if path.name != "values.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    for doc in documents:
        kubernetes_validate.validate(doc, "1.32.0", strict=True)
    redis = next(d for d in documents if d["metadata"]["name"] == "redis-queue")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--appendonly") + 1] == "yes"


def test_the_chart_renders_with_the_dev_values(tmp_path: Path) -> None:
    values = yaml.safe_load((ROOT / "k8s" / "dev" / "values.yaml").read_text())
    manifests = render(values | {"migrations": {"hook": False}}, tmp_path)
    assert named(manifests, "Deployment", "atende-worker")["spec"]["replicas"] == 1
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert {p["name"] for p in skaffold["profiles"]} == {"dev", "ci"}
    assert skaffold["deploy"]["helm"]["releases"][0]["chartPath"] == "charts/atende"
