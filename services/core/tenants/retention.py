"""``spec.retention``: how long a tenant's customers' data is kept (LGPD art. 15 and 16: data
are erased once their purpose is met).

Raw webhook payloads hold more than the conversation needs (device ids, media keys, names), so
they go long before the text. Audit rows are kept longest: they answer who saw or changed what,
and Marco Civil (Lei 12.965/2014, art. 15) asks six months of access records at least."""

from __future__ import annotations

from pydantic import Field, model_validator

from .spec_model import SpecModel

TEN_YEARS = 3650


class RetentionSpec(SpecModel):
    messages_days: int = Field(default=365, ge=1, le=TEN_YEARS)
    raw_payloads_days: int = Field(default=30, ge=1, le=TEN_YEARS)
    audit_days: int = Field(default=730, ge=180, le=TEN_YEARS)

    @model_validator(mode="after")
    def _payloads_go_first(self) -> RetentionSpec:
        if self.raw_payloads_days > self.messages_days:
            raise ValueError("retention.rawPayloadsDays cannot exceed retention.messagesDays")
        return self
