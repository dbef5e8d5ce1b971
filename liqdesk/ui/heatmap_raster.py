"""The heatmap's coloured image, kept between frames and re-coloured only where it changed.

The panel keeps the closed columns as 32-bit pixels (``0xffRRGGBB``, Qt's ``Format_RGB32``, which
the raster paint engine draws without a conversion) in a ring of ``window_columns`` slots:
column ``c`` sits in slot ``c % window_columns``, as in the model's grid. A live frame colours
one new column in place and the paint draws the ring as two pieces (older slots, then newer);
nothing is shifted or re-coloured. Only a change of what every column shows (a filter, the
colour scale's levels, the learned leverage mix, a re-centred price axis) colours all of it again.

Colour of a cell: the lookup-table entry ``clip(floor((d − lo) · 256 / (hi − lo)), 0, 255)`` of its
display value ``d`` (dollars, or ``log10(1 + dollars)`` on the log scale), as pyqtgraph's own
indexed-colour path does, so the colour bar (a pyqtgraph item with the same table) reads true.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

#: The colour scale's levels are kept until the levels computed for the data shown move by more
#: than this share of the current range (hi − lo) at either end; see :func:`levels_moved`.
LEVELS_TOLERANCE = 0.10
#: cells coloured per block (a few hundred kB of temporaries, kept in the CPU cache)
_COLOUR_BLOCK = 65_536


def levels_moved(shown: tuple[float, float] | None, computed: tuple[float, float]) -> bool:
    """Whether the colour scale changes to ``computed`` (the levels the data shown calls for).

    The rule: change when either end moved by more than 10 % of the shown range (``hi − lo``,
    in display units: dollars, or decades on the log scale). So a new maximum more than 10 %
    above the top of a linear scale, a 99.5th percentile that moved by more than 10 %, or a log
    scale whose ends moved by more than a tenth of its span re-colour the image once; smaller
    moves keep the colours (a value up to 10 % above the top shows in the top colour meanwhile).
    """
    if shown is None:
        return True
    lo, hi = shown
    room = LEVELS_TOLERANCE * max(hi - lo, 1e-12)
    return abs(computed[0] - lo) > room or abs(computed[1] - hi) > room


def lut_rgb32(lut: np.ndarray) -> np.ndarray:
    """A ``[n, 3]`` uint8 lookup table as ``0xffRRGGBB`` uint32 pixels."""
    lut = np.asarray(lut, dtype=np.uint32)
    return (np.uint32(0xFF000000) | (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]).astype(np.uint32)


class Colouring:
    """Dollars to pixels under one colour scale: ``levels`` in display units, ``mode`` one of
    ``scaling.MODES`` and a 256-entry lookup table."""

    def __init__(self, lut: np.ndarray, levels: tuple[float, float], mode: str):
        self.table = lut_rgb32(lut)
        self.levels = (float(levels[0]), float(levels[1]))
        self.mode = mode

    def colour(self, dollars: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``dollars`` (float32, any shape) as uint32 pixels (written into ``out`` when given).
        Worked through in blocks that stay in the CPU cache (the same arithmetic per cell)."""
        lo, hi = self.levels
        n = len(self.table)
        scale = np.float32(n / (hi - lo if hi != lo else 1.0))
        d = np.ascontiguousarray(dollars, dtype=np.float32).reshape(-1)
        res = np.empty(d.shape, np.uint32) if out is None else out.reshape(-1)
        block = min(_COLOUR_BLOCK, max(len(d), 1))
        x_buf = np.empty(block, np.float32)
        idx_buf = np.empty(block, np.uint8 if n <= 256 else np.uint16)
        for i in range(0, len(d), block):
            src, x, idx = d[i: i + block], x_buf[: min(block, len(d) - i)], idx_buf[: min(block, len(d) - i)]
            if self.mode == "log":
                np.log10(np.add(src, np.float32(1.0), out=x), out=x)
                np.subtract(x, np.float32(lo), out=x)
            else:
                np.subtract(src, np.float32(lo), out=x)
            np.multiply(x, scale, out=x)
            np.clip(x, 0, n - 1, out=x)
            np.copyto(idx, x, casting="unsafe")
            np.take(self.table, idx, out=res[i: i + len(x)])
        if out is None:
            return res.reshape(np.shape(dollars))
        return out


class RasterItem(pg.GraphicsObject):
    """Draws a uint32 ``0xffRRGGBB`` pixel ring ``[rows, W]`` that its owner updates in place.

    Column ``c`` sits in slot ``c % W``. Item coordinates: x = column − ``anchor`` (a multiple of
    W at or before the oldest column shown, so the item moves only once every W columns), y =
    display row. The columns ``first … last`` are drawn, the ring's older slots then its newer
    ones; only the rows ``band`` (the rest of the buffer is not kept up to date). A new column
    repaints only its own strip (and the strip of the column that left the window).

    Painting: the item samples the ring itself into a picture at the device's resolution (each
    device pixel shows the cell under its centre) and blits that picture unscaled. Qt's own
    scaled ``drawImage`` picks its source pixels differently through a many-rectangle clip than
    through a whole repaint (parts of the map a pixel off), so the view could only repaint one
    bounding rectangle per frame; an unscaled blit shows the same pixels through any clip, so the
    view repaints just the changed parts. The picture is kept while the item's place on the
    device stays the same: a frame re-samples only the device columns of the columns that
    changed (:meth:`update_columns`); :meth:`invalidate` re-samples it all.
    """

    #: more separate changed strips than this before a paint: re-sample everything instead
    _MAX_DIRTY = 64

    def __init__(self, stride: int | None = None):
        super().__init__()
        #: the item's x origin (``anchor``) is a multiple of this many columns (default: the
        #: ring's width); the live column's one-slot ring uses the window's width, so that it
        #: moves along inside the item instead of moving the item every column
        self.stride = stride
        self.pixels: np.ndarray | None = None
        self.first = self.last = 0
        self.band = (0, 0)
        self._geometry = None
        self._cache = None            # (key, device x0, y0, column → slot, row index, picture)
        self._dirty: list[tuple[int, int]] | None = None    # None: all; else [(v0, v1)] item x
        self.samples = 0              # device pixels sampled so far (diagnosis)

    def set_pixels(self, pixels: np.ndarray) -> None:
        """Use ``pixels`` (C-contiguous uint32 ``[rows, W]``; kept, not copied) from now on."""
        assert pixels.dtype == np.uint32 and pixels.flags.c_contiguous
        self.prepareGeometryChange()
        self.pixels = pixels
        self._geometry = None
        self.invalidate()

    def invalidate(self) -> None:
        """Every pixel may have changed: re-sample and repaint the whole item."""
        self._dirty = None
        self.update()

    def place(self, first: int, last: int, band: tuple[int, int], column_s: float, bin_width: float,
              origin: int) -> None:
        """Show columns ``first … last`` (absolute numbers), rows ``band``, for ``column_s``
        seconds per column and bins of ``bin_width`` from absolute bin ``origin``."""
        stride = self.stride or self.pixels.shape[1]
        anchor = (first // stride) * stride
        geometry = (anchor, band, column_s, bin_width, origin, stride)
        if geometry != self._geometry:
            self.prepareGeometryChange()
            self.band = band
            self.setTransform(QtGui.QTransform.fromTranslate(anchor * column_s, origin * bin_width)
                              .scale(column_s, bin_width))
            self._geometry = geometry
            self.invalidate()
        elif (first, last) != (self.first, self.last):
            # the window slid along: the strips of the columns that left it and that came in
            self.update_columns(min(self.first, first), max(self.first, first))
            self.update_columns(min(self.last, last) + 1, max(self.last, last) + 1)
        self.first, self.last = first, last

    def update_columns(self, c0: int, c1: int) -> None:
        """Repaint the strip of columns ``[c0, c1)`` (their pixels changed)."""
        if c1 > c0 and self._geometry is not None:
            b0, b1 = self.band
            v0 = c0 - self._geometry[0]
            if self._dirty is not None:
                self._dirty.append((v0, v0 + c1 - c0))
                if len(self._dirty) > self._MAX_DIRTY:
                    self._dirty = None
            rect = QtCore.QRectF(float(v0), float(b0), float(c1 - c0), float(b1 - b0))
            scene, vb = self.scene(), self.getViewBox()
            if scene is None or vb is None:
                self.update(rect)
                return
            # straight to the views, not through the item: Qt unites an item's dirty rectangles into one, so
            # the strip of a column leaving at the left and the one coming in at the right would
            # repaint everything between them
            strip = self.mapRectToScene(rect).intersected(vb.sceneBoundingRect())
            for view in scene.views():
                view.viewport().update(view.mapFromScene(strip).boundingRect().adjusted(-2, -2, 2, 2))

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.pixels = None
        self.band = (0, 0)
        self._geometry = None
        self._cache = None
        self.invalidate()

    def boundingRect(self) -> QtCore.QRectF:
        if self.pixels is None or self.band[1] <= self.band[0]:
            return QtCore.QRectF()
        # two strides: the window can reach past the anchor's ring by up to W − 1 columns
        stride = self.stride or self.pixels.shape[1]
        return QtCore.QRectF(0.0, float(self.band[0]), 2.0 * stride, float(self.band[1] - self.band[0]))

    def drawn_rect(self) -> QtCore.QRectF:
        """The columns ``first … last`` and rows ``band`` as drawn, in item coordinates (the
        bounding rectangle is wider: it holds every place they can move to)."""
        if self._geometry is None:
            return QtCore.QRectF()
        b0, b1 = self.band
        return QtCore.QRectF(float(self.first - self._geometry[0]), float(b0), float(self.last - self.first + 1),
                             float(b1 - b0))

    @staticmethod
    def _samples(offset: float, scale: float, lo: int, hi: int, size: int) -> tuple[int, np.ndarray]:
        """Device pixels ``[x0, x0 + n)`` (within ``[0, size)``) whose centres fall on item
        cells ``lo … hi − 1`` along one axis (device = ``offset + scale · item``), and the cell
        under each centre."""
        a, b = sorted((offset + scale * lo, offset + scale * hi))
        x = np.arange(max(0, math.floor(a) - 1), min(size, math.ceil(b) + 1))
        cell = np.floor((x + 0.5 - offset) / scale).astype(np.int64)
        ok = (cell >= lo) & (cell < hi)
        if not ok.any():
            return 0, cell[:0]
        i = np.flatnonzero(ok)            # contiguous: the cell is monotonic in x
        return int(x[i[0]]), cell[i[0]: i[-1] + 1]

    def _picture(self, t: QtGui.QTransform, dpr: float, device_size: tuple[int, int]):
        """The kept device-resolution picture of every ring column (item x ``0 … 2W − 1``),
        re-sampled where it changed; None when nothing of the item is on the device."""
        width = self.pixels.shape[1]
        b0, b1 = self.band
        sx, sy, dx, dy = t.m11() * dpr, t.m22() * dpr, t.dx() * dpr, t.dy() * dpr
        key = (sx, sy, dx, dy, dpr, device_size, b0, b1, id(self.pixels))
        cache = self._cache
        if cache is None or cache[0] != key:
            x0, cols = self._samples(dx, sx, 0, 2 * (self.stride or width), device_size[0])
            y0, rows = self._samples(dy, sy, b0, b1, device_size[1])
            if not len(cols) or not len(rows):
                self._cache = (key, 0, 0, cols, rows, None, None)
                return self._cache
            pic = np.empty((len(rows), len(cols)), np.uint32)
            qimage = QtGui.QImage(pic.data, pic.shape[1], pic.shape[0], pic.shape[1] * 4,
                                  QtGui.QImage.Format.Format_RGB32)
            qimage.setDevicePixelRatio(dpr)
            cache = self._cache = (key, x0, y0, cols, rows, pic, qimage)
            self._dirty = None
        _, x0, y0, cols, rows, pic, qimage = cache
        if pic is None:
            return cache
        if self._dirty is None:
            spans = [(0, len(cols))]
        else:
            spans = [(int(np.searchsorted(cols, v0)), int(np.searchsorted(cols, v1))) for v0, v1 in self._dirty]
        for j0, j1 in spans:
            if j1 - j0 == len(cols):
                # the whole picture: the rows first (contiguous copies), then the columns of those
                # (about half the time of one two-dimensional gather)
                np.take(np.take(self.pixels, rows, axis=0), cols % width, axis=1, out=pic)
            elif j1 > j0:
                pic[:, j0:j1] = self.pixels[rows[:, None], cols[None, j0:j1] % width]
            self.samples += max(j1 - j0, 0) * len(rows)
        self._dirty = []
        return cache

    def paint(self, p, *args) -> None:
        if self.pixels is None or self.band[1] <= self.band[0] or self._geometry is None:
            return
        t = p.transform()
        if t.m12() != 0 or t.m21() != 0 or t.m11() == 0 or t.m22() == 0:
            return                      # rotated or degenerate: never so in a plot
        device = p.device()
        dpr = float(device.devicePixelRatioF()) or 1.0
        size = (int(round(device.width() * dpr)), int(round(device.height() * dpr)))
        _, x0, y0, cols, rows, pic, qimage = self._picture(t, dpr, size)
        if pic is None:
            return
        # the columns first … last of the ring: a contiguous run of the picture's device columns
        anchor = self._geometry[0]
        j0 = int(np.searchsorted(cols, self.first - anchor))
        j1 = int(np.searchsorted(cols, self.last - anchor + 1))
        if j1 <= j0:
            return
        p.save()
        p.resetTransform()
        p.drawImage(QtCore.QRectF((x0 + j0) / dpr, y0 / dpr, (j1 - j0) / dpr, len(rows) / dpr), qimage,
                    QtCore.QRectF(j0, 0, j1 - j0, len(rows)))
        p.restore()


class WindowRaster:
    """The heatmap's closed columns and live column, coloured and kept between frames.

    ``sync`` brings it up to date with the model: when only columns closed since the last frame
    (the model's :meth:`~liqdesk.core.levels.LevelModel.closed_since` says which) it reads and
    colours just those columns, in their ring slots; a change of filter, scale, model, mix or
    price origin (or a ``force``) reads and colours the whole band of rows again (a rebuild). The
    live column is read and coloured every frame (one column). Only the rows ``band`` (the rows
    in view and half a view either side, grown as the view pans) are read and coloured.
    """

    #: more columns than this share of the window closed since the last frame: read them all
    REBUILD_SHARE = 0.25

    def __init__(self, plot, lut: np.ndarray, mode: str):
        self.image = RasterItem()
        self.image.setZValue(0)
        self.live_image = RasterItem()
        self.live_image.setZValue(1)
        # their bounding rects are wider than the data (see RasterItem): the panel sets the ranges
        plot.addItem(self.image, ignoreBounds=True)
        plot.addItem(self.live_image, ignoreBounds=True)
        self.colouring = Colouring(lut, (0.0, 1.0), mode)
        self.clear()

    def clear(self) -> None:
        self.vals: np.ndarray | None = None      # closed columns, dollars [rows, W], slot order
        self.px: np.ndarray | None = None        # the same as pixels
        self.live_vals: np.ndarray | None = None
        self.live_px: np.ndarray | None = None
        self.band = (0, 0)
        self.stamp = None
        self.seen_column: int | None = None      # newest closed column in the ring
        self.view_key = None
        self.origin = 0
        self.geometry = (1.0, 1.0)               # (column seconds, bin width)
        self.live_column = 0
        self.rebuilds = 0                        # whole-band reads (for tests and the bench)
        self.recolours = 0                       # whole-band re-colourings (level changes)
        self.image.clear()
        self.live_image.clear()

    @property
    def levels(self) -> tuple[float, float]:
        return self.colouring.levels

    def set_lut(self, lut: np.ndarray, mode: str) -> None:
        self.colouring = Colouring(lut, self.colouring.levels, mode)

    # -------------------------------------------------------------------------------- read
    def sync(self, model, view, origin: int, live: np.ndarray, need: tuple[int, int], force: bool = False,
             image: tuple | None = None) -> bool:
        """Bring the ring up to date with ``model`` under ``view``; ``live`` the live column
        (dollars, all rows), ``need`` the rows to have. ``image``: a ready ``model.image`` result
        to show instead of reading the model (the benchmark's). True when the colour scale's
        levels changed (the caller updates the colour bar)."""
        s = model.settings
        rows, width = s.rows, s.window_columns
        view_key = (id(model), view.filter_key, view.scale, rows, width, s.column_ms)
        changed = None
        if not force and image is None and view_key == self.view_key and self.vals is not None:
            changed = model.closed_since(self.stamp, self.seen_column)
            if changed is not None and len(changed) > self.REBUILD_SHARE * width:
                changed = None
        exact = view_key != self.view_key or self.vals is None
        self.live_vals = live
        self.live_column = int(model.watermark // s.column_ms)
        if changed is None:
            self._rebuild(model, view, origin, need, image)
            self.view_key = view_key
            levels_changed = self._update_levels(view.scale, exact)
            if not levels_changed:
                b0, b1 = self.band
                self.colouring.colour(self.vals[b0:b1], out=self.px[b0:b1])
                self.image.invalidate()
        else:
            fresh = None
            if len(changed):
                slots = changed % width
                b0, b1 = self.band
                fresh = (slots, model.band(view.model_exchanges(model), view.tiers, view.long, view.short,
                                           rows=(b0, b1), slots=slots, origin=self.origin, ages=view.ages))
                self.vals[b0:b1, slots] = fresh[1]
                self.seen_column = int(model.grid.last_column)
            levels_changed = self._update_levels(view.scale, False)
            if not levels_changed and fresh is not None:
                b0, b1 = self.band
                self.px[b0:b1, fresh[0]] = self.colouring.colour(fresh[1])
                self.image.update_columns(int(changed[0]), int(changed[-1]) + 1)
        self.stamp = model.window_stamp()
        self._colour_live()
        self._place()
        return levels_changed

    def _rebuild(self, model, view, origin: int, need: tuple[int, int], image: tuple | None) -> None:
        s = model.settings
        rows, width = s.rows, s.window_columns
        if self.vals is None or self.vals.shape != (rows, width):
            self.vals = np.zeros((rows, width), np.float32)
            self.px = np.zeros((rows, width), np.uint32)
            self.image.set_pixels(self.px)
        self.origin = origin
        self.geometry = (s.column_ms / 1000.0, model.bin_width)
        self.seen_column = int(model.grid.last_column)
        self.band = (max(0, min(need[0], rows)), max(0, min(need[1], rows)))
        self.rebuilds += 1
        b0, b1 = self.band
        if b1 <= b0:
            return
        if image is not None:
            img, cols = image[0], image[1]
            k = int(cols[0]) % width             # the slot of the oldest column
            self.vals[b0:b1, k:] = img[b0:b1, : width - k]
            self.vals[b0:b1, :k] = img[b0:b1, width - k:]
            self.seen_column = int(cols[-1])
        else:
            self.vals[b0:b1] = self._read(model, view, (b0, b1))

    def _read(self, model, view, rows: tuple[int, int]) -> np.ndarray:
        return model.band(view.model_exchanges(model), view.tiers, view.long, view.short, rows=rows,
                          origin=self.origin, end_column=self.seen_column, ages=view.ages)

    def extend(self, model, view, need: tuple[int, int]) -> bool:
        """Grow the band to cover the rows ``need`` (a pan or zoom showed rows not read yet):
        read and colour only the rows added, then apply the levels rule to the grown band (the
        levels are set outright when nothing was read before). True when the levels changed."""
        if self.vals is None:
            return False
        rows = self.vals.shape[0]
        n0, n1 = max(0, min(need[0], rows)), max(0, min(need[1], rows))
        b0, b1 = self.band
        if b1 <= b0:
            new = (n0, n1)
            parts = [new] if n1 > n0 else []
        else:
            new = (min(b0, n0), max(b1, n1))
            parts = [p for p in ((new[0], b0), (b1, new[1])) if p[1] > p[0]]
        if not parts:
            return False
        for a, b in parts:
            self.vals[a:b] = self._read(model, view, (a, b))
            self.colouring.colour(self.vals[a:b], out=self.px[a:b])
        self.band = new
        levels_changed = self._update_levels(self.colouring.mode, exact=b1 <= b0)
        self._colour_live()
        self._place()
        return levels_changed

    # -------------------------------------------------------------------------------- colour
    def _update_levels(self, mode: str, exact: bool) -> bool:
        """Compute the levels the band calls for; adopt them when ``exact`` or when they moved
        materially (:func:`levels_moved`), then colour the whole band once. True if adopted."""
        from . import scaling

        b0, b1 = self.band
        live = self.live_vals[b0:b1] if self.live_vals is not None else None
        computed = scaling.display_levels(self.vals[b0:b1], mode, extra=live)
        if not exact and not levels_moved(self.colouring.levels, computed):
            return False
        self.colouring.levels = (float(computed[0]), float(computed[1]))
        if b1 > b0:
            self.colouring.colour(self.vals[b0:b1], out=self.px[b0:b1])
        self.image.invalidate()
        self.recolours += 1
        return True

    def top(self) -> float:
        """The largest dollar value in the band and the live column (0: nothing at all)."""
        from . import scaling

        b0, b1 = self.band
        live = self.live_vals[b0:b1] if self.live_vals is not None else None
        return scaling.data_top(self.vals[b0:b1], live) if self.vals is not None else 0.0

    def _colour_live(self) -> None:
        if self.live_vals is None:
            return
        if self.live_px is None or self.live_px.shape[0] != len(self.live_vals):
            self.live_px = np.zeros((len(self.live_vals), 1), np.uint32)
            self.live_image.set_pixels(self.live_px)
        b0, b1 = self.band
        self.live_px[b0:b1, 0] = self.colouring.colour(self.live_vals[b0:b1])
        self.live_image.update_columns(self.live_column, self.live_column + 1)

    def recolour(self) -> None:
        """Colour the whole band and the live column again (a new lookup table)."""
        b0, b1 = self.band
        if self.vals is not None and b1 > b0:
            self.colouring.colour(self.vals[b0:b1], out=self.px[b0:b1])
        self._colour_live()
        self.image.invalidate()

    def _place(self) -> None:
        col_s, w = self.geometry
        width = self.vals.shape[1]
        self.image.place(self.seen_column - width + 1, self.seen_column, self.band, col_s, w, self.origin)
        self.live_image.stride = width
        self.live_image.place(self.live_column, self.live_column, self.band, col_s, w, self.origin)

    # -------------------------------------------------------------------------------- read-outs
    def columns(self) -> np.ndarray | None:
        """Column numbers of the ring in time order (oldest first)."""
        if self.vals is None:
            return None
        width = self.vals.shape[1]
        return np.arange(self.seen_column - width + 1, self.seen_column + 1)

    def time_order(self, ring: np.ndarray) -> np.ndarray:
        """A ring array (``vals`` or ``px``) in time order, oldest column first (a copy)."""
        k = (self.seen_column + 1) % ring.shape[1]
        return np.concatenate([ring[:, k:], ring[:, :k]], axis=1)
