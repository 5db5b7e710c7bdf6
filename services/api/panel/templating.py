"""Jinja2 for the panel: autoescaped (customer text is shown as text, never as HTML), in the
request's language (gettext callables, ``html_lang``, the formatting filters of
:mod:`.formatting`), every page saying its language in ``Content-Language``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.templating import _TemplateResponse

from . import i18n
from .formatting import FILTERS, GLOBALS
from .labels import (
    handoff_reason,
    handoff_status,
    message_status,
    reply_kind,
    role_name,
    trigger_name,
)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


class PanelTemplates(Jinja2Templates):
    def TemplateResponse(self, *args: Any, **kwargs: Any) -> _TemplateResponse:  # noqa: N802
        response = super().TemplateResponse(*args, **kwargs)
        response.headers["Content-Language"] = i18n.html_lang()
        response.headers["Vary"] = "Accept-Language, Cookie"
        return response


templates = PanelTemplates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)
templates.env.filters.update(FILTERS)
templates.env.globals.update(GLOBALS)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
templates.env.globals["html_lang"] = i18n.html_lang
templates.env.globals["locale"] = i18n.current_locale
templates.env.globals["role_name"] = role_name
templates.env.globals["message_status"] = message_status
templates.env.globals["reply_kind"] = reply_kind
templates.env.globals["trigger_name"] = trigger_name
templates.env.globals["handoff_status"] = handoff_status
templates.env.globals["handoff_reason"] = handoff_reason
