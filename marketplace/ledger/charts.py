"""Charts drawn on the server as SVG: no script, no CDN, readable without colour.

Every bar carries its label and its value as text; negative values grow to the left of a zero line and are
hatched, so the sign never depends on colour. Each chart has a <title> and <desc> for screen readers, and
the pages show the same figures as a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

ROW = 26
LABEL_WIDTH = 290
BAR_AREA = 300
VALUE_WIDTH = 130
PAD = 8


def hbar_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, int]],
    format_value: Callable[[int], str],
) -> Markup:
    """A horizontal bar chart of (label, value) rows; values may be negative."""
    width = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH + 2 * PAD
    height = max(1, len(rows)) * ROW + 2 * PAD
    biggest = max((abs(value) for _label, value in rows), default=0) or 1
    has_negative = any(value < 0 for _label, value in rows)
    has_positive = any(value > 0 for _label, value in rows)
    # where zero sits: the middle when both signs occur, else the edge
    if has_negative and has_positive:
        zero, scale = LABEL_WIDTH + PAD + BAR_AREA / 2, (BAR_AREA / 2) / biggest
    elif has_negative:
        zero, scale = LABEL_WIDTH + PAD + BAR_AREA, BAR_AREA / biggest
    else:
        zero, scale = LABEL_WIDTH + PAD, BAR_AREA / biggest
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lb-chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        "<defs>"
        f'<pattern id="{escape(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#8a1c1c" stroke-width="3"/></pattern>'
        "</defs>",
    ]
    if not rows:
        parts.append(f'<text x="{PAD}" y="{PAD + 18}" font-size="14" fill="#1a1a1a">–</text>')
    for index, (label, value) in enumerate(rows):
        y = PAD + index * ROW
        length = abs(value) * scale
        x = zero - length if value < 0 else zero
        fill = f"url(#{escape(chart_id)}-hatch)" if value < 0 else "#1b4e8a"
        text = escape(label if len(label) <= 44 else label[:43] + "…")
        parts.append(
            f'<g class="lb-chart__row"><text x="{LABEL_WIDTH}" y="{y + 17}" text-anchor="end" font-size="13" '
            f'fill="#1a1a1a">{text}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1):.1f}" height="{ROW - 8}" fill="{fill}" '
            f'stroke="#1a1a1a" stroke-width="0.5"><title>{escape(label)}: {escape(format_value(value))}</title></rect>'
            f'<text x="{LABEL_WIDTH + PAD + BAR_AREA + PAD}" y="{y + 17}" font-size="13" fill="#1a1a1a" '
            f'font-weight="600">{escape(format_value(value))}</text></g>'
        )
    if has_negative or has_positive:
        parts.append(
            f'<line x1="{zero:.1f}" y1="{PAD / 2}" x2="{zero:.1f}" y2="{height - PAD / 2}" stroke="#1a1a1a" '
            'stroke-width="1"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
