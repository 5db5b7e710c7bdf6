"""One tenant's knowledge is bounded, so it cannot crowd the others out of a worker's memory or
the prompt index: an answer, a question and the number of entries by the CRD and the spec
model alike (k8s/examples/invalid/knowledge-answer-too-long.yaml), and the text of the spec's
and its ConfigMaps' entries together by ``tenants apply`` and the operator."""

from __future__ import annotations

import pytest

from services.core.errors import ManifestError
from services.core.tenants.knowledge_refs import MAX_KNOWLEDGE_CHARS
from services.core.tenants.manifest import load_manifests
from services.core.tenants.spec import MAX_ANSWER_CHARS

from .test_knowledge_refs import TENANT as ONE_REF

TENANT = (
    ONE_REF.replace(
        "configMapRefs: [{name: shop-faq, key: faq.yaml}]",
        "configMapRefs: [{name: shop-faq, key: faq.yaml}, {name: shop-faq, key: more.yaml}]",
    )
    + "---\napiVersion: v1\nkind: ConfigMap\n"
    + "metadata: {name: shop-faq, labels: {atende.dev/tenant: shop}}\ndata:\n"
)


def _faq(key: str, entries: int, answer: str) -> str:
    lines = [f'    - {{question: "Pergunta {i}?", answer: "{answer}"}}' for i in range(entries)]
    return f"  {key}: |\n" + "\n".join(lines) + "\n"


def test_each_entry_fits_but_together_they_are_too_much() -> None:
    answer = "x" * (MAX_ANSWER_CHARS - 10)
    half = MAX_KNOWLEDGE_CHARS // len(answer) // 2 + 2  # both keys together pass the bound
    text = TENANT + _faq("faq.yaml", half, answer) + _faq("more.yaml", half, answer)
    with pytest.raises(ManifestError) as info:
        load_manifests(text)
    assert any(
        "BotTenant 'shop': spec.knowledge:" in p and f"at most {MAX_KNOWLEDGE_CHARS}" in p
        for p in info.value.problems
    ), info.value.problems


def test_a_large_set_within_the_bound_is_applied() -> None:
    answer = "y" * 900
    [tenant], _ = load_manifests(
        TENANT + _faq("faq.yaml", 500, answer) + _faq("more.yaml", 500, answer)
    )
    assert len(tenant.spec.knowledge.entries) == 1001


def test_an_answer_over_the_limit_is_refused_naming_the_entry() -> None:
    text = TENANT + _faq("faq.yaml", 1, "z" * (MAX_ANSWER_CHARS + 1)) + _faq("more.yaml", 1, "ok")
    with pytest.raises(ManifestError) as info:
        load_manifests(text)
    assert any("entry 1: answer:" in p for p in info.value.problems), info.value.problems
