"""The position-age view (no Qt): the filtered window split into the four age buckets (last hour,
1–24 h, 1–7 d, older; see :mod:`liqdesk.core.position_age`) and drawn as one picture a trader
reads at a glance: each cell's hue is the mix of its buckets' colours (weighted by their shares:
fresh positions warm orange, up to a day old sky blue, up to a week violet, older grey — warm is
new money, cool and grey have sat there), its brightness the cell's total notional on the same
square-root scale for the whole picture.
"""

from __future__ import annotations

import numpy as np

from liqdesk.core.position_age import BUCKET_KEYS, BUCKETS

#: RGB per bucket, youngest first: orange, sky blue, violet, grey (warm against cool: apart for
#: the common colour blindnesses too)
AGE_COLOURS = ((255, 130, 40), (70, 180, 255), (160, 110, 255), (150, 150, 160))
_BACKGROUND = np.array([11, 14, 20], np.float32)


def age_buckets(model, exchanges=None, tiers=None, long: bool = True, short: bool = True,
                include_live: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """(``[4, rows, W]`` float32 notional per bucket (quote currency), column numbers, display
    origin): the filtered window read once per bucket; the four sum to the unfiltered window."""
    parts = []
    cols = origin = None
    for key in BUCKET_KEYS:
        img, cols, origin = model.image(exchanges, tiers, long, short, include_live=include_live, ages=(key,))
        parts.append(img)
    return np.stack(parts), cols, origin


def age_top(buckets: np.ndarray, quantile: float = 99.5) -> float:
    """The notional drawn at full brightness: a high percentile of the non-empty cells."""
    total = buckets.sum(axis=0)
    nz = total[total > 0]
    return float(np.percentile(nz, quantile)) if nz.size else 1.0


def age_rgb(buckets: np.ndarray, top: float) -> np.ndarray:
    """``[rows, W, 3]`` uint8: hue the share-weighted mix of the bucket colours, brightness
    ``sqrt(total / top)`` (clipped at 1) from the background."""
    total = buckets.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, buckets / np.where(total > 0, total, 1.0), 0.0)
    hue = np.tensordot(shares.transpose(1, 2, 0), np.asarray(AGE_COLOURS, np.float32), axes=1)
    bright = np.sqrt(np.clip(total / max(top, 1e-12), 0.0, 1.0))[..., None]
    rgb = _BACKGROUND + (hue - _BACKGROUND) * bright
    return np.clip(rgb, 0, 255).astype(np.uint8)


def age_legend() -> list[tuple[str, str]]:
    """(label, ``#rrggbb``) per bucket, youngest first."""
    return [(label, "#" + "".join(f"{v:02x}" for v in c)) for (_, label), c in zip(BUCKETS, AGE_COLOURS)]


def age_summary(buckets: np.ndarray) -> dict[str, float]:
    """Each bucket's notional in the newest column (quote currency), by key."""
    return {key: float(buckets[i, :, -1].sum()) for i, key in enumerate(BUCKET_KEYS)}
