"""Custom resources checked against their operators' own CRD schemas.

KEDA's and prometheus-operator's CRDs are published on npm as generated validators
(``@kubernetes-models/keda``, ``@kubernetes-models/prometheus-operator``, pinned in
``tests/chart/crds/package.json`` and installed by ``make test``); ``crds/validate.mjs`` runs
them with Node.js over the rendered manifests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).parent / "crds"
VALIDATED_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


@dataclass(frozen=True)
class Verdict:
    kind: str
    name: str | None
    known: bool
    errors: list[str]


def validate(manifests: list[dict[str, Any]]) -> list[Verdict]:
    """One verdict per manifest of a validated API group, in order."""
    node = shutil.which("node")
    if node is None or not (PACKAGE / "node_modules").is_dir():
        raise RuntimeError("Node.js and the CRD schema packages are needed: run `make test`")
    custom = [m for m in manifests if m["apiVersion"].startswith(VALIDATED_GROUPS)]
    done = subprocess.run(
        [node, "validate.mjs"],
        cwd=PACKAGE,
        input=json.dumps(custom),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [Verdict(r["kind"], r["name"], r["known"], r["errors"]) for r in json.loads(done.stdout)]
