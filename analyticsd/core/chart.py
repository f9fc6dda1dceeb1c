"""A time series as an SVG line chart, rendered on the server (pure).

Colours come from CSS classes (`series`, `compare`, `grid`, `axis`), so the
dashboard's light and dark styles apply; text is escaped. The chart is small
on purpose: one series, an optional comparison, three grid lines, the
first, middle and last labels, and (optionally) a titled marker per point.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, H = 800, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    step = 10 ** (len(str(int(v))) - 1)
    return float((int(v / step) + 1) * step) if v % step else float(v)


def _points(values: Sequence[float], top: float) -> list[tuple[float, float]]:
    n = max(len(values) - 1, 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    return [
        (LEFT + plot_w * i / n, TOP + plot_h * (1 - (v or 0) / top)) for i, v in enumerate(values)
    ]


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def _number(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    return f"{v:g}"


def line_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    comparison: Sequence[float] | None = None,
    shown: Sequence[str] | None = None,
) -> str:
    """`shown`: each point's value as text; given, every point gets a marker
    whose title (a tooltip, and what a screen reader reads) is `label: text`."""
    top = _nice_max(max([*values, *(comparison or []), 0]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = TOP + (H - TOP - BOTTOM) * (1 - frac)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(top * frac))}</text>"
        )
    if comparison:
        parts.append(f'<path class="compare" d="{_path(_points(comparison, top))}"/>')
    points = _points(values, top)
    if points:
        base = H - BOTTOM
        area = f"{_path(points)} L{points[-1][0]:.1f},{base} L{points[0][0]:.1f},{base} Z"
        parts.append(f'<path class="area" d="{area}"/>')
        parts.append(f'<path class="series" d="{_path(points)}"/>')
        for (x, y), label, text in zip(points, labels, shown or (), strict=False):
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(label)}: {escape(text)}</title></circle>"
            )
        for i in sorted({0, len(labels) // 2, len(labels) - 1}):
            if 0 <= i < len(labels):
                anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
                parts.append(
                    f'<text class="axis" x="{points[i][0]:.1f}" y="{H - 8}" '
                    f'text-anchor="{anchor}">{escape(labels[i])}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)
