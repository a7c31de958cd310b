"""A small SVG chart: linear axes with nice ticks and units, a title, a legend, and shapes placed in data space.

Everything is generated here as text (no script, no external file), so a report works offline from file://.
Every string that reaches the SVG goes through `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

from ..redact import redact_text

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#84cc16", "#ec4899")
FAULT = "#ef4444"
ACTION = "#475569"
FONT = 12


def esc(text: object) -> str:
    """Every string the page shows passes here: key-like runs redacted, then HTML-escaped (attribute-safe)."""
    return escape(redact_text(str(text)), quote=True)


def nice_step(span: float, target: int = 6) -> float:
    """A 1-2-5 step that cuts `span` into about `target` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    step = nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    out, i = [], 0
    while first + i * step <= hi + 1e-9 and i < 100:
        out.append(round(first + i * step, 10))
        i += 1
    return out


def tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


CHAR_W = 6.6  # approximate width of a 12 px sans-serif character, for laying out labels


@dataclass
class _Label:
    """A label at the top of the plot, anchored at pixel x; rows are assigned at render so labels never overlap."""

    x: float
    text: str
    color: str
    anchor: str

    @property
    def extent(self) -> tuple[float, float]:
        w = CHAR_W * len(self.text)
        return (self.x, self.x + w) if self.anchor == "start" else (self.x - w, self.x)


@dataclass
class LegendItem:
    label: str
    color: str
    kind: str = "box"  # box | line | dash | band | marker


@dataclass
class Chart:
    """A chart in data coordinates [x0, x1] x [y0, y1]. Add shapes, then `render()`."""

    title: str
    x_label: str
    y_label: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    width: int = 960
    height: int = 300
    left: int = 64
    right: int = 24
    top: int = 36
    bottom: int = 46
    chart_id: str = "chart"
    shapes: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    labels: list[_Label] = field(default_factory=list)
    y_ticks: Sequence[float] | None = None
    y_tick_format: str = "{}"

    def __post_init__(self) -> None:
        x0, x1 = self.x_range
        y0, y1 = self.y_range
        if x1 <= x0:
            self.x_range = (x0, x0 + 1.0)
        if y1 <= y0:
            self.y_range = (y0, y0 + 1.0)

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def sx(self, x: float) -> float:
        x0, x1 = self.x_range
        return self.left + (min(max(x, x0), x1) - x0) / (x1 - x0) * self.plot_w

    def sy(self, y: float) -> float:
        y0, y1 = self.y_range
        return self.top + self.plot_h - (min(max(y, y0), y1) - y0) / (y1 - y0) * self.plot_h

    def add_legend(self, label: str, color: str, kind: str = "box") -> None:
        if not any(item.label == label for item in self.legend):
            self.legend.append(LegendItem(label, color, kind))

    # shapes -----------------------------------------------------------------------------------------------------

    def band(self, x0: float, x1: float, color: str, label: str = "", tip: str = "") -> None:
        """A shaded vertical span (e.g. a fault window) with a label at its top."""
        a, b = self.sx(x0), self.sx(x1)
        self.shapes.append(f'<rect class="band" x="{a:.1f}" y="{self.top}" width="{max(b - a, 1.5):.1f}" '
                           f'height="{self.plot_h:.1f}" fill="{color}" fill-opacity="0.13" stroke="{color}" '
                           f'stroke-opacity="0.5" stroke-dasharray="3 3"><title>{esc(tip or label)}</title></rect>')
        if label:
            self.labels.append(_Label(a + 3, label, color, "start"))

    def vline(self, x: float, color: str, label: str = "", tip: str = "", dash: str = "5 3") -> None:
        """A vertical marker (a timeline action, a detection) with a label near the top."""
        px = self.sx(x)
        self.overlays.append(f'<line class="marker" x1="{px:.1f}" x2="{px:.1f}" y1="{self.top}" '
                             f'y2="{self.top + self.plot_h:.1f}" stroke="{color}" stroke-width="1.5" '
                             f'stroke-dasharray="{dash}"><title>{esc(tip or label)}</title></line>')
        if label:
            end = px + CHAR_W * len(label) + 3 > self.left + self.plot_w
            self.labels.append(_Label(px - 3 if end else px + 3, label, color, "end" if end else "start"))

    def polyline(self, points: Iterable[tuple[float, float | None]], color: str, width: float = 2.0,
                 tip: str = "", dash: str = "") -> None:
        """A line through the points; a None y breaks the line (no data in that bucket)."""
        segs: list[list[tuple[float, float]]] = [[]]
        for x, y in points:
            if y is None:
                if segs[-1]:
                    segs.append([])
                continue
            segs[-1].append((self.sx(x), self.sy(y)))
        for seg in segs:
            if not seg:
                continue
            if len(seg) == 1:
                (px, py), = seg
                self.shapes.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}">'
                                   f'<title>{esc(tip)}</title></circle>')
                continue
            d = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in seg)
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            self.shapes.append(f'<path class="series" d="{d}" fill="none" stroke="{color}" stroke-width="{width}"'
                               f' stroke-linejoin="round"{extra}><title>{esc(tip)}</title></path>')

    def stacked_steps(self, edges: Sequence[float], layers: Sequence[tuple[str, str, Sequence[float]]]) -> None:
        """Stacked step areas: `edges` are bucket bounds (n+1), each layer (label, color, n values) sits on the
        ones before it."""
        base = [0.0] * (len(edges) - 1)
        for label, color, values in layers:
            top = [b + v for b, v in zip(base, values, strict=True)]
            upper = []
            for i, v in enumerate(top):
                upper += [(self.sx(edges[i]), self.sy(v)), (self.sx(edges[i + 1]), self.sy(v))]
            lower = []
            for i in reversed(range(len(base))):
                lower += [(self.sx(edges[i + 1]), self.sy(base[i])), (self.sx(edges[i]), self.sy(base[i]))]
            d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower) + " Z"
            self.shapes.append(f'<path class="series" d="{d}" fill="{color}" fill-opacity="0.75" stroke="{color}" '
                               f'stroke-width="1"><title>{esc(label)}</title></path>')
            self.add_legend(label, color)
            base = top

    def rect(self, x0: float, x1: float, y0: float, y1: float, color: str, tip: str = "", opacity: float = 0.8) -> None:
        a, b = sorted((self.sx(x0), self.sx(x1)))
        c, d = sorted((self.sy(y0), self.sy(y1)))
        self.shapes.append(f'<rect x="{a:.1f}" y="{c:.1f}" width="{max(b - a, 1):.1f}" height="{max(d - c, 1):.1f}" '
                           f'fill="{color}" fill-opacity="{opacity}"><title>{esc(tip)}</title></rect>')

    def marker(self, x: float, y: float, color: str, tip: str = "", shape: str = "circle", size: float = 5) -> None:
        px, py = self.sx(x), self.sy(y)
        if shape == "diamond":
            d = (f"M{px:.1f},{py - size:.1f} L{px + size:.1f},{py:.1f} L{px:.1f},{py + size:.1f} "
                 f"L{px - size:.1f},{py:.1f} Z")
            self.shapes.append(f'<path d="{d}" fill="white" stroke="{color}" stroke-width="2">'
                               f'<title>{esc(tip)}</title></path>')
        else:
            self.shapes.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{size:.1f}" fill="{color}">'
                               f'<title>{esc(tip)}</title></circle>')

    def segment(self, x0: float, y0: float, x1: float, y1: float, color: str, width: float = 2.0,
                tip: str = "") -> None:
        self.shapes.append(f'<line x1="{self.sx(x0):.1f}" y1="{self.sy(y0):.1f}" x2="{self.sx(x1):.1f}" '
                           f'y2="{self.sy(y1):.1f}" stroke="{color}" stroke-width="{width}">'
                           f'<title>{esc(tip)}</title></line>')

    def y_category(self, y: float, label: str) -> None:
        """A text label left of the plot at data height `y` (for category rows)."""
        self.overlays.append(self._text(self.left - 6, self.sy(y) + 4, label, "#111827", anchor="end"))

    # rendering --------------------------------------------------------------------------------------------------

    def _text(self, x: float, y: float, text: str, color: str = "#111827", anchor: str = "middle",
              size: int = FONT, weight: str = "normal", rotate: bool = False, halo: bool = False) -> str:
        transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
        outline = ' stroke="white" stroke-width="3" stroke-opacity="0.85" paint-order="stroke"' if halo else ""
        return (f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" font-size="{size}" font-weight="{weight}" '
                f'text-anchor="{anchor}"{transform}{outline}>{esc(text)}</text>')

    def _axes(self) -> list[str]:
        out = []
        x0, x1 = self.x_range
        y0, y1 = self.y_range
        bottom = self.top + self.plot_h
        for t in ticks(x0, x1, 10):
            px = self.sx(t)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{bottom:.1f}" y2="{bottom + 4:.1f}" stroke="#6b7280"/>')
            out.append(self._text(px, bottom + 16, tick_label(t), "#374151"))
        for t in self.y_ticks if self.y_ticks is not None else ticks(y0, y1, 5):
            py = self.sy(t)
            out.append(f'<line class="grid" x1="{self.left}" x2="{self.left + self.plot_w:.1f}" y1="{py:.1f}" '
                       f'y2="{py:.1f}" stroke="#e5e7eb"/>')
            out.append(self._text(self.left - 6, py + 4, self.y_tick_format.format(tick_label(t)), "#374151",
                                  anchor="end"))
        out.append(f'<rect x="{self.left}" y="{self.top}" width="{self.plot_w:.1f}" height="{self.plot_h:.1f}" '
                   f'fill="none" stroke="#9ca3af"/>')
        out.append(self._text(self.left + self.plot_w / 2, self.height - 8, self.x_label, "#111827"))
        out.append(self._text(16, self.top + self.plot_h / 2, self.y_label, "#111827", rotate=True))
        return out

    def _label_rows(self) -> list[tuple[_Label, int]]:
        """Each label with its row from the top of the plot: the first row where it overlaps no other."""
        rows: list[list[tuple[float, float]]] = []
        out = []
        for lab in sorted(self.labels, key=lambda item: item.extent[0]):
            lo, hi = lab.extent
            row = next((i for i, taken in enumerate(rows) if all(hi + 4 < a or lo > b + 4 for a, b in taken)), None)
            if row is None:
                rows.append([])
                row = len(rows) - 1
            rows[row].append((lo, hi))
            out.append((lab, row))
        return out

    def label_height(self) -> float:
        """Pixels the top labels take (so a caller can leave that much headroom above the data)."""
        rows = self._label_rows()
        return 0.0 if not rows else 14.0 * (1 + max(r for _, r in rows)) + 4

    def _placed_labels(self) -> list[str]:
        return [self._text(lab.x, self.top + 13 + 14 * row, lab.text, lab.color, anchor=lab.anchor, halo=True)
                for lab, row in self._label_rows()]

    def _legend(self, y: float) -> tuple[list[str], float]:
        out, x, row_h = [], float(self.left), 18.0
        for item in self.legend:
            w = 26 + 7 * len(item.label)
            if x + w > self.width - self.right and x > self.left:
                x, y = float(self.left), y + row_h
            if item.kind in ("line", "dash"):
                dash = ' stroke-dasharray="5 3"' if item.kind == "dash" else ""
                out.append(f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
                           f'stroke="{item.color}" stroke-width="2.5"{dash}/>')
            elif item.kind == "band":
                out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="16" height="12" fill="{item.color}" '
                           f'fill-opacity="0.15" stroke="{item.color}" stroke-dasharray="3 3"/>')
            elif item.kind == "marker":
                out.append(f'<path d="M{x + 8:.1f},{y - 10:.1f} L{x + 14:.1f},{y - 4:.1f} L{x + 8:.1f},{y + 2:.1f} '
                           f'L{x + 2:.1f},{y - 4:.1f} Z" fill="white" stroke="{item.color}" stroke-width="2"/>')
            else:
                out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="16" height="12" fill="{item.color}"/>')
            out.append(self._text(x + 21, y, item.label, "#111827", anchor="start"))
            x += w
        return out, y

    def render(self) -> str:
        legend_top = self.height + 8
        legend, last_y = self._legend(legend_top)
        total_h = int(last_y + 10) if self.legend else self.height
        clip = f"clip-{esc(self.chart_id)}"
        body = "\n".join([
            f'<clipPath id="{clip}"><rect x="{self.left}" y="{self.top}" width="{self.plot_w:.1f}" '
            f'height="{self.plot_h:.1f}"/></clipPath>',
            self._text(self.left, 20, self.title, "#111827", anchor="start", size=14, weight="bold"),
            *self._axes(),
            f'<g clip-path="url(#{clip})">', *self.shapes, "</g>",
            *self.overlays,
            *self._placed_labels(),
            f'<g class="legend">{"".join(legend)}</g>',
        ])
        return (f'<svg class="chart" id="{esc(self.chart_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
                f'aria-label="{esc(self.title)}" viewBox="0 0 {self.width} {total_h}" width="{self.width}" '
                f'height="{total_h}" font-family="system-ui, sans-serif">\n<title>{esc(self.title)}</title>\n'
                f'{body}\n</svg>')
