"""Time series for forecasting: registered CSVs, CSV files, a noisy sine, scaling and windows.

A ``Series`` is a (T, F) float64 array whose column 0 is the target, with its timestamps and a
chronological train/valid/test cut given as row bounds. ``make_windows`` turns rows into
supervised pairs: ``tau`` input rows (all columns) and the next ``horizon`` target values.

Registered series (``SERIES``) are found like every dataset (``rnnkit.registry.datasets.fetch``):
``$RNNKIT_DATA/timeseries/<file>``, else a sha256-checked cache copy, else a download.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rnnkit.bounds import check
from rnnkit.errors import ConfigError, DataError
from rnnkit.io import read_text
from rnnkit.registry.datasets import DataFile, fetch

FILLS = ("ffill", "interpolate", "drop")
SCALERS = ("standard", "robust", "none")
_MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
# ISO-like dates: 1949-01, 1981-01-01, 2016-07-01 00:00[:00[.000]] ('/' also accepted).
_DATE = re.compile(r"\d{4}[-/]\d{2}(?:[-/]\d{2}(?:[ T]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?)?")
_SHOW_LINES = 5

Bounds = tuple[int, int, int]


@dataclass(frozen=True)
class YearSplit:
    """Cut a dated series by calendar year: valid from Jan 1 of ``valid_from``, test from Jan 1
    of ``test_from`` to the end."""

    valid_from: int
    test_from: int

    def __call__(self, times: np.ndarray) -> Bounds:
        if not np.issubdtype(times.dtype, np.datetime64):
            raise DataError(
                "a split by year needs dates in the time column; "
                "give a time column of dates (e.g. 1981-01-01)"
            )
        years = times.astype("datetime64[Y]").astype(np.int64) + 1970
        return (
            int(np.searchsorted(years, self.valid_from)),
            int(np.searchsorted(years, self.test_from)),
            len(times),
        )


@dataclass(frozen=True)
class SeriesSpec:
    """A registered time series.

    Args:
        name: the name users type (``ETTh1``).
        file: the CSV, as a registry ``DataFile``.
        time_col: the time column's header name.
        target: the column to forecast (column 0 of ``Series.values``).
        features: further input columns loaded by default (``()``: univariate).
        period: seasonal period in rows (12 monthly, 365 daily, 24 hourly).
        split: ``(train_end, valid_end, test_end)`` row bounds, or a callable mapping the (T,)
            times to such bounds.
        description: one line about the series.
    """

    name: str
    file: DataFile
    time_col: str
    target: str
    features: tuple[str, ...]
    period: int
    split: Bounds | Callable[[np.ndarray], Bounds]
    description: str

    def bounds(self, times: np.ndarray) -> Bounds:
        """The split bounds for a series with these (T,) times."""
        return self.split(times) if callable(self.split) else tuple(self.split)


_BROWNLEE = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f"
)
_ETT = (
    "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/"
    "1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small"
)

SERIES: dict[str, SeriesSpec] = {
    spec.name: spec
    for spec in (
        SeriesSpec(
            name="airline-passengers",
            file=DataFile(
                "timeseries/airline-passengers.csv",
                "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
                2_180,
                f"{_BROWNLEE}/airline-passengers.csv",
            ),
            time_col="Month",
            target="Passengers",
            features=(),
            period=12,
            # First 96 months train (its last 12 held out as valid), last 48 months test.
            split=(84, 96, 144),
            description="International airline passengers, monthly, 1949-1960 (Box & Jenkins)",
        ),
        SeriesSpec(
            name="daily-min-temperatures",
            file=DataFile(
                "timeseries/daily-min-temperatures.csv",
                "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
                67_921,
                f"{_BROWNLEE}/daily-min-temperatures.csv",
            ),
            time_col="Date",
            target="Temp",
            features=(),
            period=365,
            split=YearSplit(valid_from=1989, test_from=1990),
            description="Daily minimum temperature, Melbourne, 1981-1990 (train to 1988, "
            "valid 1989, test 1990)",
        ),
        SeriesSpec(
            name="ETTh1",
            file=DataFile(
                "timeseries/ETTh1.csv",
                "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                2_589_657,
                f"{_ETT}/ETTh1.csv",
            ),
            time_col="date",
            target="OT",
            features=(),
            period=24,
            # Informer convention: 12/4/4 months of hours; rows 14400+ are unused.
            split=(8640, 11520, 14400),
            description="Electricity transformer oil temperature OT, hourly, 2016-2018; load "
            "features HUFL,HULL,MUFL,MULL,LUFL,LULL",
        ),
    )
}


@dataclass
class Series:
    """A loaded time series.

    Attributes:
        name: registered name, CSV file stem, or ``sine``.
        times: (T,) ``datetime64`` when the time column holds dates, else float64 step numbers.
        values: (T, F) float64; column 0 is the target, then the features.
        columns: the F column names, ``[target, *features]``.
        period: seasonal period in rows, or None when unknown.
        bounds: ``(train_end, valid_end, test_end)``: train rows ``[0, train_end)``, valid
            ``[train_end, valid_end)``, test ``[valid_end, test_end)``.
        time_col: the name of the time column (plots label their x-axis with it).
    """

    name: str
    times: np.ndarray
    values: np.ndarray
    columns: list[str]
    period: int | None
    bounds: Bounds
    time_col: str = "time"


# ---- CSV reading -------------------------------------------------------------------------------
def _names(names: Sequence[str]) -> str:
    """Column names for a message; an empty name, or one holding a line break (a quoted CSV
    header can), is shown as a Python literal so that the message reads as one line."""
    return ", ".join(n if n and n.isprintable() else repr(n) for n in names)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows (padded to the header's width) and their 1-based line numbers.

    Blank lines are skipped; CRLF or LF line ends, quoted fields and a missing final newline are
    all fine.
    """
    text = read_text(path).removeprefix("\ufeff")  # read_text: missing, empty, non-UTF-8
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) > len(header):
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}; fix that row (a stray comma?)"
                )
            # A short row's absent trailing fields count as missing values.
            rows.append(row + [""] * (len(header) - len(row)))
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(
            f"{path}: not a valid CSV at line {reader.line_num} ({e}); fix the file"
        ) from e
    if header is None:
        raise DataError(f"{path} has no header row; give a CSV with a header and data rows")
    if not rows:
        raise DataError(f"{path} has a header but no data rows; give a CSV with data")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: column {name!r} appears twice in the header; rename one")
        seen.add(name)
    return header, rows, lines


def _parse_times(cells: list[str], lines: list[int], col: str, where: str) -> np.ndarray:
    """(T,) datetime64 if every cell is an ISO-like date, float64 if every cell is a number,
    else (a column of labels) the row numbers 0..T-1 as float64."""
    if "" in cells:
        raise DataError(
            f"{where}: time column {col!r} is empty at line {lines[cells.index('')]}; "
            "fill in the time or remove the row"
        )
    dates = [bool(_DATE.fullmatch(c)) for c in cells]
    if all(dates):
        try:
            return np.array([c.replace("/", "-") for c in cells], dtype="datetime64")
        except (ValueError, OverflowError):
            for cell, line in zip(cells, lines, strict=True):
                try:
                    np.datetime64(cell.replace("/", "-"))
                except (ValueError, OverflowError):
                    raise DataError(
                        f"{where}: time column {col!r} has an impossible date {cell!r} at line "
                        f"{line}; fix the date"
                    ) from None
            # Each date parses alone, but no one unit holds them all: numpy overflows putting
            # months and attoseconds (2020-01 beside ...00:00:00.123456789012345) in one array.
            coarse, fine = min(cells, key=len), max(cells, key=len)
            raise DataError(
                f"{where}: time column {col!r} mixes precisions no one time unit holds "
                f"({coarse!r} and {fine!r}); write every time to the same precision"
            ) from None
    numbers = [_number(c) for c in cells]
    if all(x is not None for x in numbers):
        return np.array(numbers, dtype=np.float64)
    if dates[0] or numbers[0] is not None:
        # It looks like times but some cells are not: report the first bad one.
        bad = dates.index(False) if dates[0] else numbers.index(None)
        kind = "a date like 1981-01-01" if dates[0] else "a number"
        raise DataError(
            f"{where}: time column {col!r} has {cells[bad]!r} at line {lines[bad]}, not {kind} "
            "like the rows before it; fix that cell"
        )
    return np.arange(len(cells), dtype=np.float64)


def _number(cell: str) -> float | None:
    try:
        x = float(cell)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _check_order(times: np.ndarray, cells: list[str], lines: list[int], where: str) -> None:
    with np.errstate(over="ignore"):  # 1e308 after -1e308: an infinite step is still a step
        step = np.diff(times)
    zero = np.timedelta64(0) if np.issubdtype(times.dtype, np.datetime64) else 0.0
    bad = np.flatnonzero(~(step > zero))
    if bad.size == 0:
        return
    i = int(bad[0])
    if times[i + 1] == times[i]:
        raise DataError(
            f"{where}: duplicate timestamp {cells[i + 1]!r} at line {lines[i + 1]} (also at line "
            f"{lines[i]}); remove the duplicate row"
        )
    raise DataError(
        f"{where}: timestamps are not increasing at line {lines[i + 1]} ({cells[i + 1]!r} after "
        f"{cells[i]!r}); sort the file by its time column"
    )


def _parse_column(cells: list[str], lines: list[int], col: str, where: str, fill: str | None):
    """(T,) float64 with NaN at missing or non-numeric cells; raises unless ``fill`` is set."""
    try:
        x = np.array(cells, dtype=np.float64)  # fast path: every cell a number
    except ValueError:
        x = np.array([np.nan if (v := _number(c)) is None else v for c in cells])
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size == 0:
        return x
    x[bad] = np.nan
    if fill is not None:
        if bad.size == len(x):
            raise DataError(f"{where}: column {col!r} has no numeric values; choose another column")
        return x
    odd = [i for i in bad if cells[i].strip().lower() not in _MISSING]
    kind = ("missing or " if len(odd) < bad.size else "") + "non-numeric" if odd else "missing"
    at = ", ".join(str(lines[i]) for i in bad[:_SHOW_LINES])
    more = f" and {bad.size - _SHOW_LINES} more" if bad.size > _SHOW_LINES else ""
    example = f" (e.g. {cells[odd[0]]!r} at line {lines[odd[0]]})" if odd else ""
    raise DataError(
        f"{where}: column {col!r} has {bad.size} {kind} value(s) at line(s) {at}{more}{example}; "
        "fix the file or pass --fill ffill|interpolate|drop"
    )


def _fill(values: np.ndarray, how: str) -> np.ndarray:
    """Fill the NaNs of (T, F) ``values`` column by column (``drop`` is done by the caller)."""
    out = values.copy()
    rows = np.arange(len(values))
    for j in range(values.shape[1]):
        good = np.isfinite(values[:, j])
        if good.all():
            continue
        if how == "interpolate":
            # np.interp holds the end values flat beyond the first and last good rows.
            out[:, j] = np.interp(rows, rows[good], values[good, j])
        else:
            last = np.maximum.accumulate(np.where(good, rows, -1))
            last[last < 0] = rows[good][0]  # leading gaps take the first value (back-fill)
            out[:, j] = values[last, j]
    return out


def _select(header: list[str], name: str, what: str, where: str) -> int:
    if name not in header:
        raise DataError(f"{where}: no {what} column {name!r}; the columns are {_names(header)}")
    return header.index(name)


def _read_series(
    path: Path,
    where: str,
    time_col: str | None,
    target: str | None,
    features: Sequence[str],
    fill: str | None,
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Parse a CSV into ((T,) times, (T, F) values, columns, the time column's name)."""
    header, rows, lines = _read_csv(path)
    t_idx = 0 if time_col is None else _select(header, time_col, "time", where)
    time_name = header[t_idx]
    others = [h for h in header if h != time_name]
    if target is None:
        if len(others) != 1:
            raise ConfigError(
                f"{where} has {len(others)} value columns ({_names(others) or 'none'}); "
                "choose the target column (--target)"
            )
        target = others[0]
    columns = [target, *features]
    if time_name in columns:
        raise ConfigError(
            f"{where}: {time_name!r} is the time column; choose value columns from {_names(others)}"
        )
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ConfigError(
            f"{where}: column(s) {_names(dupes)} given twice among the target and features; "
            "list each once"
        )
    idx = [_select(header, c, "value", where) for c in columns]

    cells = {j: [row[j].strip() for row in rows] for j in (t_idx, *idx)}  # column j's cells
    times = _parse_times(cells[t_idx], lines, time_name, where)
    _check_order(times, cells[t_idx], lines, where)
    values = np.stack([_parse_column(cells[j], lines, header[j], where, fill) for j in idx], axis=1)
    missing = ~np.isfinite(values)
    if missing.any():
        if fill == "drop":
            keep = ~missing.any(axis=1)
            if not keep.any():
                raise DataError(
                    f"{where}: every row has a missing value, nothing is left after --fill "
                    "drop; use --fill ffill or interpolate"
                )
            times, values = times[keep], values[keep]
        else:
            values = _fill(values, fill)
    return times, values, columns, time_name


# ---- public loaders ----------------------------------------------------------------------------
def _fraction_bounds(n: int, split: Sequence[float], where: str) -> Bounds:
    try:
        fractions = [float(f) for f in split]
    except (TypeError, ValueError):
        fractions = []
    if len(fractions) not in (2, 3):
        raise ConfigError(
            f"split must be two or three fractions (train, valid[, test]), got {split!r}; "
            "e.g. (0.7, 0.1, 0.2)"
        )
    train, valid = fractions[:2]
    if len(fractions) == 3 and not (
        fractions[2] >= 0 and abs(train + valid + fractions[2] - 1.0) < 1e-6
    ):
        raise ConfigError(
            f"split fractions {', '.join(f'{f:g}' for f in fractions)} must be >= 0 and add up "
            "to 1; e.g. 0.7,0.1,0.2"
        )
    if not (0.0 < train <= 1.0 and valid >= 0.0 and train + valid <= 1.0 + 1e-12):
        raise ConfigError(
            f"split fractions (train={train}, valid={valid}) must satisfy 0 < train, 0 <= valid "
            "and train + valid <= 1; the rest is test"
        )
    train_end = int(n * train)
    valid_end = min(n, int(round(n * (train + valid), 9)))
    if train_end < 1:
        raise DataError(
            f"{where} has {n} rows, too few for a train split of {train:g}; "
            "give a longer series or a larger train fraction"
        )
    return train_end, max(valid_end, train_end), n


def _test_from_bounds(
    times: np.ndarray, test_from: str, split: Sequence[float], where: str
) -> Bounds:
    """Test from the first row at or after ``test_from``; the rows before it cut into train
    and valid in the ratio of the first two ``split`` fractions."""
    first = int(np.searchsorted(times, parse_time(times, test_from, "--test-from", where)))
    if not 0 < first < len(times):
        shown = f"{times[0]} to {times[-1]}"
        raise ConfigError(
            f"--test-from {test_from} leaves no {'train' if first == 0 else 'test'} rows "
            f"({where} runs from {shown}); give a time inside the series"
        )
    train, valid = (float(f) for f in split[:2])
    train_end = max(1, int(round(first * train / (train + valid), 9)))
    return min(train_end, first), first, len(times)


def parse_time(times: np.ndarray, text: str, flag: str, where: str):
    """``text`` as a time of the (T,) ``times``: a ``datetime64`` when they are dates, else a
    float; a ``ConfigError`` naming the option ``flag`` when it is neither."""
    dated = np.issubdtype(times.dtype, np.datetime64)
    try:
        return np.datetime64(str(text).strip()) if dated else float(text)
    except ValueError:
        kind = "a date such as 2018-01-31" if dated else "a number (the time column's units)"
        raise ConfigError(f"{flag} {text!r} is not a time of {where}; give {kind}") from None


def load_series(
    source: str,
    *,
    time_col: str | None = None,
    target: str | None = None,
    features: Sequence[str] = (),
    fill: str | None = None,
    split: Sequence[float] = (0.7, 0.1),
    period: int | None = None,
    test_from: str | None = None,
) -> Series:
    """Load a registered series or a CSV file.

    Args:
        source: a name in ``SERIES`` or the path of a CSV with a header row.
        time_col: the time column; default the spec's for a registered series, else the CSV's
            first column. Dates (1949-01, 1981-01-01, 2016-07-01 00:00:00) give ``datetime64``
            times, numbers give float64 times, anything else the row numbers.
        target: the column to forecast; default the spec's target. A CSV needs it unless it has
            exactly one column besides the time column.
        features: extra input columns; default the spec's (``()`` for every registered series).
        fill: what to do with missing or non-numeric cells: None (raise), ``"ffill"`` (forward
            fill, leading gaps back-filled), ``"interpolate"`` (linear in the row index),
            ``"drop"`` (drop those rows).
        split: (train, valid) fractions for a CSV, cut in time order, the rest is test; or
            (train, valid, test) adding up to 1. A registered series always uses its standard
            split.
        test_from: a CSV's first test time (a date, or a number for numeric times): test runs
            from there to the end, the rows before it are cut in the ratio train : valid.
        period: seasonal period in rows; default the spec's, None for a CSV.

    Returns:
        A ``Series`` with ``values`` of shape (T, 1 + len(features)).

    Raises:
        DataError: unknown name, missing/empty/non-UTF-8 file, unknown columns, gaps without
            ``fill``, unordered or duplicate timestamps. ConfigError: bad ``fill``, ``split``,
            ``period``, or no target for a CSV with several value columns.
    """
    if fill is not None and fill not in FILLS:
        raise ConfigError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    if period is not None:
        check("period", period, integer=True)
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    features = list(features)
    spec = SERIES.get(source)
    if spec is not None:
        path = fetch(spec.file)
        name, where = spec.name, f"series {spec.name!r} ({path})"
        time_col, target = time_col or spec.time_col, target or spec.target
        features, period = features or list(spec.features), period or spec.period
    else:
        path = Path(source).expanduser()
        if not path.exists():
            if path.suffix or "/" in source or "\\" in source:
                raise DataError(
                    f"file not found: {source}; check the path, or use a registered series "
                    f"({', '.join(SERIES)})"
                )
            raise DataError(
                f"unknown series {source!r}: registered series are {', '.join(SERIES)}; "
                "or give the path of a CSV file"
            )
        name, where = path.stem, str(path)
    times, values, columns, time_name = _read_series(path, where, time_col, target, features, fill)
    if spec is not None:
        bounds = tuple(int(x) for x in spec.bounds(times))
        if len(bounds) != 3 or not 0 < bounds[0] <= bounds[1] <= bounds[2] <= len(values):
            raise DataError(
                f"{where}: split bounds {bounds} do not fit its {len(values)} rows (need 0 < "
                "train_end <= valid_end <= test_end <= rows); check the file is complete"
            )
    else:
        bounds = _fraction_bounds(len(values), split, where)  # the fractions must make sense
        if test_from is not None:
            bounds = _test_from_bounds(times, test_from, split, where)
    return Series(name, times, values, columns, period, bounds, time_name)


def sine_series(
    n: int = 1000, noise: float = 0.2, seed: int = 0, split: tuple[int, int] = (600, 800)
) -> Series:
    """``x_t = sin(0.01 t) + N(0, noise^2)`` for ``t = 1..n``.

    Returns:
        A ``Series`` named ``sine`` with times ``1..n`` (float64), values (n, 1), period 628
        (2 pi / 0.01 rounded), and bounds ``(split[0], split[1], n)``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    if not noise >= 0:
        raise ConfigError(f"noise must be >= 0, got {noise!r}")
    train_end, valid_end = (int(s) for s in split)
    if not 0 < train_end <= valid_end <= n:
        raise ConfigError(
            f"split {tuple(split)} must satisfy 0 < train_end <= valid_end <= n = {n}; "
            "lower the split or raise n"
        )
    t = np.arange(1, n + 1, dtype=np.float64)
    x = np.sin(0.01 * t) + np.random.default_rng(seed).normal(0.0, noise, n)
    return Series(
        "sine", t, x[:, None], ["x"], round(2 * math.pi / 0.01), (train_end, valid_end, n)
    )


# ---- scaling -----------------------------------------------------------------------------------
class Scaler:
    """Per-column affine scaling ``(x - center) / scale``, fitted on train rows only.

    Args:
        kind: ``"standard"`` (mean, std), ``"robust"`` (median, interquartile range) or
            ``"none"`` (identity).
    """

    def __init__(self, kind: str = "standard"):
        if kind not in SCALERS:
            raise ConfigError(f"unknown scaler {kind!r}; choose one of {', '.join(SCALERS)}")
        self.kind = kind
        self.center: np.ndarray | None = None  # (F,)
        self.scale: np.ndarray | None = None  # (F,)

    def fit(self, values: np.ndarray) -> Scaler:
        """Per-column statistics of (T, F) ``values``; a constant column gets scale 1."""
        x = _as_2d(values, "Scaler.fit")
        if len(x) == 0:
            raise DataError("Scaler.fit got no rows; fit it on a non-empty train split")
        if not np.isfinite(x).all():
            raise DataError("Scaler.fit got NaN or infinite values; fill the gaps first (--fill)")
        if self.kind == "standard":
            center, scale = x.mean(axis=0), x.std(axis=0)
        elif self.kind == "robust":
            q25, center, q75 = np.percentile(x, [25, 50, 75], axis=0)
            scale = q75 - q25
        else:
            center, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        # Dividing by a zero (or rounding-noise) spread would blow a constant column up.
        flat = ~(scale > 1e-12 * np.maximum(1.0, np.abs(center)))
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = np.where(flat, 1.0, scale).astype(np.float64)
        return self

    def _fitted(self, values, whole_rows: bool = True):
        """``(x, center, scale)``: ``values`` as float64, (..., F) when ``whole_rows``, and the
        fitted statistics."""
        if self.center is None or self.scale is None:
            raise ConfigError("the Scaler is not fitted; call fit(train_values) first")
        x = np.asarray(values, dtype=np.float64)
        if whole_rows and (x.ndim == 0 or x.shape[-1] != len(self.scale)):
            raise DataError(
                f"values of shape {x.shape} do not match the scaler's {len(self.scale)} columns; "
                "give (..., F) arrays with the columns it was fitted on"
            )
        return x, self.center, self.scale

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale (..., F) ``values``; returns float64 of the same shape."""
        x, center, scale = self._fitted(values)
        return (x - center) / scale

    def inverse(self, values: np.ndarray, column: int | None = None) -> np.ndarray:
        """Undo ``transform``.

        Args:
            values: (..., F) scaled values; or, with ``column``, an array of any shape, e.g.
                (N, H) target forecasts, all in the units of that one column.
            column: invert with this column's statistics only (0 is the target).
        """
        x, center, scale = self._fitted(values, whole_rows=column is None)
        if column is None:
            return x * scale + center
        if not -len(scale) <= column < len(scale):
            raise ConfigError(
                f"column {column} is out of range for a scaler of {len(scale)} columns; "
                f"use 0..{len(scale) - 1}"
            )
        return x * scale[column] + center[column]

    def to_dict(self) -> dict:
        """JSON-able state: ``{"kind", "center", "scale"}`` (lists, or None before fit)."""
        return {
            "kind": self.kind,
            "center": None if self.center is None else self.center.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        """Rebuild a scaler saved with ``to_dict``."""
        try:
            scaler = cls(d["kind"])
            center, scale = d.get("center"), d.get("scale")
        except (KeyError, TypeError, AttributeError):
            raise ConfigError(
                f"bad scaler state {d!r}; expected a dict with kind, center and scale"
            ) from None
        if (center is None) != (scale is None):
            raise ConfigError("bad scaler state: center and scale must both be set or both None")
        if center is not None:
            scaler.center = np.asarray(center, dtype=np.float64).reshape(-1)
            scaler.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
            if scaler.center.shape != scaler.scale.shape:
                raise ConfigError(
                    "bad scaler state: center and scale have different lengths; re-fit it"
                )
        return scaler

    def __repr__(self) -> str:
        width = None if self.scale is None else len(self.scale)
        return f"Scaler(kind={self.kind!r}, columns={width})"


def _as_2d(values: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DataError(f"{what} needs a (T, F) array, got shape {x.shape}; reshape it")
    return x


# ---- windows -----------------------------------------------------------------------------------
def make_windows(
    values: np.ndarray, tau: int, horizon: int, start: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Supervised windows whose targets lie in rows ``[start, end)``.

    A window with first target row ``t`` exists when ``start <= t``, ``t + horizon <= end`` and
    ``t - tau >= 0``; its inputs may come from before ``start`` (test windows read the end of
    valid, as in the Informer protocol).

    Args:
        values: (T, F) series (a (T,) array is one column); column 0 is the target.
        tau: input rows per window.
        horizon: target steps per window.
        start, end: the row range the targets must lie in.

    Returns:
        ``X`` (N, tau, F) float32 ``= values[t-tau:t]``, ``Y`` (N, horizon) float32
        ``= values[t:t+horizon, 0]`` and ``T0`` (N,) int64 ``= t``, in time order.

    Raises:
        ConfigError: ``tau`` or ``horizon`` not a positive integer, or bad ``start``/``end``.
        DataError: no window fits.
    """
    check("tau", tau, integer=True)
    check("horizon", horizon, integer=True)
    x = _as_2d(values, "make_windows")
    n = len(x)
    if not 0 <= start <= end <= n:
        raise ConfigError(
            f"row range [{start}, {end}) is not inside the series' {n} rows; "
            f"use 0 <= start <= end <= {n}"
        )
    first, last = max(start, tau), end - horizon  # first and last target row t
    if last < first:
        raise DataError(
            f"no window fits: rows [{start}, {end}) ({end - start} rows, {start} before them) "
            f"cannot hold tau={tau} input rows + horizon={horizon} targets "
            f"(needs {horizon} target rows and {tau} rows before the first); lower tau or horizon"
        )
    inputs = sliding_window_view(x, tau, axis=0)  # (T-tau+1, F, tau): row i covers [i, i+tau)
    targets = sliding_window_view(x[:, 0], horizon)  # (T-horizon+1, horizon)
    X = np.ascontiguousarray(
        inputs[first - tau : last - tau + 1].transpose(0, 2, 1), dtype=np.float32
    )
    Y = np.ascontiguousarray(targets[first : last + 1], dtype=np.float32)
    return X, Y, np.arange(first, last + 1, dtype=np.int64)
