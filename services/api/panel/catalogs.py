"""Which of the panel's strings have no pt-BR translation yet.

Every msgid marked in the templates (``_``, ``gettext``, ``ngettext``) and in the panel's Python
modules is read with Babel's extractors and looked up in every catalog under
``locales/pt_BR/LC_MESSAGES``. ``python -m services.api.panel.catalogs`` (``make i18n``) prints
the missing ones with where they come from and writes ``locales/panel.pot``, the template a new
catalog starts from; ``tests/api/test_panel_catalogs.py`` fails while any is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po

PANEL = Path(__file__).parent
ROOT = PANEL.parents[2]
LOCALES = PANEL / "locales"
POT = LOCALES / "panel.pot"
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "gettext": None, "ngettext": (1, 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}


@dataclass(frozen=True, slots=True)
class Marked:
    msgid: str | tuple[str, str]  # a pair for ngettext: (singular, plural)
    path: str  # relative to the repository
    line: int

    @property
    def key(self) -> str:
        return self.msgid if isinstance(self.msgid, str) else self.msgid[0]


def sources() -> Iterator[tuple[str, Path]]:
    """(extractor, file): every template and every Python module of the panel."""
    for template in sorted((PANEL / "templates").rglob("*.html")):
        yield "jinja2.ext:babel_extract", template
    for module in sorted(PANEL.rglob("*.py")):
        yield "python", module


def marked() -> list[Marked]:
    found = []
    for method, path in sources():
        options = JINJA_OPTIONS if method != "python" else {}
        with path.open("rb") as source:
            for line, message, _comments, _context in extract(
                method, source, keywords=KEYWORDS, comment_tags=(), options=options
            ):
                msgid = message if isinstance(message, str) else (message[0], message[1])
                if msgid:
                    found.append(Marked(msgid, str(path.relative_to(ROOT)), line))
    return found


def translations(locale: str = "pt_BR") -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(catalog file, msgid, its translated forms) of every non-empty, non-fuzzy entry."""
    for po in sorted((LOCALES / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        for message in catalog:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.id and not message.fuzzy and all(strings):
                key = message.id if isinstance(message.id, str) else message.id[0]
                yield po.name, key, tuple(str(form) for form in strings)


def translated(locale: str = "pt_BR") -> set[str]:
    """The msgids with a translation in some catalog of ``locale``."""
    return {msgid for _file, msgid, _strings in translations(locale)}


def conflicts(locale: str = "pt_BR") -> dict[str, dict[str, tuple[str, ...]]]:
    """msgid -> {catalog: translation} for the msgids two catalogs translate differently: the
    merged catalog keeps only one, so one page would read another area's words. A msgid that
    means two things wants two msgids ("Switch tenant", "Pause or resume")."""
    seen: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, msgid, strings in translations(locale):
        seen.setdefault(msgid, {})[name] = strings
    return {m: by_file for m, by_file in seen.items() if len(set(by_file.values())) > 1}


def missing(locale: str = "pt_BR") -> list[Marked]:
    done = translated(locale)
    return [m for m in marked() if m.key not in done]


def write_pot(messages: list[Marked]) -> None:
    catalog = Catalog(project="Atende panel", charset="utf-8")
    for m in messages:
        catalog.add(m.msgid, locations=[(m.path, m.line)])
    with POT.open("wb") as out:
        write_po(out, catalog, omit_header=False, sort_output=True)


def main() -> int:
    write_pot(marked())
    gaps = missing()
    for m in gaps:
        print(f"{m.path}:{m.line}: {m.key!r}")
    print(
        f"{len(gaps)} panel string(s) without a pt-BR translation; "
        f"template written to {POT.relative_to(ROOT)}"
    )
    differing = conflicts()
    for msgid, by_file in sorted(differing.items()):
        told = "; ".join(f"{name}: {' | '.join(forms)!r}" for name, forms in by_file.items())
        print(f"translated differently: {msgid!r} ({told})")
    return 1 if gaps or differing else 0


if __name__ == "__main__":
    sys.exit(main())
