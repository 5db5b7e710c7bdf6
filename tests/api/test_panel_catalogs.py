"""Every string the panel shows has a pt-BR translation: each msgid marked in any template or
panel module (``_``, ``gettext``, ``ngettext``) is found, non-empty, in some catalog under
``services/api/panel/locales/pt_BR``. A failure lists each missing msgid with where it is."""

from __future__ import annotations

import pytest

from services.api.panel import catalogs


def test_every_panel_string_has_a_pt_br_translation() -> None:
    found = catalogs.marked()
    # The extractors do see the templates and the modules (an empty scan would pass vacuously).
    assert any(m.path.endswith("templates/base.html") and m.key == "Sign out" for m in found)
    assert any(m.path.endswith("auth_routes.py") for m in found)
    missing = catalogs.missing()
    listing = "\n".join(f"  {m.path}:{m.line}: {m.key!r}" for m in missing)
    if missing:
        pytest.fail(
            f"{len(missing)} panel string(s) have no pt-BR translation in any "
            f"services/api/panel/locales/pt_BR/LC_MESSAGES/*.po (make i18n lists them too):\n"
            f"{listing}",
            pytrace=False,
        )


def test_a_plural_needs_both_forms_translated() -> None:
    translated = catalogs.translated()
    assert "hash chain intact · %(num)d event checked" in translated
    assert "" not in translated


def test_no_msgid_is_translated_two_ways() -> None:
    """All catalogs merge into one: a msgid two areas translate differently would show one
    area's words on the other's page, whichever file sorts last."""
    differing = catalogs.conflicts()
    listing = "\n".join(
        f"  {msgid!r}: "
        + "; ".join(f"{name} says {' | '.join(forms)!r}" for name, forms in by.items())
        for msgid, by in sorted(differing.items())
    )
    if differing:
        pytest.fail(
            f"{len(differing)} msgid(s) translated differently in two pt-BR catalogs (agree on "
            f"one, or give the other meaning its own msgid):\n{listing}",
            pytrace=False,
        )
