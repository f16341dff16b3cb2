"""Time-series forecasting with recurrent models: series, scaling and supervised windows.

``load_series`` reads a registered series (``SERIES``: airline-passengers,
daily-min-temperatures, ETTh1) or a CSV file; ``sine_series`` makes a noisy sine; ``Scaler``
normalises columns with train statistics; ``make_windows`` cuts (tau inputs, horizon targets)
pairs.
"""

import importlib

__all__ = [
    "FILLS",
    "SCALERS",
    "SERIES",
    "Scaler",
    "Series",
    "SeriesSpec",
    "YearSplit",
    "load_series",
    "make_windows",
    "sine_series",
]


def __getattr__(name: str):
    # from rnnkit.forecast.data on first use: the command line imports the package's config
    # without numpy
    if name in __all__:
        return getattr(importlib.import_module("rnnkit.forecast.data"), name)
    raise AttributeError(f"module 'rnnkit.forecast' has no attribute {name!r}")
