"""The learned leverage mix as a trader reads it (no Qt): one line per exchange, shared by the
window's stats panel and ``liqdesk evaluate``."""

from __future__ import annotations

#: tiers below this share (2 %) are left out of a line (they still count in the map)
MIN_SHOWN = 0.02


def mix_parts(venue: dict) -> list[str]:
    """``["10x 21% ±30%", ...]`` for one exchange of :meth:`LevelModel.mix_summary`: each tier's
    share of the notional, and the relative uncertainty of its rate when the evidence narrows it
    (a tier still at its prior shows no ±)."""
    out = []
    for lev, w, sd in zip(venue["leverages"], venue["weights"], venue["rel_sd"]):
        if w >= MIN_SHOWN:
            out.append(f"{lev:g}x {w:.0%}" + (f" ±{sd:.0%}" if sd < 0.5 else ""))
    return out


def mix_lines(summary: list[dict], learned: bool) -> list[str]:
    """A heading and one line per exchange (its state, what it learned from, its mix)."""
    if not learned:
        parts = ", ".join(mix_parts(summary[0])) if summary else ""
        return [f"leverage mix: fixed prior (not learned): {parts}"]
    lines = ["leverage mix learned from the liquidation feed (share of notional per leverage; ± the "
             "relative uncertainty where the evidence narrows it):"]
    for venue in summary:
        lines.append(f"{venue['exchange']} ({venue['state']}; {venue['liquidations_matched']:g} liquidations "
                     f"matched to swept levels, {venue['liquidations_unmatched']:g} not): "
                     + ", ".join(mix_parts(venue)))
    return lines
