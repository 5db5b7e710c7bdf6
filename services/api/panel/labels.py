"""Names of the product's codes as a reader says them (the codes stay in URLs, forms, the CLI
and the audit log)."""

from __future__ import annotations

from services.core.auth.roles import Role

from .i18n import gettext as _


def role_name(role: Role | str) -> str:
    """The role in words ("Administrador da plataforma"); an unknown code is shown as it is."""
    code = role.value if isinstance(role, Role) else role
    if code == Role.PLATFORM_ADMIN:
        return _("Platform admin")
    if code == Role.TENANT_ADMIN:
        return _("Tenant admin")
    if code == Role.AGENT:
        return _("Agent")
    if code == Role.VIEWER:
        return _("Viewer")
    return code


def message_status(code: str | None) -> str:
    """A reply's state in its send machine (``outbound/sending.py``)."""
    if code == "pending":
        return _("waiting to be sent")
    if code == "sending":
        return _("sending")
    if code == "sent":
        return _("sent")
    if code == "failed":
        return _("not sent")
    return code or ""


def reply_kind(code: str | None) -> str:
    """What a stored reply was (``outbound_messages.kind``)."""
    names = {
        "reply": _("answer"),
        "fallback": _("fallback"),
        "handoff": _("handoff notice"),
        "notice": _("notice"),
        "workflow": _("sent by a workflow"),
    }
    return names.get(code or "", code or "")


def trigger_name(code: str | None) -> str:
    """Why a conversation went to a person (``handoff.triggers.Trigger``)."""
    names = {
        "keyword": _("handoff keyword"),
        "tool": _("the model's decision"),
        "failure": _("the bot could not answer"),
        "repeated": _("repeated request"),
        "budget": _("budget used up"),
        "media": _("media the bot cannot read"),
        "human": _("a person answered"),
        "workflow": _("a workflow"),
        "panel": _("the panel"),
    }
    return names.get(code or "", code or "")


def handoff_status(code: str | None) -> str:
    names = {
        "requested": _("requested"),
        "transferred": _("ticket moved"),
        "failed": _("ticket not moved"),
        "resolved": _("resolved"),
    }
    return names.get(code or "", code or "")


def handoff_reason(text: str | None) -> str:
    """The reason the product itself writes for an automatic handoff, in the reader's words; a
    reason the model or a workflow gave is shown as written."""
    fixed = {
        "the customer asked for a person": _("the customer asked for a person"),
        "the customer sends media the bot cannot read": _(
            "the customer sends media the bot cannot read"
        ),
        "the customer keeps repeating the same request": _(
            "the customer keeps repeating the same request"
        ),
        "a person answered the customer": _("a person answered the customer"),
        "llm_budget_exhausted": _("the monthly token budget is used up"),
    }
    return fixed.get(text or "", text or "")
