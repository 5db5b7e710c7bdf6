"""``spec.delegation``: the parts of a tenant's bot its own admins edit in the panel.

A delegated field is owned by the panel: its edits live in Postgres as an overlay over the
BotTenant's value, which only seeds it until the first edit. The operator and ``tenants apply``
leave a delegated field's overlay alone and say so in the status, so the platform team and the
tenant's admins never overwrite each other."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from .spec_model import SpecModel


class Delegable(StrEnum):
    """A part of the spec the panel can own, by its name in the BotTenant."""

    KNOWLEDGE = "knowledge"  # spec.knowledge.entries: the FAQ
    MESSAGES = "messages"  # spec.messages: the fixed messages
    BUSINESS_HOURS = "businessHours"  # spec.businessHours: weekly hours and holidays


class DelegationSpec(SpecModel):
    panel_owns: list[Delegable] = Field(default=[], max_length=len(Delegable))

    @field_validator("panel_owns")
    @classmethod
    def _once_each(cls, value: list[Delegable]) -> list[Delegable]:
        if len(value) != len(set(value)):
            raise ValueError("each field may be listed once in delegation.panelOwns")
        return value

    def owns(self, field: Delegable) -> bool:
        return field in self.panel_owns
