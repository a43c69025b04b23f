"""The report's charts: matplotlib drawn straight to inline SVG, with a text alternative each.

Every chart must read correctly in greyscale and for colour-blind readers, so meaning is
carried by position, shape, hatching and text labels; colour only repeats it, from the
Okabe-Ito palette (Okabe & Ito 2008). Chart text stays text: it is laid out in DejaVu Sans
(which matplotlib ships) and names common sans-serif fonts as fallbacks. Drawing it as
glyph paths instead would make WeasyPrint several times slower for no visible gain.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.special import expit, logit

from service.answers.schemas import Contribution
from service.answers.wording import percent
from service.reports.series import DISTRESS_MAX, GAD7_MAX, SessionSeries, number

#: Okabe & Ito (2008), "Color universal design": distinguishable with any colour vision.
BLACK = "#000000"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
#: Band zones differ in lightness, so they stay apart in greyscale.
BAND_FILLS = {"low": "#f2f2f2", "moderate": "#c9c9c9", "high": "#8f8f8f"}
GRID = "#d9d9d9"
MM = 1 / 25.4

#: GAD-7 of 10 or more marks at least moderate anxiety (Spitzer et al. 2006).
GAD7_MODERATE = 10

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "alliance-risk-report",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 7.0,
    "axes.linewidth": 0.6,
    "axes.edgecolor": "#444444",
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
}
#: matplotlib's settings are global; one chart is drawn at a time.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """An inline SVG and the sentence that says what it shows."""

    svg: str
    alt: str


def _to_svg(figure: Figure, prefix: str) -> str:
    """Serialise a figure as an inline `<svg>` whose ids cannot clash with other charts."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    return text.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def _render(draw: Callable[[Figure], None], size_mm: tuple[float, float], prefix: str) -> str:
    with _LOCK, rc_context(_STYLE):
        figure = Figure(figsize=(size_mm[0] * MM, size_mm[1] * MM))
        draw(figure)
        return _to_svg(figure, prefix)


def _axis_limit(probability: float, high: float) -> float:
    """A round upper end for a risk bar that shows the high band and the client's mark."""
    needed = max(probability * 1.15, high * 1.6)
    return next(
        (top for top in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8) if top >= needed), 1.0
    )


def risk_gauge(outcome: str, probability: float, moderate: float, high: float, title: str) -> Chart:
    """A bar with the low / moderate / high zones and the client's estimate marked on it."""
    top = _axis_limit(probability, high)

    def draw(figure: Figure) -> None:
        ax = figure.add_axes((0.03, 0.4, 0.94, 0.3))
        # About 1.3 mm per character at 6.5 pt, as a share of the axis (77 mm wide).
        per_character = 1.3 / 77 * top
        zones = (("low", 0.0, moderate), ("moderate", moderate, high), ("high", high, top))
        for band, start, end in zones:
            ax.add_patch(Rectangle((start, 0), end - start, 1, color=BAND_FILLS[band], lw=0))
            at = _label_position(start, end, probability, len(band) * per_character)
            if at is not None:
                ax.text(at, 0.5, band, ha="center", va="center", fontsize=6.5)
        ax.axvline(probability, color=BLACK, lw=1.6)
        ax.plot([probability], [1.0], marker="v", ms=7, color=BLACK, clip_on=False)
        ax.text(
            probability,
            1.28,
            percent(probability),
            ha="center",
            va="bottom",
            fontsize=7.5,
            fontweight="bold",
        )
        ax.set_xlim(0, top)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ticks = [t for t in _ticks(top) if t <= top + 1e-9]
        ax.set_xticks(ticks, [percent(t) if t > 0 else "0%" for t in ticks])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)

    alt = (
        f"{title}: estimated risk {percent(probability)} on a bar from 0% to {percent(top)}; "
        f"moderate from {percent(moderate)}, high from {percent(high)}."
    )
    return Chart(_render(draw, (82, 14), f"gauge-{outcome}"), alt)


def _label_position(start: float, end: float, mark: float, width: float) -> float | None:
    """Where a zone's label fits without touching the client's mark, or `None`."""
    clear = width / 2 + width / 6
    for centre in ((start + end) / 2, (start + mark) / 2, (mark + end) / 2):
        fits_zone = start + clear <= centre <= end - clear
        if fits_zone and abs(centre - mark) >= clear:
            return centre
    return None


def _ticks(top: float) -> list[float]:
    step = {0.05: 0.01, 0.1: 0.02, 0.15: 0.05, 0.2: 0.05, 0.3: 0.1, 0.4: 0.1}.get(top, 0.2)
    return [round(i * step, 4) for i in range(round(top / step) + 1)]


def _mark_missed(ax: Axes, series: SessionSeries) -> None:
    for session in series.missed:
        ax.axvspan(
            session - 0.35,
            session + 0.35,
            facecolor="#f4f4f4",
            edgecolor="#a6a6a6",
            hatch="////",
            lw=0,
            zorder=1,
        )


def _plot_with_gaps(ax: Axes, sessions: list[int], values: list[float | None]) -> None:
    """Solid lines join consecutive sessions; a dotted line bridges sessions without a value."""
    known = [(s, v) for s, v in zip(sessions, values, strict=True) if v is not None]
    for (s0, v0), (s1, v1) in itertools.pairwise(known):
        style = "-" if s1 == s0 + 1 else (0, (1, 1.6))
        ax.plot([s0, s1], [v0, v1], color=BLACK, lw=1.2, ls=style, zorder=3)
    ax.plot([s for s, _ in known], [v for _, v in known], "o", color=BLACK, ms=3.5, zorder=3)
    for s, v in known:
        ax.annotate(
            number(v), (s, v), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=6
        )


def session_chart(series: SessionSeries) -> Chart:
    """Alliance, GAD-7 and pre-session distress over sessions 1..k, side by side."""
    sessions = [p.number for p in series.points]
    scale = series.scale

    def draw(figure: Figure) -> None:
        axes = figure.subplots(1, 3, gridspec_kw={"width_ratios": (1.5, 1, 1), "wspace": 0.2})
        figure.subplots_adjust(left=0.045, right=0.99, top=0.85, bottom=0.17)
        panels = (
            (axes[0], f"Alliance ({scale.name})", [scale.value(p) for p in series.points]),
            (axes[1], "GAD-7 anxiety (0-21; - - 10 = moderate)", [p.gad7 for p in series.points]),
            (axes[2], "Distress before session (0-10)", [p.distress for p in series.points]),
        )
        limits = ((scale.minimum, scale.maximum), (0, GAD7_MAX), (0, DISTRESS_MAX))
        for (ax, title, values), (low, high) in zip(panels, limits, strict=True):
            _mark_missed(ax, series)
            _plot_with_gaps(ax, sessions, values)
            margin = (high - low) * 0.08
            ax.set_ylim(low - margin, high + margin * 2.2)
            ax.set_xlim(0.5, max(sessions) + 0.5)
            ax.set_xticks(sessions)
            ax.set_title(title, fontsize=7, loc="left", pad=3)
            ax.grid(axis="y", color=GRID, lw=0.5)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            for session in series.missed:
                ax.text(session, low, "missed", ha="center", va="bottom", fontsize=5.5, rotation=90)
        axes[1].axhline(GAD7_MODERATE, color=BLUE, lw=0.8, ls=(0, (3, 2)), zorder=2)
        for fall in series.ruptures:
            axes[0].plot(
                [fall.to_session], [fall.to_score], marker="v", ms=7, color=VERMILLION, zorder=4
            )
            axes[0].annotate(
                "rupture?",
                (fall.to_session, fall.to_score),
                xytext=(0, -11),
                textcoords="offset points",
                ha="center",
                fontsize=6,
                color=VERMILLION,
                fontweight="bold",
            )

    return Chart(_render(draw, (182, 30), "sessions"), session_alt(series))


def session_alt(series: SessionSeries) -> str:
    """The session chart in words: every value, the misses and the possible ruptures."""

    def listing(values: list[float | None]) -> str:
        return ", ".join("none" if v is None else number(v) for v in values)

    scale = series.scale
    parts = [
        f"Sessions 1 to {series.landmark}. Alliance ({scale.name}, "
        f"{number(scale.minimum)}-{number(scale.maximum)}): "
        f"{listing([scale.value(p) for p in series.points])}.",
        f"GAD-7 (0-21): {listing([p.gad7 for p in series.points])}.",
        f"Distress before session (0-10): {listing([p.distress for p in series.points])}.",
    ]
    missed = series.missed
    parts.append("Missed sessions: " + (", ".join(map(str, missed)) if missed else "none") + ".")
    for fall in series.ruptures:
        parts.append(
            f"Possible rupture: the alliance fell from {number(fall.from_score)} to "
            f"{number(fall.to_score)} between sessions {fall.from_session} and {fall.to_session}."
        )
    return " ".join(parts)


#: Factors a waterfall shows one by one; the rest make one bar.
WATERFALL_FACTORS = 8


def waterfall_label(c: Contribution) -> str:
    """A bar's label: background factors say so, and a contribution against the evidence
    is marked (*), which the page's note explains."""
    label = f"{c.label} (background)" if c.group == "background" else c.label
    return f"(*) {label}" if c.evidence == "contradicts" else label


def waterfall(
    outcome: str,
    title: str,
    base_value: float,
    log_odds: float,
    contributions: list[Contribution],
    *,
    shown: int = WATERFALL_FACTORS,
) -> Chart:
    """From the model's average to this client's risk, one factor at a time (log-odds axis
    labelled in probabilities, so every step is exact). The start is the average over the
    training clients at all sessions, not only at this one; background factors say so."""
    top = contributions[:shown]
    rest = sum(c.contribution for c in contributions[shown:])
    steps = [(waterfall_label(c), c.display_value, c.contribution) for c in top]
    steps.append((f"All {len(contributions) - shown} other factors", "", rest))

    def draw(figure: Figure) -> None:
        ax = figure.add_axes((0.5, 0.2, 0.47, 0.76))
        position = base_value
        labels = []
        for row, (label, value, phi) in enumerate(steps):
            raises = phi > 0
            ax.barh(
                row,
                phi,
                left=position,
                height=0.62,
                color=VERMILLION if raises else BLUE,
                hatch="////" if raises else None,
                edgecolor="white",
                lw=0,
            )
            ax.text(
                max(position, position + phi) + 0.02,
                row,
                f"{phi:+.2f}",
                va="center",
                fontsize=5.8,
            )
            position += phi
            labels.append(f"{label}: {value}" if value else label)
        ax.set_yticks(range(len(steps)), [_shorten(label) for label in labels], fontsize=6)
        ax.invert_yaxis()
        ax.axvline(base_value, color="#666666", lw=0.7, ls=(0, (2, 2)))
        ax.axvline(log_odds, color=BLACK, lw=1.0)
        low = min(base_value, log_odds, *_running(base_value, steps)) - 0.3
        high = max(base_value, log_odds, *_running(base_value, steps)) + 0.45
        ax.set_xlim(low, high)
        ticks = _probability_ticks(low, high)
        ax.set_xticks([logit(p) for p in ticks], [percent(p) for p in ticks])
        ax.set_xlabel(
            f"estimated risk (dashed: model average, all sessions {percent(expit(base_value))}; "
            f"solid: this client {percent(expit(log_odds))})",
            fontsize=6,
        )
        ax.grid(axis="x", color=GRID, lw=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    alt = (
        f"{title}: from the model's average estimate over all sessions, "
        f"{percent(expit(base_value))}, to this client's "
        f"{percent(expit(log_odds))}. "
        + " ".join(
            f"{label}{': ' + value if value else ''} {'raises' if phi > 0 else 'lowers'} it "
            f"({phi:+.2f} log-odds)."
            for label, value, phi in steps
        )
    )
    return Chart(_render(draw, (182, 52), f"waterfall-{outcome}"), alt)


_PROBABILITY_TICKS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.07,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.85,
    0.9,
    0.95,
    0.98,
    0.99,
)


def _probability_ticks(low: float, high: float, most: int = 7) -> list[float]:
    """Round probabilities inside a log-odds range, thinned to at most `most` ticks."""
    ticks = [p for p in _PROBABILITY_TICKS if low <= logit(p) <= high]
    step = math.ceil(len(ticks) / most) if ticks else 1
    return ticks[::step]


def _running(base_value: float, steps: list[tuple[str, str, float]]) -> list[float]:
    totals, position = [], base_value
    for _, _, phi in steps:
        position += phi
        totals.append(position)
    return totals


def _shorten(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
