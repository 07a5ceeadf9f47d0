"""Charts as server-rendered SVG: no JavaScript, no library, readable on a cheap phone and in
print. Each bar carries its number as text, so the chart is also accessible as plain text."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

WIDTH = 360
ROW = 42
BAR = 16


def _frame(chart_id: str, title: str, rows: int, body: list[str]) -> Markup:
    height = max(rows, 1) * ROW + 8
    return Markup(
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>{"".join(body)}</svg>'
    )


def funnel(title: str, steps: list[tuple[str, int]]) -> Markup:
    """A centred funnel: each step as wide as its share of the first step."""
    top = max((n for _, n in steps), default=0) or 1
    body = []
    for i, (label, n) in enumerate(steps):
        w = max(2.0, (WIDTH - 20) * n / top)
        x = (WIDTH - w) / 2
        y = i * ROW
        body.append(
            f'<text class="lbl" x="{WIDTH / 2:.0f}" y="{y + 14}" text-anchor="middle">'
            f"{escape(label)} · {n:,}</text>"
            f'<rect class="bar f{i}" x="{x:.1f}" y="{y + 20}" width="{w:.1f}" height="{BAR}" '
            f'rx="3"><title>{escape(label)}: {n:,}</title></rect>'
        )
    return _frame("funnel", title, len(steps), body)


def bars(title: str, items: list[tuple[str, int]], chart_id: str = "by-commune") -> Markup:
    """Horizontal bars (long commune names stay readable on a narrow screen)."""
    top = max((n for _, n in items), default=0) or 1
    body = []
    for i, (label, n) in enumerate(items):
        w = max(2.0, (WIDTH - 60) * n / top)
        y = i * ROW
        body.append(
            f'<text class="lbl" x="0" y="{y + 14}">{escape(label)}</text>'
            f'<rect class="bar" x="0" y="{y + 20}" width="{w:.1f}" height="{BAR}" rx="3">'
            f"<title>{escape(label)}: {n:,}</title></rect>"
            f'<text class="num" x="{w + 6:.1f}" y="{y + 32}">{n:,}</text>'
        )
    return _frame(chart_id, title, len(items), body)
