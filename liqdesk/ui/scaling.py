"""How notional (dollars) becomes colour: scaling modes, display levels, the colormap, dollar text.

The image item is always handed a contiguous float32 row-major array and a 256-entry uint8
lookup table, so pyqtgraph takes its fast path (rescale to uint8, an indexed QImage):

- ``linear``: the grid as is, levels 0 … max.
- ``percentile``: the grid as is, levels 0 … the 99.5th percentile of the non-empty cells, so a
  few huge bins do not wash the rest out (values above saturate).
- ``log``: ``log10(1 + notional)`` written into a reused buffer, levels from a floor (the 5th
  percentile of non-empty cells, at least max / 10⁵) to the max.

Levels are computed on a strided sample (1 cell in 211), which costs well under 1 ms on a 2,000 × 1,440
grid instead of ~25 ms for a full sort.
"""

from __future__ import annotations

import math

import numpy as np

MODES = ("percentile", "linear", "log")
PERCENTILE = 99.5
_SAMPLE_STRIDE = 211


def to_display(img: np.ndarray, mode: str, out: np.ndarray | None = None) -> np.ndarray:
    """The array to hand to the image item (the same array for linear and percentile)."""
    if mode != "log":
        return img
    if out is None or out.shape != img.shape or out.dtype != np.float32:
        out = np.empty(img.shape, np.float32)
    np.log10(np.add(img, 1.0, out=out), out=out)
    return out


def to_dollars(value: float, mode: str) -> float:
    """Inverse of :func:`to_display` for one value."""
    return (10.0 ** value - 1.0) if mode == "log" else value


def _sample(img: np.ndarray) -> np.ndarray:
    flat = img.reshape(-1)
    s = flat[::_SAMPLE_STRIDE] if flat.size > 50_000 else flat
    s = s[s > 0]
    if not s.size and flat.size > 50_000:
        # the stride missed every value: a (nearly) empty grid, so the full scan is cheap enough
        s = flat[flat > 0]
    return s


def data_top(img: np.ndarray, extra: np.ndarray | None = None) -> float:
    """The largest dollar value :func:`display_levels` sees in ``img`` (and ``extra``): 0 when
    there is nothing at all (the colour bar then says so instead of inventing a scale)."""
    nz = _sample(img)
    top = float(nz.max()) if nz.size else 0.0
    if extra is not None and extra.size:
        top = max(top, float(extra.max()))
    return max(top, 0.0)


def display_levels(img: np.ndarray, mode: str, extra: np.ndarray | None = None) -> tuple[float, float]:
    """(low, high) levels in display units (dollars, or log10 dollars) for ``img`` in dollars.
    ``extra`` (e.g. the live column) is taken into account as well."""
    nz = _sample(img)
    if extra is not None and extra.size:
        nz = np.concatenate([nz, extra[extra > 0].astype(np.float32, copy=False)])
    if not nz.size:
        return (0.0, 1.0) if mode != "log" else (0.0, 1.0)
    top = float(nz.max())
    if mode == "linear":
        return 0.0, max(top, 1.0)
    if mode == "percentile":
        return 0.0, max(float(np.percentile(nz, PERCENTILE)), 1.0)
    floor = max(float(np.percentile(nz, 5.0)), top * 1e-5, 1.0)
    lo, hi = math.log10(1.0 + floor), math.log10(1.0 + top)
    return lo, max(hi, lo + 0.5)


#: LUT gamma per mode: < 1 lifts small and middle values off the background in the linear
#: modes (log already does); the colour bar draws the same LUT, so its labels stay exact.
GAMMA = {"linear": 0.6, "percentile": 0.6, "log": 1.0}


def colormap_lut(n: int = 256, gamma: float = 1.0) -> np.ndarray:
    """``[n, 3]`` uint8: the plot background for empty, then a perceptual dark-to-bright ramp
    (deep blue-violet → teal → green → yellow, viridis-like but darker at the bottom), entry
    ``i`` taking the ramp's colour at ``(i / (n − 1)) ** gamma``."""
    stops = np.array([0.0, 0.06, 0.22, 0.42, 0.62, 0.80, 1.0])
    colours = np.array([
        (11, 14, 20),      # empty = background
        (38, 20, 84),      # deep violet
        (56, 62, 150),     # indigo
        (33, 128, 160),    # teal-blue
        (40, 180, 125),    # green
        (170, 220, 50),    # lime
        (255, 240, 90),    # bright yellow
    ], dtype=float)
    x = np.linspace(0.0, 1.0, n) ** gamma
    lut = np.stack([np.interp(x, stops, colours[:, i]) for i in range(3)], axis=1)
    return np.clip(np.round(lut), 0, 255).astype(np.uint8)


def fmt_usd(v: float, signed: bool = False) -> str:
    """``$1.25B``, ``$34.7M``, ``$812k``, ``$950`` (``-`` for NaN)."""
    if v is None or not math.isfinite(v):
        return "-"
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    a = abs(v)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = a / div
            digits = 2 if x < 10 else (1 if x < 100 else 0)
            return f"{sign}${x:.{digits}f}{suffix}"
    return f"{sign}${a:.0f}"


def fmt_usd_sig(v: float) -> str:
    """Like :func:`fmt_usd` with three significant digits below $1k too ($11.7, $2.50): for a
    label that marks one exact value, such as the end of the colour bar."""
    if v is None or not math.isfinite(v):
        return "-"
    a = abs(v)
    if a >= 100 or a == 0:
        return fmt_usd(v)
    return f"{'-' if v < 0 else ''}${a:.{2 if a < 10 else 1}f}"


def fmt_price(p: float, step: float | None = None) -> str:
    """A price with as many decimals as the bin width (or the price's size) needs."""
    if p is None or not math.isfinite(p):
        return "-"
    ref = step if step else max(abs(p) * 1e-4, 1e-8)
    decimals = max(0, min(8, -math.floor(math.log10(ref)) if ref < 1 else 0))
    return f"{p:,.{decimals}f}"


def nice_ticks(lo: float, hi: float, n: int = 5, mults: tuple[float, ...] = (1, 2, 2.5, 5, 10),
               min_step: float = 0.0) -> list[float]:
    """About ``n`` round values (``mults`` × 10^k steps, at least ``min_step``) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = max((hi - lo) / max(1, n), min_step)
    exp = math.floor(math.log10(raw))
    step = 10.0 ** (exp + 1)
    for m in mults:
        if m * 10.0 ** exp >= raw * (1 - 1e-9):
            step = m * 10.0 ** exp
            break
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def usd_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round dollar values for an axis: steps of 1, 2 or 5 × 10^k dollars (never under $1, so
    no two labels read the same), within [lo, hi]."""
    return [v for v in nice_ticks(lo, hi, n, mults=(1, 2, 5, 10), min_step=1.0) if lo - 1e-9 <= v <= hi + 1e-9]


def fmt_usd_tick(v: float, step: float) -> str:
    """A tick label: the unit of ``v`` ($, k, M, B) with the decimals ``step`` needs, so that
    ticks ``step`` apart never read the same ($2.5 rather than $2, $1.5M rather than $1.50M)."""
    if not math.isfinite(v):
        return "-"
    if v == 0:
        return "$0"
    sign = "-" if v < 0 else ""
    a = abs(v)
    div, suffix = 1.0, ""
    for d, sfx in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= d * (1 - 1e-9):
            div, suffix = d, sfx
            break
    st = abs(step) / div if step else 1.0
    decimals = 0
    while decimals < 6 and abs(round(st, decimals) - st) > 1e-6 * st:
        decimals += 1
    return f"{sign}${a / div:.{decimals}f}{suffix}"


def usd_tick_labels(values: list[float]) -> list[str]:
    """Labels for equally spaced ticks at ``values``: distinct and exact."""
    if not values:
        return []
    steps = [b - a for a, b in zip(values, values[1:]) if b > a]
    step = min(steps) if steps else abs(values[0]) or 1.0
    return [fmt_usd_tick(v, step) for v in values]


def log_ticks(lo_log: float, hi_log: float) -> list[float]:
    """Dollar values at 1, 2, 5 × 10^k between 10^lo_log and 10^hi_log (fewer when crowded)."""
    out = []
    for k in range(math.floor(lo_log), math.ceil(hi_log) + 1):
        for m in ((1, 2, 5) if hi_log - lo_log < 3.5 else (1,)):
            v = m * 10.0 ** k
            if lo_log <= math.log10(1 + v) <= hi_log:
                out.append(v)
    return out
