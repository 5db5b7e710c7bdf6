"""What every part of the BotTenant spec shares: camelCase names, unknown fields refused."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretRef(SpecModel):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def unique_by_name[T: _Named](items: list[T], what: str) -> list[T]:
    names = [item.name for item in items]
    if len(names) != len(set(names)):
        raise ValueError(f"{what} names must be unique")
    return items
