"""Business hours as pure functions of an instant: open?, next opening, and the phrase a customer
reads — across timezones, weekends, holidays and DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.core import hours
from services.core.tenants.spec import BusinessHoursSpec

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
SAO_PAULO = BusinessHoursSpec.model_validate(
    {
        "timezone": "America/Sao_Paulo",
        "weekly": {
            **{d: ["08:00-12:00", "13:00-18:00"] for d in WEEKDAYS},
            "sat": ["08:00-12:00"],
        },
        "holidays": ["2026-12-25"],
    }
)
MANAUS = BusinessHoursSpec.model_validate(
    {"timezone": "America/Manaus", "weekly": {d: ["09:30-17:00"] for d in WEEKDAYS}}
)
UTC_SUNDAYS = BusinessHoursSpec.model_validate(
    {"timezone": "UTC", "weekly": {"sun": ["14:00-18:00"]}}
)
UTC_ONE_AM = BusinessHoursSpec.model_validate(
    {"timezone": "UTC", "weekly": {"tue": ["01:00-02:00"]}}
)
NEW_YORK = BusinessHoursSpec.model_validate(
    {"timezone": "America/New_York", "weekly": {d: ["08:00-17:00"] for d in WEEKDAYS}}
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (hours, instant in UTC, language, expected phrase; None = open now)
CASES: list[tuple[str, BusinessHoursSpec, str, str, str | None]] = [
    # São Paulo (UTC-3, no DST): Tuesday 2026-11-24
    ("sp-open-morning", SAO_PAULO, "2026-11-24T13:00", "pt-BR", None),
    ("sp-lunch", SAO_PAULO, "2026-11-24T15:30", "pt-BR", "hoje às 13h"),
    ("sp-lunch-en", SAO_PAULO, "2026-11-24T15:30", "en", "today at 1 PM"),
    ("sp-evening", SAO_PAULO, "2026-11-24T22:00", "pt-BR", "amanhã às 8h"),
    ("sp-evening-en", SAO_PAULO, "2026-11-24T22:00", "en-US", "tomorrow at 8 AM"),
    ("sp-evening-es", SAO_PAULO, "2026-11-24T22:00", "es", "mañana a las 8:00"),
    # 23:30 local is already Wednesday in UTC: the local date decides.
    ("sp-late-utc-next-day", SAO_PAULO, "2026-11-25T02:30", "pt-BR", "amanhã às 8h"),
    ("sp-closing-edge", SAO_PAULO, "2026-11-24T21:00", "pt-BR", "amanhã às 8h"),
    ("sp-opening-edge", SAO_PAULO, "2026-11-24T11:00", "pt-BR", None),
    ("sp-saturday-afternoon", SAO_PAULO, "2026-11-28T16:00", "pt-BR", "segunda-feira às 8h"),
    ("sp-saturday-afternoon-en", SAO_PAULO, "2026-11-28T16:00", "en", "on Monday at 8 AM"),
    ("sp-saturday-afternoon-es", SAO_PAULO, "2026-11-28T16:00", "es", "el lunes a las 8:00"),
    ("sp-sunday", SAO_PAULO, "2026-11-29T13:00", "pt-BR", "amanhã às 8h"),
    ("sp-holiday-morning", SAO_PAULO, "2026-12-25T13:00", "pt-BR", "amanhã às 8h"),
    ("sp-eve-of-holiday", SAO_PAULO, "2026-12-24T22:00", "pt-BR", "sábado às 8h"),
    # Manaus (UTC-4): the same instant, an hour earlier on the wall.
    ("manaus-before-open", MANAUS, "2026-11-24T13:00", "pt-BR", "hoje às 9h30"),
    ("manaus-open", MANAUS, "2026-11-24T14:00", "pt-BR", None),
    ("manaus-friday-evening", MANAUS, "2026-11-27T21:30", "pt-BR", "segunda-feira às 9h30"),
    ("manaus-friday-evening-en", MANAUS, "2026-11-27T21:30", "en", "on Monday at 9:30 AM"),
    ("manaus-friday-evening-es", MANAUS, "2026-11-27T21:30", "es", "el lunes a las 9:30"),
    # UTC, open on Sundays only: six days away is a weekday name, seven is a date.
    ("utc-monday", UTC_SUNDAYS, "2026-11-23T10:00", "pt-BR", "domingo às 14h"),
    ("utc-sunday-closing", UTC_SUNDAYS, "2026-11-29T18:00", "pt-BR", "no dia 06/12 às 14h"),
    ("utc-sunday-closing-en", UTC_SUNDAYS, "2026-11-29T18:00", "en", "on December 6 at 2 PM"),
    ("utc-sunday-closing-es", UTC_SUNDAYS, "2026-11-29T18:00", "es", "el 06/12 a las 14:00"),
    ("utc-sunday-open", UTC_SUNDAYS, "2026-11-29T17:59", "pt-BR", None),
    ("utc-one-am", UTC_ONE_AM, "2026-11-23T23:00", "pt-BR", "amanhã à 1h"),
    ("utc-one-am-es", UTC_ONE_AM, "2026-11-23T23:00", "es", "mañana a la 1:00"),
    # New York: DST ends Sun 2026-11-01, starts Sun 2026-03-08.
    ("ny-friday-before-dst-end", NEW_YORK, "2026-10-30T22:00", "en", "on Monday at 8 AM"),
    ("ny-monday-after-dst-end-early", NEW_YORK, "2026-11-02T12:30", "en", "today at 8 AM"),
    ("ny-monday-after-dst-end-open", NEW_YORK, "2026-11-02T13:00", "en", None),
    ("ny-friday-before-dst-start", NEW_YORK, "2026-03-06T22:00", "pt-BR", "segunda-feira às 8h"),
    ("ny-monday-after-dst-start-open", NEW_YORK, "2026-03-09T12:30", "en", None),
    # Unknown languages fall back to pt-BR.
    ("fallback-language", SAO_PAULO, "2026-11-24T22:00", "fr-FR", "amanhã às 8h"),
]


@pytest.mark.parametrize(
    ("spec", "instant", "language", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_phrase_table(
    spec: BusinessHoursSpec, instant: str, language: str, expected: str | None
) -> None:
    now = utc(instant)
    assert hours.is_open(spec, now) is (expected is None)
    assert hours.next_opening_phrase(spec, language, now) == expected
    opening = hours.next_opening(spec, now)
    assert opening is not None
    assert (opening == now) is (expected is None)
    assert opening >= now
    assert hours.is_open(spec, opening)


@pytest.mark.parametrize(
    ("instant", "opening"),
    [
        # 18:00 EDT Friday → Monday 08:00 EST (UTC-5 after the fall-back).
        ("2026-10-30T22:00", "2026-11-02T13:00"),
        # 17:00 EST Friday → Monday 08:00 EDT (UTC-4 after the spring-forward).
        ("2026-03-06T22:00", "2026-03-09T12:00"),
    ],
)
def test_next_opening_is_the_local_wall_time_across_dst(instant: str, opening: str) -> None:
    found = hours.next_opening(NEW_YORK, utc(instant))
    assert found == utc(opening)
    assert found is not None
    assert (found.hour, found.minute) == (8, 0)


def _spec(**raw: Any) -> BusinessHoursSpec:
    return BusinessHoursSpec.model_validate({"timezone": "America/Sao_Paulo", **raw})


def test_an_empty_weekly_map_is_always_open() -> None:
    spec = _spec()
    for instant in ("2026-11-24T13:00", "2026-11-29T06:00", "2026-12-25T03:00"):
        assert hours.is_open(spec, utc(instant))
        assert hours.next_opening_phrase(spec, "pt-BR", utc(instant)) is None
        assert hours.after_hours_note(spec, "pt-BR", utc(instant)) is None


def test_a_holiday_closes_all_day_even_when_always_open() -> None:
    spec = _spec(holidays=["2026-12-25"])
    christmas_noon = utc("2026-12-25T15:00")
    assert not hours.is_open(spec, christmas_noon)
    assert hours.next_opening_phrase(spec, "pt-BR", christmas_noon) == "amanhã à 0h"
    assert hours.is_open(spec, utc("2026-12-26T03:00"))  # 00:00 local on the 26th


def test_a_weekday_left_out_is_closed_and_never_opening_has_no_phrase() -> None:
    spec = _spec(weekly={"mon": []})
    now = utc("2026-11-23T13:00")
    assert not hours.is_open(spec, now)
    assert hours.next_opening(spec, now) is None
    assert hours.next_opening_phrase(spec, "pt-BR", now) is None
    note = hours.after_hours_note(spec, "pt-BR", now)
    assert note is not None
    assert "Não há previsão de retorno" in note


def test_ranges_past_midnight_are_ignored_and_24h_ends_at_midnight() -> None:
    assert not hours.is_open(_spec(weekly={"mon": ["22:00-02:00"]}), utc("2026-11-24T02:00"))
    late = _spec(weekly={"mon": ["18:00-24:00"]})
    assert hours.is_open(late, utc("2026-11-24T02:59"))  # Mon 23:59 local
    assert not hours.is_open(late, utc("2026-11-24T03:00"))  # Tue 00:00 local


def test_unknown_timezone_falls_back_to_utc() -> None:
    spec = BusinessHoursSpec.model_validate(
        {"timezone": "Mars/Olympus", "weekly": {"mon": ["08:00-09:00"]}}
    )
    assert hours.is_open(spec, utc("2026-11-23T08:30"))


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(SAO_PAULO, datetime(2026, 11, 24, 10, 0))


def test_after_hours_note_tells_when_humans_return() -> None:
    assert hours.after_hours_note(SAO_PAULO, "pt-BR", utc("2026-11-24T13:00")) is None
    note = hours.after_hours_note(SAO_PAULO, "pt-BR", utc("2026-11-24T22:00"))
    assert note is not None
    assert "fora do horário" in note
    assert "amanhã às 8h" in note
    assert "nunca prometa atendimento humano imediato" in note
