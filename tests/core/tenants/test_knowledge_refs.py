"""``atende tenants apply -f``: ConfigMap documents in the same file carry larger knowledge sets."""

from __future__ import annotations

import pytest

from services.core.errors import ManifestError
from services.core.tenants.manifest import load_manifests

TENANT = """\
apiVersion: v1
kind: Secret
metadata: {name: shop, labels: {atende.dev/tenant: shop}}
stringData: {webhook-secret: shop-webhook-secret-0123456789}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {name: shop}
spec:
  displayName: Shop
  whaticket: {connections: [{name: main}]}
  webhook: {secretRefs: [{name: shop, key: webhook-secret}]}
  persona: {systemPrompt: Você atende a Shop.}
  knowledge:
    entries: [{question: "Horário?", answer: "9h às 18h."}]
    configMapRefs: [{name: shop-faq, key: faq.yaml}]
"""


def config_map(body: str) -> str:
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    head = "---\napiVersion: v1\nkind: ConfigMap\n"
    head += "metadata: {name: shop-faq, labels: {atende.dev/tenant: shop}}\n"
    return f"{head}data:\n  faq.yaml: |\n{indented}"


def test_entries_from_a_config_map_follow_the_inline_ones() -> None:
    faq = '- {question: "Frete grátis?", answer: "Acima de R$ 200."}\n'
    faq += '- {question: "Troca?", answer: "30 dias."}'
    [tenant], _ = load_manifests(TENANT + config_map(faq))
    assert [e.question for e in tenant.spec.knowledge.entries] == [
        "Horário?",
        "Frete grátis?",
        "Troca?",
    ]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("", "spec.knowledge.configMapRefs[0]: ConfigMap 'shop-faq' has no key 'faq.yaml'"),
        (config_map("question: not a list"), "expected a list of {question, answer} entries"),
        (config_map("- {question: Q1}"), "entry 1: answer: Field required"),
        (config_map("- [unclosed"), "ConfigMap 'shop-faq' key 'faq.yaml': not valid YAML"),
    ],
    ids=["missing", "not-a-list", "no-answer", "broken-yaml"],
)
def test_bad_config_maps_are_refused_naming_the_place(extra: str, problem: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifests(TENANT + extra)
    assert any(problem in p for p in info.value.problems), info.value.problems
