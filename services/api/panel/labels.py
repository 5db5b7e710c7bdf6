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
