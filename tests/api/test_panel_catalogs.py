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
