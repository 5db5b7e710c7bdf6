"""kmock's in-memory Kubernetes API, taught to honour ``labelSelector`` as the API server does.

kmock ignores the parameter, so a watch that selects on labels would still see every object.
What is emulated, and from where:

- The selector syntax (``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``,
  ``key in (a,b)``, ``key notin (a,b)``, requirements joined by ``,`` meaning AND):
  https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
- ``labelSelector`` filtering a list and a watch alike ("LIST and WATCH filtering", same page;
  https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
- A watched object that starts matching arrives as ``ADDED`` and one that stops matching (its
  label removed) as ``DELETED``, carrying its previous content: ``convertToWatchEvent`` in
  kubernetes' ``staging/src/k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go``, as
  clients observe it (kubernetes-client/python#2228). Here each watch remembers what it has
  sent as matching, which is what the cacher's comparison with the previous object amounts to.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import kmock

_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<absent>!)\s*(?P<akey>[^\s,!=()]+)"
    r"|(?P<skey>[^\s,!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)"
    r"|(?P<ekey>[^\s,!=()]+)\s*(?P<eq>==|=|!=)\s*(?P<value>[^\s,!=()]*)"
    r"|(?P<key>[^\s,!=()]+))\s*$"
)


def _requirements(selector: str) -> list[str]:
    """Split on the commas outside ``( … )`` (a set's values hold commas too)."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current.strip() else parts


def matches(selector: str, labels: Mapping[str, str]) -> bool:
    for requirement in _requirements(selector):
        found = _REQUIREMENT.match(requirement)
        if found is None:
            raise ValueError(f"not a label selector: {requirement!r}")
        if found["akey"] is not None:
            ok = found["akey"] not in labels
        elif found["skey"] is not None:
            values = {v.strip() for v in found["values"].split(",")}
            present = found["skey"] in labels and labels[found["skey"]] in values
            ok = present if found["op"] == "in" else not present
        elif found["ekey"] is not None:
            equal = labels.get(found["ekey"]) == found["value"]
            ok = not equal if found["eq"] == "!=" else equal
        else:
            ok = found["key"] in labels
        if not ok:
            return False
    return True


def _labels(obj: Any) -> Mapping[str, str]:
    """The labels; a ``null`` left by kmock's naive merge patch is a removed label (RFC 7386)."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    labels = (meta or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items() if v is not None}


@attrs.define(kw_only=True)
class LabelSelectingEmulator(kmock.KubernetesEmulator):
    """:class:`kmock.KubernetesEmulator` with ``labelSelector`` on lists and watches; every
    list and watch is recorded in ``selected`` as (path, the selector or ``None``), and every
    event a watch sends in ``streamed`` as (path, event type, object name)."""

    selected: list[tuple[str, str | None]] = attrs.field(factory=list, init=False)
    streamed: list[tuple[str, str, str]] = attrs.field(factory=list, init=False)

    def _record(self, request: Any) -> str | None:
        selector = request.params.get("labelSelector")
        self.selected.append((request.url.path, selector))
        return selector  # type: ignore[no-any-return]

    async def _serve_list(self, request: Any) -> Any:
        selector = self._record(request)
        listing: Any = await super()._serve_list(request)
        if selector:
            listing["items"] = [o for o in listing["items"] if matches(selector, _labels(o))]
        return listing

    async def _serve_watch(self, request: Any) -> AsyncIterator[Any]:
        selector = self._record(request)
        # What this watch has shown as matching, as last shown: one that stops matching is sent
        # DELETED with that content, "the previous object" of the cacher.
        sent: dict[tuple[str, str], Any] = {}
        async for event in super()._serve_watch(request):
            if not isinstance(event, Mapping):
                yield event
                continue
            obj = event.get("object") or {}
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace")), str(meta.get("name")))
            if not selector:
                out: Mapping[str, Any] | None = event
            elif event.get("type") != "DELETED" and matches(selector, _labels(obj)):
                kind = "MODIFIED" if key in sent and event.get("type") == "MODIFIED" else "ADDED"
                sent[key] = obj
                out = {**event, "type": kind}
            elif key in sent:  # deleted, or it no longer matches: gone from this watch
                previous = sent.pop(key)
                out = {
                    "type": "DELETED",
                    "object": obj if event.get("type") == "DELETED" else previous,
                }
            else:
                out = None
            if out is not None:
                self.streamed.append((request.url.path, str(out["type"]), key[1]))
                yield out
