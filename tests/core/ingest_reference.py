"""The level model's ingest as it was before the speed work of issue 13, kept as a reference.

:class:`ReferenceLevelModel` overrides every method the faster ingest rewrote with its earlier
code (unchanged, one small numpy operation after another), so that a test can feed the same
stream to both and require the two models to agree bit for bit. Nothing here is used by the app.
"""

from __future__ import annotations

from liqdesk.core.levels import LevelModel


class ReferenceLevelModel(LevelModel):
    """:class:`LevelModel` with the pre-issue-13 ingest paths."""
