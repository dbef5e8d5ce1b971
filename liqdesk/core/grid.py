"""The time × price heatmap grid: one column per time step, each the outstanding level map then.

Storage is chosen so that any filter (exchanges × leverage tiers × sides) rebuilds the whole
window with a handful of array additions, and so that a day of one-minute columns over 2,000
price rows and 3 × 5 × 2 slices fits in 173 MB (259 MB with the position-age codes):

- Long levels always sit below their exchange's mark price and short levels above it (a level
  the mark crosses is removed), so for each (exchange, tier) the long and short maps never
  overlap except in the mark's own row. One float32 array per (exchange, tier) holds both
  (``values``), and the mark row's long and short parts are kept apart (``boundary``). That halves
  the memory of a plain per-side layout without losing anything.
- ``values`` is ``[slices, rows, W]`` with the time axis last and used as a ring buffer: a column
  is written in place, and the filtered image comes out as a contiguous row-major ``[rows, W]``
  float32 array (price rows × time columns), ready for an image item without a transpose.
- ``age_codes`` (uint16, same layout) holds each cell's split by position age (four buckets,
  see :mod:`liqdesk.core.position_age`): half the memory of ``values`` more, read only by an age
  filter; the unfiltered path never touches it.

Price axis. Prices are binned on an absolute axis: bin ``k`` covers ``[k·w, (k+1)·w)`` for the
model's bin width ``w``. Each stored column keeps ``rows`` bins starting at its own ``origin``.
The model re-centres the origin when the price leaves the middle of the covered range; stored
columns keep the origin they were written with, and :meth:`HeatmapGrid.image` shifts them onto
the requested display origin, so a re-centre never loses what is stored (rows that fall outside
the displayed range are simply not shown).
"""

from __future__ import annotations

import numpy as np

from .position_age import YOUNG_CODE, share_table

_STAGE_COLUMNS = 32
#: cells per block of rows in a filtered read: the partial sums (3 float32 blocks, 3 MB) stay in
#: the CPU cache while the slices stream past once; fewer, larger blocks keep numpy's per-call cost low
_BLOCK_CELLS = 262144


class HeatmapGrid:
    """Ring buffer of closed columns for ``n_exchanges × n_tiers`` slices.

    Column numbers are absolute: column ``c`` covers event times ``[c·column_ms, (c+1)·column_ms)``
    and holds the level map at its end. Values are notional in quote currency (float32).
    """

    def __init__(self, n_exchanges: int, n_tiers: int, rows: int, window_columns: int, column_ms: int):
        if rows < 8 or window_columns < 2 or column_ms < 1:
            raise ValueError("grid needs at least 8 rows, 2 columns and a column width of 1 ms")
        self.n_exchanges, self.n_tiers = n_exchanges, n_tiers
        self.rows, self.window, self.column_ms = rows, window_columns, column_ms
        self.values = np.empty((n_exchanges * n_tiers, rows, window_columns), dtype=np.float32)
        # commit the memory now (first-touch page faults would otherwise land on the ingest path,
        # and RSS stays flat for the life of the grid)
        self.values.fill(0.0)
        self.age_codes = np.full((n_exchanges * n_tiers, rows, window_columns), YOUNG_CODE, dtype=np.uint16)
        self.boundary = np.zeros((window_columns, n_exchanges, n_tiers, 2), dtype=np.float32)
        self.mark_row = np.full((window_columns, n_exchanges), -1, dtype=np.int64)
        self.origin = np.zeros(window_columns, dtype=np.int64)
        self.column = np.full(window_columns, -1, dtype=np.int64)
        self.last_column = -1
        self.epoch = 0          # bumped by clear(): every stored column may have changed
        # Write-combining stage: a column written straight into ``values`` touches one cache line
        # (and often one page) per row and slice. Columns are staged contiguously (one column is
        # one run of memory) and a block of them is copied in one go, transposed into short
        # contiguous runs of ``values`` (measured: 4x less time per column than a strided stage).
        self._stage = np.zeros((_STAGE_COLUMNS, n_exchanges * n_tiers, rows), dtype=np.float32)
        self._stage_codes = np.full((_STAGE_COLUMNS, n_exchanges * n_tiers, rows), YOUNG_CODE, dtype=np.uint16)
        self._staged_from = -1
        self._staged = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the stored columns, in bytes."""
        return sum(a.nbytes for a in (self.values, self.age_codes, self.boundary, self.mark_row, self.origin,
                                      self.column))

    @property
    def age_nbytes(self) -> int:
        """Memory of the position-age codes alone, in bytes."""
        return self.age_codes.nbytes

    def record_packed(self, column: int, origin: int, packed: np.ndarray, at_mark: np.ndarray,
                      mark_rows: np.ndarray, scale: np.ndarray | None = None,
                      age_codes: np.ndarray | None = None) -> None:
        """Store column ``column`` starting at bin ``origin``: the levels with long and short
        added, ``packed[E, T, rows]`` float64 (read only), times ``scale[E]`` when given (the
        model's per-exchange scale factors; the product in float64, then float32); the long and
        short parts at each exchange's mark row, ``at_mark[E, T, 2]`` (any values where the mark
        row is unknown or outside the rows); ``mark_rows[E]`` each exchange's mark-price row
        relative to ``origin`` (-1 if unknown); ``age_codes[E·T, rows]`` each cell's
        position-age split (default: all "last hour")."""
        slot = column % self.window
        if self._staged and (slot != self._staged_from + self._staged or self._staged == _STAGE_COLUMNS):
            self._flush()
        if not self._staged:
            self._staged_from = slot
        stage = self._stage[self._staged].reshape(packed.shape)
        if scale is not None:
            np.multiply(packed, scale[:, None, None], out=stage)
        else:
            stage[...] = packed
        self._stage_codes[self._staged] = YOUNG_CODE if age_codes is None else age_codes
        self._staged += 1
        rows_ok = (mark_rows >= 0) & (mark_rows < self.rows)
        if scale is not None:
            at_mark = at_mark * scale[:, None, None]
        self.boundary[slot] = np.where(rows_ok[:, None, None], at_mark, 0.0)
        self.mark_row[slot] = mark_rows
        self.origin[slot] = origin
        self.column[slot] = column
        self.last_column = max(self.last_column, column)

    def _flush(self) -> None:
        """Copy staged columns into ``values``."""
        if self._staged:
            lo = self._staged_from
            self.values[:, :, lo: lo + self._staged] = self._stage[: self._staged].transpose(1, 2, 0)
            self.age_codes[:, :, lo: lo + self._staged] = self._stage_codes[: self._staged].transpose(1, 2, 0)
            self._staged = 0

    def clear(self) -> None:
        """Forget every stored column (keeps the memory)."""
        self._staged = 0
        self.values.fill(0.0)
        self.age_codes.fill(YOUNG_CODE)
        self.boundary.fill(0.0)
        self.mark_row.fill(-1)
        self.origin.fill(0)
        self.column.fill(-1)
        self.last_column = -1
        self.epoch += 1

    def skip_to(self, column: int) -> None:
        """Mark columns up to ``column`` as passed without storing them (a long gap)."""
        self.last_column = max(self.last_column, column)

    def image(self, exchanges: np.ndarray, tiers: np.ndarray, long: bool = True, short: bool = True,
              display_origin: int | None = None, end_column: int | None = None,
              weights: np.ndarray | None = None, ages=None) -> tuple[np.ndarray, np.ndarray]:
        """The filtered window as ``([rows, W] float32 row-major, column numbers [W])``.

        Columns run oldest to newest ending at ``end_column`` (default: the last stored); columns
        never stored are zero. ``exchanges`` and ``tiers`` are boolean masks. Rows are aligned on
        ``display_origin`` (default: the origin of the newest column). ``weights[E, T]``: a factor
        per slice (the model's learned leverage mix), applied to every stored column. ``ages``: the
        position-age buckets to keep (keys, None = all: the plain sum). Every cell equals what
        :meth:`band` gives for it, bit for bit (the same arithmetic per cell).
        """
        end = self.last_column if end_column is None else end_column
        columns = np.arange(end - self.window + 1, end + 1)
        if display_origin is None:
            display_origin = int(self.origin[end % self.window]) if end >= 0 else 0
        slot_img = self.band(exchanges, tiers, long, short, display_origin, end_column=end, weights=weights,
                             ages=ages)
        shift = end % self.window + 1
        out = np.empty_like(slot_img)
        # time order: slots [shift:] are older than [:shift]
        out[:, : self.window - shift] = slot_img[:, shift:]
        out[:, self.window - shift:] = slot_img[:, :shift]
        return out, columns

    def band(self, exchanges: np.ndarray, tiers: np.ndarray, long: bool, short: bool, display_origin: int,
             rows: tuple[int, int] | None = None, end_column: int | None = None,
             slots: np.ndarray | None = None, weights: np.ndarray | None = None, ages=None) -> np.ndarray:
        """Display rows ``rows = (r0, r1)`` (default: all) of the filtered window ending at
        ``end_column``, for the ring ``slots`` (default: all, in slot order: column ``c`` sits in
        slot ``c % W``), as ``[r1 - r0, len(slots)]`` float32 notional (quote currency).

        A slot whose column is not in the window (never stored, or older) is zero. Each cell is
        computed with the same sequence of float32 operations whatever the band's shape (a
        per-slice multiply and add, not a BLAS product whose summation order depends on the
        shape), so a column read alone equals the same column of a whole-window read bit for bit.
        Columns still in the write stage are read from it (a frame reading the column that just
        closed does not force the stage out, one strided column at a time). ``ages`` (bucket keys;
        None = all): each slice's cell times the selected buckets' share of it.
        """
        end = self.last_column if end_column is None else end_column
        r0, r1 = (0, self.rows) if rows is None else (int(rows[0]), int(rows[1]))
        every = slots is None
        slots = np.arange(self.window) if every else np.asarray(slots, dtype=np.int64)
        staged = not every and self._staged > 0 and bool(np.all(
            (slots >= self._staged_from) & (slots < self._staged_from + self._staged)))
        if not staged:
            self._flush()
        out = np.zeros((max(r1 - r0, 0), len(slots)), dtype=np.float32)
        exchanges, tiers = np.asarray(exchanges, bool), np.asarray(tiers, bool)
        if not (long or short) or r1 <= r0 or not len(slots) or end < 0:
            return out
        want = end - (end - slots) % self.window      # the column each slot holds in this window
        valid = (self.column[slots] == want) & (want >= 0)
        off = self.origin[slots] - display_origin     # stored row r shows at display row r + off
        table = None if ages is None else share_table(ages)
        for o in np.unique(off[valid]):
            o = int(o)
            a, b = max(r0 - o, 0), min(r1 - o, self.rows)       # the stored rows that show
            if b <= a:
                continue
            sel = np.flatnonzero(valid & (off == o))
            whole = every and len(sel) == self.window
            idx = slice(None) if whole else slots[sel]
            part = self._filtered(a, b, idx, exchanges, tiers, long, short, weights, staged, table)
            if whole:
                out[a + o - r0: b + o - r0] = part
            else:
                out[a + o - r0: b + o - r0, sel] = part
        return out

    def _filtered(self, a: int, b: int, idx, exchanges: np.ndarray, tiers: np.ndarray, long: bool,
                  short: bool, weights: np.ndarray | None, staged: bool = False,
                  table: np.ndarray | None = None) -> np.ndarray:
        """Filtered sum of stored rows ``[a, b)`` of the slots ``idx`` (a slice or an index array;
        ``staged``: slots all still in the write stage, read from there), each column in its own
        origin, ``[b - a, n]`` float32. ``table``: per age code, the share to keep (None: all).

        Per cell: each exchange's selected tiers, in order, each times its weight; then the
        exchanges summed in order. Worked through in blocks of rows small enough to stay in the
        CPU cache (the slices are read once; the partial sums never go to memory)."""
        slot_idx = np.arange(self.window)[idx]
        n = len(slot_idx)
        out = np.zeros((b - a, n), dtype=np.float32)
        sel_tiers = np.flatnonzero(tiers)
        sel_ex = np.flatnonzero(exchanges)
        if not sel_tiers.size or not sel_ex.size or not n:
            return out
        w32 = None if weights is None else np.asarray(weights, dtype=np.float32)
        step = max(1, _BLOCK_CELLS // n)
        part_buf = np.empty((min(step, b - a), n), dtype=np.float32)
        tmp_buf = np.empty_like(part_buf)
        share_buf = np.empty_like(part_buf) if table is not None else None
        for r0 in range(a, b, step):
            r1 = min(r0 + step, b)
            part, tmp, dst = part_buf[: r1 - r0], tmp_buf[: r1 - r0], out[r0 - a: r1 - a]
            share = None if share_buf is None else share_buf[: r1 - r0]
            for i, e in enumerate(sel_ex):
                self._exchange_part(e, r0, r1, idx, slot_idx, sel_tiers, w32, long, short, part, tmp, staged,
                                    table, share)
                if i == 0:
                    dst[...] = part
                else:
                    np.add(dst, part, out=dst)
        return out

    def _exchange_part(self, e: int, r0: int, r1: int, idx, slot_idx: np.ndarray, sel_tiers: np.ndarray,
                       w32: np.ndarray | None, long: bool, short: bool, part: np.ndarray, tmp: np.ndarray,
                       staged: bool = False, table: np.ndarray | None = None, share: np.ndarray | None = None) -> None:
        """One exchange's filtered sum of stored rows ``[r0, r1)`` written into ``part``."""
        for j, t in enumerate(sel_tiers):
            if staged:
                v = self._stage[slot_idx - self._staged_from, e * self.n_tiers + t, r0:r1].T
            else:
                v = self.values[e * self.n_tiers + t, r0:r1][:, idx]
            if table is not None:
                # the selected buckets' share of each cell: one table look-up (take into a buffer,
                # no bounds checks: every code is below the table's length), then the product
                np.take(table, self._codes(e * self.n_tiers + t, r0, r1, idx, slot_idx, staged), mode="clip",
                        out=share)
                v = np.multiply(share, v, out=share)
            if j == 0:
                if w32 is None:
                    part[...] = v
                else:
                    np.multiply(v, w32[e, t], out=part)
            elif w32 is None:
                np.add(part, v, out=part)
            else:
                np.add(part, np.multiply(v, w32[e, t], out=tmp), out=part)
        if long and short:
            return
        # long levels sit below the exchange's mark row, short ones above; the mark row's own
        # long and short parts are kept apart in ``boundary``
        mark = self.mark_row[slot_idx, e]
        rows = np.arange(r0, r1)[:, None]
        part *= (rows < mark[None, :]) if long else (rows > mark[None, :])
        has = (mark >= r0) & (mark < r1)
        if not has.any():
            return
        side = 0 if long else 1
        at_mark = np.zeros(len(slot_idx), dtype=np.float32)
        safe = np.clip(mark, 0, self.rows - 1)
        for t in sel_tiers:
            bt = self.boundary[slot_idx, e, t, side]
            if table is not None:    # the mark row's long and short parts share its cell's split
                codes = self._codes(e * self.n_tiers + t, 0, self.rows, idx, slot_idx, staged)
                bt = bt * table[codes[safe, np.arange(len(slot_idx))]]
            np.add(at_mark, bt if w32 is None else bt * w32[e, t], out=at_mark)
        part[mark[has] - r0, np.flatnonzero(has)] = at_mark[has]

    def _codes(self, s: int, r0: int, r1: int, idx, slot_idx: np.ndarray, staged: bool) -> np.ndarray:
        """Age codes of slice ``s``, stored rows ``[r0, r1)``, the read's slots: ``[r1 - r0, n]``."""
        if staged:
            return self._stage_codes[slot_idx - self._staged_from, s, r0:r1].T
        return self.age_codes[s, r0:r1][:, idx]

    def cell(self, column: int, row: int, display_origin: int,
             weights: np.ndarray | None = None) -> np.ndarray | None:
        """Notional at one cell per (exchange, tier, side) as ``[E, T, 2]`` (times ``weights[E, T]``
        when given), or None if not stored."""
        slot = column % self.window
        if self.column[slot] != column:
            return None
        self._flush()
        r = row + display_origin - int(self.origin[slot])
        out = np.zeros((self.n_exchanges, self.n_tiers, 2))
        if not 0 <= r < self.rows:
            return out
        packed = self.values[:, r, slot].reshape(self.n_exchanges, self.n_tiers).astype(float)
        for e in range(self.n_exchanges):
            m = self.mark_row[slot, e]
            if r < m:
                out[e, :, 0] = packed[e]
            elif r > m:
                out[e, :, 1] = packed[e]
            else:
                out[e] = self.boundary[slot, e]
        return out if weights is None else out * weights[:, :, None]

