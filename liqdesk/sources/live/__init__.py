"""Live exchange data through ccxt.pro: one adapter per exchange (``binance.py``, ``bybit.py``,
...) on one written contract (:mod:`.contract`), run by :class:`.source.LiveSource`."""
