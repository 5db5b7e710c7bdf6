"""The tenant page's charts as inline SVG drawn on the server: no JavaScript, no CDN.

Each chart is an image to assistive technology (``role="img"`` and an ``aria-label`` saying what
it shows); every cell or bar carries a ``<title>`` with its value, numbers and dates in the
reader's language (Babel); colours are SVG attributes, which the CSP leaves alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from babel.dates import format_skeleton
from markupsafe import Markup, escape

from services.core.stats.charts import BudgetUse, DayOutcome, Heatmap, ReplyTime

from . import formatting
from .i18n import babel_locale, ngettext
from .i18n import gettext as _

BRAND, WARN, BAD, EMPTY, INK = "#0f7b6c", "#b54708", "#b42318", "#eef1f5", "#5f6b7a"
WIDTH = 480


def number(value: float, digits: int = 0) -> str:
    return formatting.number(value, digits)


def day_label(day: date) -> str:
    return format_skeleton("dM", day, locale=babel_locale())


def seconds(value: float) -> str:
    if value < 60:
        return _("%(n)s s") % {"n": number(value, 1)}
    return _("%(n)s min") % {"n": number(value / 60, 1)}


def _svg(width: int, height: int, label: str, body: Sequence[str], kind: str) -> Markup:
    # Every value interpolated here and in ``body`` is a number or escaped text.
    return Markup(  # noqa: S704
        f'<svg class="{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(body)}</svg>'
    )


def _rect(
    x: float,
    y: float,
    w: float,
    h: float,
    fill: str,
    title: str,
    opacity: float = 1,
    **data: object,
) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{escape(str(v))}"' for k, v in data.items())
    shade = f' fill-opacity="{opacity:.2f}"' if opacity < 1 else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{fill}"{shade}{attrs}><title>{escape(title)}</title></rect>'
    )


def _shade(count: int, peak: int) -> tuple[str, float]:
    return (BRAND, 0.15 + 0.85 * count / peak) if count else (EMPTY, 1.0)


def _text(x: float, y: float, words: str, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(words)}</text>'


def _legend(y: float, items: Sequence[tuple[str, str]], x: float = 0) -> list[str]:
    """``items``: (fill, words); a fill of "none" is drawn as an outline."""
    parts = ['<g class="legend">']
    for fill, words in items:
        outline = f' stroke="{BRAND}" stroke-dasharray="3 2"' if fill == "none" else ""
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10" fill="{fill}"{outline}/>'
        )
        parts.append(_text(x + 14, y, words))
        x += 24 + 6.2 * len(words)
    return [*parts, "</g>"]


def _messages(n: int) -> str:
    return ngettext("%(num)s message", "%(num)s messages", n) % {"num": number(n)}


CELL_W, CELL_H, LEFT, TOP = 18, 16, 40, 16


def heatmap(data: Heatmap, timezone: str) -> Markup:
    """Messages by weekday (rows, Monday first) and hour of the day (columns), local time."""
    names = babel_locale().days["format"]["abbreviated"]
    peak = data.peak or 1
    parts = [
        _text(LEFT + h * CELL_W + CELL_W / 2, 11, f"{h:02d}h", "middle") for h in (0, 6, 12, 18)
    ]
    for weekday, row in enumerate(data.counts):
        y = TOP + weekday * CELL_H
        parts.append(_text(LEFT - 6, y + CELL_H - 4, names[weekday], "end"))
        for hour, count in enumerate(row):
            title = _("%(day)s %(hour)s: %(messages)s") % {
                "day": names[weekday], "hour": f"{hour:02d}h", "messages": _messages(count),
            }  # fmt: skip
            fill, opacity = _shade(count, peak)
            parts.append(
                _rect(LEFT + hour * CELL_W, y, CELL_W - 2, CELL_H - 2, fill, title, opacity,
                      weekday=weekday, hour=hour, count=count)
            )  # fmt: skip
    bottom = TOP + 7 * CELL_H + 16
    steps = sorted({0, round(peak / 4), round(peak / 2), peak}) if data.peak else [0]
    x = float(LEFT)
    parts.append('<g class="legend">')
    for value in steps:
        fill, opacity = _shade(value, peak)
        parts.append(
            f'<rect x="{x:.1f}" y="{bottom - 9}" width="12" height="12" fill="{fill}" '
            f'fill-opacity="{opacity:.2f}"/>'
        )
        parts.append(_text(x + 16, bottom + 1, number(value)))
        x += 28 + 7 * len(number(value))
    parts.append("</g>")
    parts.append(_text(WIDTH, bottom + 1, _messages(data.total), "end"))
    label = _("Messages by weekday and hour over the last %(days)s days (%(zone)s): %(total)s") % {
        "days": data.days,
        "zone": timezone,
        "total": _messages(data.total),
    }
    return _svg(WIDTH, bottom + 8, label, parts, "heatmap")


def _day_axis(days: Sequence[date], step: float, left: float, y: float) -> list[str]:
    return [
        _text(left + i * step + step / 2, y, day_label(d), "middle")
        for i, d in enumerate(days)
        if i % 2 == len(days) % 2 or i == len(days) - 1
    ]


BAR_TOP, BAR_HEIGHT, BAR_LEFT = 20, 110, 8


def outcomes(days: Sequence[DayOutcome]) -> Markup:
    """Stacked bars per day: conversations the bot answered, and those handed to a person."""
    top = max((d.answered + d.handed_off for d in days), default=0) or 1
    step = (WIDTH - BAR_LEFT) / max(len(days), 1)
    base = BAR_TOP + BAR_HEIGHT
    parts = [_text(BAR_LEFT, 12, _("max %(n)s") % {"n": number(top)})]
    for i, d in enumerate(days):
        x = BAR_LEFT + i * step
        answered_h = BAR_HEIGHT * d.answered / top
        handed_h = BAR_HEIGHT * d.handed_off / top
        when = day_label(d.day)
        parts.append(f'<g class="day" data-day="{d.day.isoformat()}">')
        parts.append(
            _rect(x, base - answered_h, step * 0.75, answered_h, BRAND,
                  _("%(day)s: %(n)s answered by the bot") % {"day": when, "n": number(d.answered)},
                  series="answered", value=d.answered)
        )  # fmt: skip
        parts.append(
            _rect(x, base - answered_h - handed_h, step * 0.75, handed_h, WARN,
                  _("%(day)s: %(n)s handed off") % {"day": when, "n": number(d.handed_off)},
                  series="handed-off", value=d.handed_off)
        )  # fmt: skip
        parts.append("</g>")
    parts += _day_axis([d.day for d in days], step, BAR_LEFT, base + 14)
    parts += _legend(base + 34, [(BRAND, _("answered by the bot")), (WARN, _("handed off"))], 8)
    answered, handed = sum(d.answered for d in days), sum(d.handed_off for d in days)
    label = _(
        "Conversations per day over the last %(days)s days: %(answered)s answered by the bot, "
        "%(handed)s handed off"
    ) % {"days": len(days), "answered": number(answered), "handed": number(handed)}
    return _svg(WIDTH, base + 42, label, parts, "outcomes")


def reply_times(days: Sequence[ReplyTime]) -> Markup:
    """Per day, the median first-reply time (solid) in front of the 90th percentile (light)."""
    top = max((d.p90_seconds or 0 for d in days), default=0) or 1.0
    step = (WIDTH - BAR_LEFT) / max(len(days), 1)
    base = BAR_TOP + BAR_HEIGHT
    parts = [_text(BAR_LEFT, 12, _("max %(n)s") % {"n": seconds(top)})]
    for i, d in enumerate(days):
        x = BAR_LEFT + i * step
        when = day_label(d.day)
        parts.append(
            f'<g class="day" data-day="{d.day.isoformat()}" data-conversations="{d.conversations}">'
        )
        if d.median_seconds is None or d.p90_seconds is None:
            parts.append(
                _rect(x, base - 1, step * 0.75, 1, EMPTY, _("%(day)s: no reply") % {"day": when})
            )
        else:
            values = {
                "day": when, "median": seconds(d.median_seconds), "p90": seconds(d.p90_seconds),
                "n": number(d.conversations),
            }  # fmt: skip
            p90_h = BAR_HEIGHT * d.p90_seconds / top
            median_h = BAR_HEIGHT * d.median_seconds / top
            parts.append(
                _rect(x, base - p90_h, step * 0.75, p90_h, "#9fd3cb",
                      _("%(day)s: 90%% answered within %(p90)s (%(n)s conversations)") % values,
                      series="p90", value=round(d.p90_seconds, 3))
            )  # fmt: skip
            parts.append(
                _rect(x + step * 0.15, base - median_h, step * 0.45, median_h, BRAND,
                      _("%(day)s: median %(median)s (%(n)s conversations)") % values,
                      series="median", value=round(d.median_seconds, 3))
            )  # fmt: skip
        parts.append("</g>")
    parts += _day_axis([d.day for d in days], step, BAR_LEFT, base + 14)
    parts += _legend(base + 34, [(BRAND, _("median")), ("#9fd3cb", _("90th percentile"))], 8)
    label = _(
        "First-reply time per day over the last %(days)s days: the median and the 90th percentile"
    ) % {"days": len(days)}
    return _svg(WIDTH, base + 42, label, parts, "reply-times")


ROW = 44


def budget(rows: Sequence[tuple[str, BudgetUse]]) -> Markup:
    """Per tenant, this month's tokens (solid) and where this pace ends the month (outline),
    against the monthly budget (the red line)."""
    parts: list[str] = []
    for i, (name, use) in enumerate(rows):
        y = i * ROW + 14
        scale = max(use.budget or 0, use.projected, use.used, 1) / WIDTH
        used = {"used": number(use.used), "budget": number(use.budget or 0)}
        used["ratio"] = number((use.ratio or 0) * 100)
        day = {
            "name": name, "day": number(int(use.days_elapsed) + 1), "days": use.days_in_month,
        }  # fmt: skip
        parts.append(f'<g class="tenant" data-used="{use.used}" data-budget="{use.budget or ""}">')
        parts.append(_text(0, y, _("%(name)s · day %(day)s of %(days)s") % day))
        projected = _("At this pace: %(n)s tokens by the month's end") % {
            "n": number(use.projected)
        }
        parts.append(
            f'<rect x="0" y="{y + 6}" width="{use.projected / scale:.1f}" height="14" '
            f'fill="none" stroke="{BRAND}" stroke-dasharray="3 2" data-series="projected">'
            f"<title>{escape(projected)}</title></rect>"
        )
        if use.budget:
            title = _("%(used)s of %(budget)s tokens (%(ratio)s%%)") % used
        else:
            title = _("%(used)s tokens; no budget") % used
        parts.append(_rect(0, y + 6, use.used / scale, 14, BRAND, title, series="used"))
        if use.budget:
            x = min(use.budget / scale, WIDTH - 1)
            limit = _("Monthly budget: %(n)s tokens") % {"n": number(use.budget)}
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="2" height="22" fill="{BAD}" '
                f'data-series="budget"><title>{escape(limit)}</title></rect>'
            )
        parts.append("</g>")
    bottom = len(rows) * ROW + 14
    parts += _legend(
        bottom,
        [(BRAND, _("used")), ("none", _("projected")), (BAD, _("budget"))],
    )
    label = (
        _("Tokens used this month against the monthly budget, with the projection")
        + ": "
        + (
            "; ".join(
                f"{name} {number(use.used)}/{number(use.budget) if use.budget else '∞'}"
                for name, use in rows
            )
        )
    )
    return _svg(WIDTH, bottom + 8, label, parts, "budget")
