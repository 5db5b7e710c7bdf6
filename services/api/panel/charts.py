"""Small bar charts as inline SVG, drawn on the server: no JavaScript, no CDN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 480, 150, 22


def bar_chart(
    hours: Sequence[datetime],
    values: Sequence[float],
    *,
    label: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """One bar per hour; the tallest bar's value and every sixth hour are labelled."""
    top = max(values, default=0) or 1.0
    step = (WIDTH - PAD) / max(len(values), 1)
    bars = []
    for i, (hour, value) in enumerate(zip(hours, values, strict=True)):
        height = (HEIGHT - 2 * PAD) * value / top
        x, y = PAD + i * step, HEIGHT - PAD - height
        title = escape(f"{hour:%H}h: {fmt(value)}")
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" '
            f'height="{height:.1f}"><title>{title}</title></rect>'
        )
        if i % 6 == 0:
            bars.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}">{hour:%H}h</text>')
    peak = escape(f"max {fmt(max(values, default=0))}")
    # Every value interpolated above is a number or escaped text.
    return Markup(  # noqa: S704
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
        f'<text x="{PAD}" y="12">{peak}</text>{"".join(bars)}</svg>'
    )
