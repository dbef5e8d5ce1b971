"""A disk spool of structured rows: append as they come, read back in chunks once at the end.

For tables that are only complete at the end of a run (``liqdesk simulate`` writes the truth
tables only when the run finished, so a stopped run has none) but would otherwise be held in
memory for the whole run: the rows wait in an anonymous temporary file instead, which the system
removes however the process ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class RowSpool:
    """Rows of one numpy structured ``dtype`` in an unnamed temporary file in ``directory``.

    ``append`` writes the rows' raw bytes (no pickling; the dtype is fixed here, not read from
    the file); ``chunks(rows)`` yields them back in the order appended, ``rows`` at a time, so
    memory is one chunk whatever the total. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, dtype: np.dtype, directory: str | Path | None = None):
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._file = tempfile.TemporaryFile(prefix="liqdesk-spool-", dir=directory)

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.rows

    def append(self, rows: np.ndarray) -> None:
        if rows.dtype != self.dtype:
            raise ValueError(f"spool of {self.dtype} rows cannot take {rows.dtype} rows")
        if len(rows):
            self._file.seek(0, 2)
            self._file.write(np.ascontiguousarray(rows).tobytes())
            self.rows += len(rows)

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        """The rows appended so far, ``rows`` at a time (the last chunk may be shorter)."""
        if rows < 1:
            raise ValueError("chunk rows must be >= 1")
        size = self.dtype.itemsize
        for lo in range(0, self.rows, rows):
            count = min(rows, self.rows - lo)
            self._file.seek(lo * size)
            data = self._file.read(count * size)
            if len(data) != count * size:
                raise OSError(f"spool file is short: {len(data)} of {count * size} bytes at row {lo}")
            yield np.frombuffer(data, self.dtype)

    def close(self) -> None:
        self._file.close()
