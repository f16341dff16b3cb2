"""Time-series forecasting with recurrent models: series, scaling and supervised windows.

``load_series`` reads a registered series (``SERIES``: airline-passengers,
daily-min-temperatures, ETTh1) or a CSV file; ``sine_series`` makes a noisy sine; ``Scaler``
normalises columns with train statistics; ``make_windows`` cuts (tau inputs, horizon targets)
pairs.
"""

from rnnkit.forecast.data import (
    FILLS,
    SCALERS,
    SERIES,
    Scaler,
    Series,
    SeriesSpec,
    YearSplit,
    load_series,
    make_windows,
    sine_series,
)

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
