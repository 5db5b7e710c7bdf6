"""The business-hours calendar agrees with itself: the next opening is open, nothing before it
is, holidays are closed, and the promise made to customers names no closed time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from services.core import hours
from services.core.tenants.spec import BusinessHoursSpec

ZONES = ["America/Sao_Paulo", "America/Manaus", "Europe/Lisbon", "America/New_York", "UTC"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@st.composite
def ranges(draw: st.DrawFn) -> str:
    start = draw(st.integers(min_value=0, max_value=23 * 60))
    end = draw(st.integers(min_value=start + 15, max_value=24 * 60))
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> BusinessHoursSpec:
    weekly = draw(
        st.dictionaries(st.sampled_from(DAYS), st.lists(ranges(), max_size=2), max_size=7)
    )
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=5))
    return BusinessHoursSpec.model_validate(
        {"timezone": draw(st.sampled_from(ZONES)), "weekly": weekly, "holidays": holidays}
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 6, 30), timezones=st.just(UTC))


@given(calendars(), instants)
def test_the_next_opening_is_open_and_nothing_before_it_is(
    calendar: BusinessHoursSpec, now: datetime
) -> None:
    opening = hours.next_opening(calendar, now)
    if hours.is_open(calendar, now):
        assert opening == now
        assert hours.next_opening_phrase(calendar, "pt-BR", now) is None
        return
    if opening is None:  # never opens within the horizon: no promise at all
        assert hours.next_opening_phrase(calendar, "pt-BR", now) is None
        return
    assert opening > now
    assert hours.is_open(calendar, opening)
    assert hours.next_opening_phrase(calendar, "pt-BR", now)
    span = (opening - now).total_seconds()
    for step in range(1, 25):  # sampled instants strictly between now and the opening
        moment = now + timedelta(seconds=span * step / 25)
        if moment < opening - timedelta(minutes=1):
            assert not hours.is_open(calendar, moment), moment


@given(calendars(), instants)
def test_holidays_are_closed_all_day(calendar: BusinessHoursSpec, now: datetime) -> None:
    assume(calendar.holidays)
    holiday = calendar.holidays[0]
    zone = hours.zone_of(calendar)
    for minute in range(0, 24 * 60, 97):
        local = datetime(holiday.year, holiday.month, holiday.day, tzinfo=zone) + timedelta(
            minutes=minute
        )
        if local.astimezone(zone).date() == holiday:
            assert not hours.is_open(calendar, local.astimezone(UTC))
