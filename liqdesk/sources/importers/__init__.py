"""Importers of public exchange data: captures and archives turned into normalized EventBatches.

Formats (``--format``): ``binance-ws``, ``binance-csv``, ``bybit-ws``, ``okx-ws``, or ``auto``
(detected from each file's first lines). Plain, gzip, zstd and zip inputs; the capture wrapper of
the ``*.v3.jsonl.zst`` files is unwrapped for every exchange. See each module's docstring for the
mapping of every stream to events, and :mod:`.report` for what is counted when skipped.

    batches, report = import_files([Path("btcusdt_20240808.gz")])
    print(report.summary())

How it runs: lines are decoded block by block (about 1 MiB compressed at a time); each message is
JSON-decoded (orjson) and its raw field values appended to per-block column lists; at the end of the
block the columns become numpy arrays in one go. At the end, one symbol is kept, duplicates and
invalid rows are dropped (and counted), each kind is sorted by time and cut into batches that are
validated with :func:`liqdesk.core.events.make_batch`. Memory: about 40 bytes per event of every
symbol in the inputs.
"""

from .api import FORMATS, import_bytes, import_files
from .report import Gap, ImportReport

__all__ = ["FORMATS", "Gap", "ImportReport", "import_bytes", "import_files"]
