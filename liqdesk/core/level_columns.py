"""Column ends of the level model (:class:`~liqdesk.core.levels.LevelModel`): the outstanding
level map packed into the grid's rows at each column end (kept between columns and recomputed
only in the cells written since), its position-age codes, the mark row's long and short parts,
and the re-centring of the displayed price rows.
Split out of ``levels.py`` (a mixin of the model: the methods share its state).
"""

from __future__ import annotations

import math

import numpy as np

from .position_age import YOUNG_CODE, cell_codes


class ColumnsMixin:
    """The model's column-end methods (see the module docstring)."""

    def _column_decay(self) -> float:
        hl = self.settings.decay_half_life_s
        return 0.5 ** (self.settings.column_ms / 1000.0 / hl) if hl > 0 else 1.0

    def _close_column(self, t_end: int) -> None:
        factor = self._column_decay()
        if factor != 1.0:
            for e in range(self.E):
                self._scale(e, factor)
        rows = self.settings.rows
        origin = self._recentre()
        self._flush_all()
        scale = np.asarray(self._factor) if any(f != 1.0 for f in self._factor) else None
        mark_rows = [(math.floor(st.mark / self.bin_width) - origin) if not math.isnan(st.mark) else -1
                     for st in self.ex] if self.bin_width else [-1] * self.E
        packed, codes = self._column_cells(origin, rows)
        at_mark = self._mark_parts(origin, rows, mark_rows)
        self.grid.record_packed(t_end // self.settings.column_ms - 1, origin, packed, at_mark,
                                np.array(mark_rows, dtype=np.int64), scale, codes)

    def _packed_window(self, origin: int, rows: int) -> np.ndarray:
        """Stored notional (unscaled) from absolute bin ``origin``, long and short added,
        ``[E, T, rows]`` float64 (a buffer kept between column ends), zero where the state has
        no bins."""
        if self._packed is None or self._packed.shape[-1] != rows:
            self._packed = np.empty((self.E, self.T, rows))
        out = self._packed
        bins = self.notional.shape[-1]
        lo = origin - self.origin
        src_lo, src_hi = max(lo, 0), min(lo + rows, bins)
        if src_hi > src_lo:
            out[..., : src_lo - lo] = 0.0
            out[..., src_hi - lo:] = 0.0
            np.add(self.notional[:, :, 0, src_lo:src_hi], self.notional[:, :, 1, src_lo:src_hi],
                   out=out[..., src_lo - lo: src_hi - lo])
        else:
            out.fill(0.0)
        return out

    def _mark_parts(self, origin: int, rows: int, mark_rows: list) -> np.ndarray:
        """``[E, T, 2]``: the stored long and short parts at each exchange's mark row (zero where
        the row is unknown or outside the rows or the state)."""
        at_mark = np.zeros((self.E, self.T, 2))
        lo = origin - self.origin
        for e, r in enumerate(mark_rows):
            if 0 <= r < rows and 0 <= lo + r < self.notional.shape[-1]:
                at_mark[e] = self.notional[e, :, :, lo + r]
        return at_mark

    def _all_codes(self, origin: int, rows: int, packed: np.ndarray) -> np.ndarray:
        """Every code of the closing column (:func:`cell_codes` of every cell holding something
        older), as if read from the window and its cohorts through :meth:`_state_window`, without
        copying either: rows the
        state has no bins for are all "last hour"; the others are computed in float32 when the
        state covers the whole window (a view) and in float64 otherwise (the zero-padded copy
        ``_state_window`` makes then is float64)."""
        codes = np.full((self.E * self.T, rows), YOUNG_CODE, np.uint16)
        bins = self.notional.shape[-1]
        lo = origin - self.origin
        src_lo, src_hi = max(lo, 0), min(lo + rows, bins)
        if src_hi <= src_lo:
            return codes
        older = self.age.older_view()[..., src_lo:src_hi]
        if lo >= 0 and lo + rows <= bins:
            old = older[:, :, :, 0] + older[:, :, :, 1]
        else:
            old = np.add(older[:, :, :, 0], older[:, :, :, 1], dtype=np.float64)
        old = old.reshape(3, -1)
        some = np.flatnonzero(old[0] + old[1] + old[2])
        if some.size:
            part = np.full((self.E * self.T, src_hi - src_lo), YOUNG_CODE, np.uint16)
            total = packed[..., src_lo - lo: src_hi - lo].reshape(-1)[some]
            part.reshape(-1)[some] = cell_codes(old[:, some], total)
            codes[:, src_lo - lo: src_hi - lo] = part
        return codes

    def _column_cells(self, origin: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """The closing column's stored notional, long and short added (``[E, T, rows]`` float64,
        as :meth:`_packed_window`), and its age codes ``[E·T, rows]`` (each cell as
        :meth:`_all_codes` gives it). Both are kept from the last column and recomputed in full
        only when the state was rescaled or resized or the rows shifted; else only in the cells
        written since (additions, sweeps) and those whose older cohorts moved: no other cell can
        have changed."""
        bins = self.notional.shape[-1]
        key = (origin, self.origin, bins, self.age.version)
        dirty = self._codes_dirty
        self._codes_dirty = [[] for _ in range(self.E)]
        moved = self.age.take_changed()
        if key != self._codes_key or self._codes is None or self._packed is None or self._packed.shape[-1] != rows:
            packed = self._packed_window(origin, rows)
            self._codes = self._all_codes(origin, rows, packed)
            self._codes_key = key
            return packed, self._codes
        packed = self._packed
        if not (any(dirty) or moved):
            return packed, self._codes
        # mark the written cells on a [E·T, bins] mask (long and short share a code)
        mask = np.zeros((self.E, self.T, bins), bool)
        for e in range(self.E):
            if dirty[e]:
                flat = np.concatenate(dirty[e]) if len(dirty[e]) > 1 else dirty[e][0]
                mask[e].reshape(-1)[(flat // (2 * bins)) * bins + flat % bins] = True
        if moved:   # cells whose older buckets a cohort move changed ([E·T·2·bins] indexes)
            flat = np.concatenate(moved) if len(moved) > 1 else moved[0]
            mask.reshape(-1)[(flat // (2 * bins)) * bins + flat % bins] = True
        cells = np.flatnonzero(mask)       # (e·T + t)·bins + state bin (1-D: 8x faster than 2-D)
        slice_, stored = np.divmod(cells, bins)
        lo = origin - self.origin
        row = stored - lo
        inside = (row >= 0) & (row < rows)
        if not inside.all():
            slice_, stored, row = slice_[inside], stored[inside], row[inside]
        state = self.notional.reshape(self.E * self.T, 2, bins)
        packed.reshape(-1, rows)[slice_, row] = state[slice_, 0, stored] + state[slice_, 1, stored]
        older = self.age.older_view().reshape(3, self.E * self.T, 2, bins)
        long_old, short_old = older[:, slice_, 0, stored], older[:, slice_, 1, stored]
        if not (lo >= 0 and lo + rows <= bins):
            # the full path reads the cohorts through a zero-padded float64 copy then: same here
            long_old, short_old = long_old.astype(np.float64), short_old.astype(np.float64)
        self._codes[slice_, row] = cell_codes(long_old + short_old, packed.reshape(-1, rows)[slice_, row])
        return packed, self._codes

    def _recentre(self, peek: bool = False) -> int:
        """The grid origin for the current price: kept while the price stays in the middle 60 %."""
        rows = self.settings.rows
        price = self.mark_price()
        if not self.bin_width or math.isnan(price):
            return self.display_origin if self.display_origin is not None else self.origin
        k = math.floor(price / self.bin_width)
        origin = self.display_origin
        if origin is None or not (origin + 0.2 * rows <= k < origin + 0.8 * rows):
            origin = k - rows // 2
            if not peek:
                self.display_origin = origin
        return origin

    def _true_window(self, origin: int, rows: int) -> np.ndarray:
        """True notional ``[E, T, 2, rows]`` from absolute bin ``origin`` (queued additions written)."""
        self._flush_all()
        window = self._state_window(self.notional, origin, rows)
        scale = self._slice_scale()
        return window if scale is None else window * scale[:, :, None, None]

    def _slice_scale(self) -> np.ndarray | None:
        """``[E, T]`` factors from stored to true notional (exchange scale × learned mix), or None."""
        mult = self.mix_multipliers()
        if any(f != 1.0 for f in self._factor):
            factor = np.asarray(self._factor)[:, None]
            return factor * mult if mult is not None else np.repeat(factor, self.T, axis=1)
        return mult

    def _state_window(self, arr: np.ndarray, origin: int, rows: int) -> np.ndarray:
        """``arr[..., origin:origin+rows]`` in absolute bins, zero where the state has no bins
        (a read-only view when the state covers the whole window)."""
        lo = origin - self.origin
        if lo >= 0 and lo + rows <= arr.shape[-1]:
            view = arr[..., lo: lo + rows]
            view = view.view()
            view.flags.writeable = False
            return view
        out = np.zeros(arr.shape[:-1] + (rows,))
        src_lo, src_hi = max(lo, 0), min(lo + rows, arr.shape[-1])
        if src_hi > src_lo:
            out[..., src_lo - lo: src_hi - lo] = arr[..., src_lo:src_hi]
        return out
