"""Knowledge kept in ConfigMaps (``spec.knowledge.configMapRefs``), folded into the spec.

Each referenced key holds a YAML list of ``{question, answer}`` entries. They are appended to the
inline entries when the tenant is applied — by ``atende tenants apply -f`` from ConfigMap
documents in the same file, by the operator from the cluster — so everything downstream (the
index, the cache version, the fingerprint that notices a change) sees one list. Problems name
the ConfigMap, the key and the entry.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml
from pydantic import ValidationError

from services.core.errors import ManifestError

from .spec import MAX_KNOWLEDGE_ENTRIES, BotTenantSpec, ConfigMapRef, KnowledgeEntry

# Bounds on what every process keeps in memory per tenant and indexes on each change: the
# entries of the spec and its ConfigMaps together, and their text (about 2 MB of it).
MAX_ENTRIES = MAX_KNOWLEDGE_ENTRIES
MAX_KNOWLEDGE_CHARS = 2_000_000

ReadConfigMap = Callable[[ConfigMapRef], str | None]


def _entries(ref: ConfigMapRef, text: str, problems: list[str]) -> list[KnowledgeEntry]:
    where = f"ConfigMap {ref.name!r} key {ref.key!r}"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        problems.append(f"{where}: not valid YAML")
        return []
    if not isinstance(raw, list):
        problems.append(f"{where}: expected a list of {{question, answer}} entries")
        return []
    found: list[KnowledgeEntry] = []
    for index, item in enumerate(raw):
        try:
            found.append(KnowledgeEntry.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                field = ".".join(str(part) for part in err["loc"]) or "entry"
                problems.append(f"{where}: entry {index + 1}: {field}: {err['msg']}")
    return found


def expand_knowledge(spec: BotTenantSpec, read: ReadConfigMap, where: str) -> BotTenantSpec:
    """The spec with the ConfigMaps' entries appended; raises :class:`ManifestError`."""
    refs = spec.knowledge.config_map_refs
    problems: list[str] = []
    entries = list(spec.knowledge.entries)
    for index, ref in enumerate(refs):
        text = read(ref)
        if text is None:
            path = f"spec.knowledge.configMapRefs[{index}]"
            problems.append(f"{where}: {path}: ConfigMap {ref.name!r} has no key {ref.key!r}")
            continue
        entries += _entries(ref, text, problems)
    if len(entries) > MAX_ENTRIES:
        problems.append(f"{where}: {len(entries)} knowledge entries; at most {MAX_ENTRIES}")
    chars = sum(len(e.question) + len(e.answer) for e in entries)
    if chars > MAX_KNOWLEDGE_CHARS:
        problems.append(
            f"{where}: spec.knowledge: {chars} characters of questions and answers; "
            f"at most {MAX_KNOWLEDGE_CHARS}"
        )
    if problems:
        raise ManifestError(problems)
    if not refs:
        return spec
    knowledge = spec.knowledge.model_copy(update={"entries": entries})
    return spec.model_copy(update={"knowledge": knowledge})
