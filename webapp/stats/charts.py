"""Charts for /stats as inline SVG, drawn on the server: readable without JavaScript, one
request, no chart library to ship. Each chart is an image with a title and a description
(role="img", aria-labelledby); the page puts a table of the same figures beside it. Colours
come from the stylesheet (``series-1`` .. ``series-6``, axes in ``currentColor``), so the
charts follow the light and dark colour schemes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28  # room for the axis labels
# A bar's name, in the page's monospace font at 13px: about this wide a character, in the
# chart's own units; names longer than MAX_NAME_CHARS are shortened with an ellipsis.
NAME_CHAR_WIDTH = 8.0
MAX_NAME_CHARS = 28
PALETTE_SIZE = 6
_ids = count(1)  # unique element ids for several charts on one page


@dataclass
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None: no figure there (a gap in the line)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def line_chart(
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_max: float | None = None,
    y_format: Callable[[float], str] = lambda value: f"{value:,.0f}",
) -> Markup:
    """Lines over ``labels`` (dates, in order), one per series, with a legend."""
    number = next(_ids)
    highest = max((value for line in series for value in line.values if value), default=0)
    top = y_max if y_max is not None else max(nice_ceiling(highest), 2.0)  # counts: a whole middle tick
    inner_width, inner_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_width / max(len(labels) - 1, 1)

    def x(index: int) -> float:
        return LEFT + (index * step if len(labels) > 1 else inner_width / 2)

    def y(value: float) -> float:
        return TOP + inner_height * (1 - value / top)

    parts = [_frame(number, title, description)]
    for tick in (0, top / 2, top):
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="chart-label" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(y_format(tick))}</text>"
        )
    shown = sorted({0, len(labels) // 2, len(labels) - 1}) if labels else []
    for index in shown:
        anchor = "start" if index == 0 and len(labels) > 1 else "end" if index == len(labels) - 1 else "middle"
        parts.append(
            f'<text class="chart-label" x="{x(index):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{escape(labels[index])}</text>"
        )
    for position, line in enumerate(series):
        colour = f"series-{position % PALETTE_SIZE + 1}"
        path, dots = [], []
        pen_down = False
        for index, value in enumerate(line.values):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(index):.1f},{y(value):.1f}")
            pen_down = True
            dots.append(
                f'<circle class="chart-dot {colour}" cx="{x(index):.1f}" cy="{y(value):.1f}" r="3">'
                f"<title>{escape(line.name)}, {escape(labels[index])}: {escape(y_format(value))}</title></circle>"
            )
        if path:
            parts.append(f'<path class="chart-line {colour}" d="{" ".join(path)}"/>')
        if len(dots) <= 60:  # more would be noise: the line and the table say it
            parts.extend(dots)
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="chart-key series-{position % PALETTE_SIZE + 1}" aria-hidden="true"></span>'
        f"{escape(line.name)}</li>"
        for position, line in enumerate(series)
    )
    return Markup(f'<figure class="chart">{"".join(parts)}<ul class="chart-legend">{legend}</ul></figure>')


def bar_chart(title: str, description: str, bars: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars, largest first as given, each labelled with its name and value."""
    number = next(_ids)
    row = 24
    # Room for the longest name, whole (up to a cap): a fixed width cut long ones at the left edge.
    longest = max((len(name) for name, _ in bars), default=1)
    label_width = int(min(max(longest, 6), MAX_NAME_CHARS) * NAME_CHAR_WIDTH) + 16
    height = TOP + row * len(bars) + 4
    top = nice_ceiling(max((value for _, value in bars), default=0))
    inner_width = WIDTH - label_width - RIGHT - 48
    parts = [_frame(number, title, description, height)]
    for index, (name, value) in enumerate(bars):
        y = TOP + index * row
        width = max(inner_width * value / top, 1)
        parts.append(
            f'<text class="chart-label chart-name" x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(_shorten(name, MAX_NAME_CHARS))}</text>"
            f'<rect class="chart-bar series-1" x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row - 8}">'
            f"<title>{escape(name)}: {value:,.0f}</title></rect>"
            f'<text class="chart-label" x="{label_width + width + 6:.1f}" y="{y + 15}">{value:,.0f}</text>'
        )
    parts.append("</svg>")
    return Markup(f'<figure class="chart chart-bars">{"".join(parts)}</figure>')


def _frame(number: int, title: str, description: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-{number}-title chart-{number}-desc" preserveAspectRatio="xMidYMid meet">'
        f'<title id="chart-{number}-title">{escape(title)}</title>'
        f'<desc id="chart-{number}-desc">{escape(description)}</desc>'
    )


def _shorten(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
