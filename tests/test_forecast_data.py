"""Forecast data: CSV loading and its errors, fill modes, the sine series, Scaler, make_windows,
the registered series (real data) and their download path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error as error
from conftest import realdata

from rnnkit.errors import ConfigError, DataError, RnnkitError
from rnnkit.forecast import (
    SERIES,
    Scaler,
    Series,
    load_series,
    make_windows,
    sine_series,
)
from rnnkit.registry import datasets as reg


def write_csv(path: Path, text: str, newline: str = "\n") -> Path:
    """Write ``text`` (lines joined by ``\\n``) with the given line end and no final newline."""
    path.write_bytes(newline.join(text.strip("\n").split("\n")).encode("utf-8"))
    return path


# ---- CSV files: good input ---------------------------------------------------------------------
def test_csv_crlf_quoted_no_trailing_newline(tmp_path):
    rows = "\n".join(f'"2000-{m:02d}",{m * 10}' for m in range(1, 11))
    path = write_csv(tmp_path / "monthly.csv", f'"Month","Count"\n{rows}', newline="\r\n")
    s = load_series(str(path))
    assert isinstance(s, Series)
    assert s.name == "monthly" and s.columns == ["Count"] and s.period is None
    assert s.values.dtype == np.float64 and s.values.shape == (10, 1)
    assert s.values[:, 0].tolist() == [10.0 * m for m in range(1, 11)]
    assert s.times.dtype == np.dtype("datetime64[M]")
    assert s.times[0] == np.datetime64("2000-01") and s.times[-1] == np.datetime64("2000-10")
    assert s.bounds == (7, 8, 10)  # default split (0.7, 0.1), the rest test


def test_csv_features_split_period_and_hourly_dates(tmp_path):
    lines = ["date,load,temp,other"]
    lines += [f"2016-07-01 {h:02d}:00:00,{h},{100 + h},{-h}" for h in range(20)]
    path = write_csv(tmp_path / "hourly.csv", "\n".join(lines) + "\n")
    s = load_series(str(path), target="temp", features=["load"], split=(0.5, 0.25), period=24)
    assert s.columns == ["temp", "load"] and s.period == 24
    assert s.values.shape == (20, 2)
    assert s.values[3].tolist() == [103.0, 3.0]
    assert s.times.dtype == np.dtype("datetime64[s]")
    assert s.times[1] - s.times[0] == np.timedelta64(1, "h")
    assert s.bounds == (10, 15, 20)


def test_csv_time_column_numbers_labels_and_bom(tmp_path):
    numeric = write_csv(tmp_path / "num.csv", "step,x\n0.5,1\n1.5,2\n2.5,3")
    s = load_series(str(numeric))
    assert s.times.dtype == np.float64 and s.times.tolist() == [0.5, 1.5, 2.5]

    labels = write_csv(tmp_path / "lab.csv", "\ufeffq,x\nQ1,1\nQ2,2\nQ3,3\nQ4,4")
    s = load_series(str(labels), split=(0.5, 0.25))
    assert s.times.tolist() == [0.0, 1.0, 2.0, 3.0]  # labels become step numbers
    assert s.bounds == (2, 3, 4)

    chosen = write_csv(tmp_path / "cols.csv", "x,when\n5,2001-01-01\n6,2001-01-02")
    s = load_series(str(chosen), time_col="when", split=(0.5, 0.5))
    assert s.columns == ["x"] and s.times[1] == np.datetime64("2001-01-02")


def test_csv_blank_lines_are_skipped(tmp_path):
    path = write_csv(tmp_path / "b.csv", "t,x\n1,1\n\n2,2\n3,3\n\n")
    assert load_series(str(path)).values[:, 0].tolist() == [1.0, 2.0, 3.0]


# ---- CSV files: bad input ----------------------------------------------------------------------
def test_missing_values_name_column_lines_and_fill(tmp_path):
    path = write_csv(tmp_path / "g.csv", "t,a,b\n1,1,1\n2,,2\n3,3,3\n4,NA,4")
    msg = error(DataError, load_series, str(path), target="a")
    assert "column 'a'" in msg and "3, 5" in msg and "missing" in msg
    assert "--fill ffill|interpolate|drop" in msg
    # An unused column with gaps does not matter.
    path2 = write_csv(tmp_path / "g2.csv", "t,a,b\n1,1,\n2,2,\n3,3,3")
    assert load_series(str(path2), target="a", split=(0.5, 0.2)).values[:, 0].tolist() == [1, 2, 3]


def test_non_numeric_cells_are_reported(tmp_path):
    path = write_csv(tmp_path / "n.csv", "t,x\n1,1.5\n2,abc\n3,2\n4,")
    msg = error(DataError, load_series, str(path))
    assert "'x'" in msg and "non-numeric" in msg and "'abc'" in msg
    assert "3, 5" in msg and "--fill" in msg


def test_many_bad_rows_show_the_first_few(tmp_path):
    body = "\n".join(f"{i},{'' if i % 2 else i}" for i in range(1, 31))
    path = write_csv(tmp_path / "m.csv", f"t,x\n{body}")
    msg = error(DataError, load_series, str(path))
    assert "2, 4, 6, 8, 10 and 10 more" in msg  # t odd -> empty, on file lines 2, 4, ...


def test_fill_ffill_backfills_leading_gaps(tmp_path):
    path = write_csv(tmp_path / "f.csv", "t,a,b\n1,,10\n2,2,\n3,,x\n4,4,40\n5,5,")
    s = load_series(str(path), target="a", features=["b"], fill="ffill")
    assert s.values[:, 0].tolist() == [2, 2, 2, 4, 5]
    assert s.values[:, 1].tolist() == [10, 10, 10, 40, 40]
    assert s.times.tolist() == [1, 2, 3, 4, 5]


def test_fill_interpolate_is_linear_in_row_index(tmp_path):
    path = write_csv(tmp_path / "i.csv", "t,a\n1,\n2,2\n3,\n4,\n5,8\n6,")
    s = load_series(str(path), fill="interpolate")
    np.testing.assert_allclose(s.values[:, 0], [2, 2, 4, 6, 8, 8])  # ends held flat


def test_fill_drop_removes_rows_and_times(tmp_path):
    path = write_csv(tmp_path / "d.csv", "t,a,b\n1,1,1\n2,,2\n3,3,3\n4,4,x\n5,5,5\n6,6,6")
    s = load_series(str(path), target="a", features=["b"], fill="drop", split=(0.5, 0.25))
    assert s.times.tolist() == [1, 3, 5, 6]
    assert s.values.tolist() == [[1, 1], [3, 3], [5, 5], [6, 6]]
    assert s.bounds == (2, 3, 4)  # fractions of the rows that are left


def test_fill_errors(tmp_path):
    path = write_csv(tmp_path / "e.csv", "t,a,b\n1,,1\n2,,2")
    assert "ffill" in error(ConfigError, load_series, str(path), target="b", fill="mean")
    assert "no numeric values" in error(DataError, load_series, str(path), target="a", fill="ffill")
    crossed = write_csv(tmp_path / "x.csv", "t,a,b\n1,,1\n2,2,")
    msg = error(DataError, load_series, str(crossed), target="a", features=["b"], fill="drop")
    assert "nothing is left" in msg


def test_unknown_columns_list_the_real_ones(tmp_path):
    path = write_csv(tmp_path / "u.csv", "date,HUFL,OT\n2020-01-01,1,2\n2020-01-02,3,4")
    for kwargs in ({"target": "ot"}, {"target": "OT", "features": ["HULL"]}, {"time_col": "t"}):
        msg = error(DataError, load_series, str(path), **{"target": "OT", **kwargs})
        assert "date, HUFL, OT" in msg
    msg = error(ConfigError, load_series, str(path))
    assert "HUFL, OT" in msg and "target" in msg  # two value columns: the target is required
    assert "time column" in error(ConfigError, load_series, str(path), target="date")
    assert "twice" in error(ConfigError, load_series, str(path), target="OT", features=["OT"])


def test_duplicate_and_backward_timestamps_name_the_row(tmp_path):
    dup = write_csv(tmp_path / "dup.csv", '"d",x\n"2020-01-01",1\n"2020-01-02",2\n"2020-01-02",3')
    msg = error(DataError, load_series, str(dup))
    assert "duplicate" in msg and "'2020-01-02'" in msg and "line 4" in msg

    back = write_csv(tmp_path / "back.csv", "t,x\n1,1\n2,2\n5,3\n4,4")
    msg = error(DataError, load_series, str(back))
    assert "line 5" in msg and "sort" in msg


def test_bad_time_cells(tmp_path):
    empty = write_csv(tmp_path / "te.csv", "t,x\n1,1\n,2")
    assert "line 3" in error(DataError, load_series, str(empty))
    mixed = write_csv(tmp_path / "tm.csv", "t,x\n2020-01-01,1\n2020-01-02,2\nlater,3")
    msg = error(DataError, load_series, str(mixed))
    assert "'later'" in msg and "line 4" in msg
    impossible = write_csv(tmp_path / "ti.csv", "t,x\n2020-01-31,1\n2020-02-31,2")
    assert "line 3" in error(DataError, load_series, str(impossible))


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in error(DataError, load_series, str(empty))
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\r\n\r\n")
    assert "empty" in error(DataError, load_series, str(blank))
    header = write_csv(tmp_path / "header.csv", "t,x\n")
    assert "no data rows" in error(DataError, load_series, str(header))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("t,température\n1,2\n".encode("latin-1"))
    assert "UTF-8" in error(DataError, load_series, str(latin))
    assert "not found" in error(DataError, load_series, str(tmp_path / "missing.csv"))
    msg = error(DataError, load_series, "no-such-series")
    assert "airline-passengers" in msg and "ETTh1" in msg
    wide = write_csv(tmp_path / "wide.csv", "t,x\n1,2\n2,3,4")
    assert "line 3" in error(DataError, load_series, str(wide))
    twice = write_csv(tmp_path / "twice.csv", "t,x,x\n1,2,3")
    assert "twice" in error(DataError, load_series, str(twice), target="x")


def test_bad_settings(tmp_path):
    path = write_csv(tmp_path / "s.csv", "t,x\n" + "\n".join(f"{i},{i}" for i in range(10)))
    for split in ((0.0, 0.1), (0.8, 0.3), (0.5, -0.1), ("a", 0.1), (0.5,)):
        assert "split" in error(ConfigError, load_series, str(path), split=split)
    for period in (0, -3, 2.5):
        assert "period" in error(ConfigError, load_series, str(path), period=period)
    assert load_series(str(path), split=(0.9, 0.1)).bounds == (9, 10, 10)  # empty test is fine
    short = write_csv(tmp_path / "one.csv", "t,x\n1,1")
    assert "too few" in error(DataError, load_series, str(short))


# ---- sine --------------------------------------------------------------------------------------
def test_sine_series():
    s = sine_series()
    assert s.name == "sine" and s.columns == ["x"]
    assert s.values.shape == (1000, 1) and s.values.dtype == np.float64
    assert s.times.dtype == np.float64 and s.times[0] == 1.0 and s.times[-1] == 1000.0
    assert s.bounds == (600, 800, 1000)
    assert s.period == 628  # 2 pi / 0.01
    np.testing.assert_array_equal(s.values, sine_series().values)
    assert not np.array_equal(s.values, sine_series(seed=1).values)
    residual = s.values[:, 0] - np.sin(0.01 * s.times)
    assert abs(residual.mean()) < 0.03 and abs(residual.std() - 0.2) < 0.02
    assert abs(sine_series(n=6283).values.mean()) < 0.02  # ten whole periods
    clean = sine_series(n=50, noise=0.0, split=(30, 40))
    np.testing.assert_allclose(clean.values[:, 0], np.sin(0.01 * np.arange(1, 51)))
    assert clean.bounds == (30, 40, 50)


def test_sine_series_bad_settings():
    assert "split" in error(ConfigError, sine_series, n=100)  # default split (600, 800) > n
    assert "n must" in error(ConfigError, sine_series, n=0)
    assert "noise" in error(ConfigError, sine_series, noise=-1.0)


# ---- Scaler ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["standard", "robust", "none"])
def test_scaler_round_trip(kind):
    rng = np.random.default_rng(0)
    values = rng.normal([5.0, -3.0, 100.0], [2.0, 0.5, 30.0], size=(200, 3))
    train = values[:150]
    scaler = Scaler(kind).fit(train)
    scaled = scaler.transform(values)
    assert scaled.shape == values.shape
    np.testing.assert_allclose(scaler.inverse(scaled), values, rtol=1e-12, atol=1e-9)
    if kind == "standard":
        np.testing.assert_allclose(scaled[:150].mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(scaled[:150].std(axis=0), 1.0, rtol=1e-12)
    elif kind == "robust":
        q25, q50, q75 = np.percentile(scaled[:150], [25, 50, 75], axis=0)
        np.testing.assert_allclose(q50, 0.0, atol=1e-12)
        np.testing.assert_allclose(q75 - q25, 1.0, rtol=1e-12)
    else:
        np.testing.assert_array_equal(scaled, values)
    # column=0 inverts (N, H) target forecasts with the target's statistics only.
    horizon = scaled[:20, 0].reshape(5, 4)
    np.testing.assert_allclose(
        scaler.inverse(horizon, column=0), values[:20, 0].reshape(5, 4), atol=1e-9
    )
    # JSON round trip.
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.kind == kind
    np.testing.assert_array_equal(again.transform(values), scaled)


def test_scaler_constant_column_and_errors():
    values = np.column_stack([np.arange(10.0), np.full(10, 7.0)])
    for kind in ("standard", "robust"):
        scaler = Scaler(kind).fit(values)
        assert scaler.scale[1] == 1.0
        np.testing.assert_allclose(scaler.transform(values)[:, 1], 0.0)
    assert "choose one of" in error(ConfigError, Scaler, "minmax")
    assert "fit" in error(ConfigError, Scaler().transform, values)
    scaler = Scaler().fit(values)
    assert "2 columns" in error(DataError, scaler.transform, np.zeros((3, 3)))
    assert "out of range" in error(ConfigError, scaler.inverse, np.zeros(3), column=2)
    assert "no rows" in error(DataError, Scaler().fit, np.zeros((0, 2)))
    assert "NaN" in error(DataError, Scaler().fit, np.array([[1.0], [np.nan]]))
    assert Scaler.from_dict(Scaler("robust").to_dict()).center is None
    assert "kind" in error(ConfigError, Scaler.from_dict, {"center": [0.0]})


# ---- make_windows ------------------------------------------------------------------------------
def _series(T: int = 12) -> np.ndarray:
    """(T, 2): column 0 is 0..T-1, column 1 is 100 + 0..T-1."""
    return np.column_stack([np.arange(T), 100 + np.arange(T)]).astype(np.float64)


def test_make_windows_shapes_and_contents():
    values = _series(12)
    X, Y, T0 = make_windows(values, tau=3, horizon=2, start=0, end=12)
    assert X.shape == (8, 3, 2) and Y.shape == (8, 2) and T0.shape == (8,)
    assert X.dtype == np.float32 and Y.dtype == np.float32
    assert T0.tolist() == list(range(3, 11))  # t >= tau and t + horizon <= end
    np.testing.assert_array_equal(X[0], [[0, 100], [1, 101], [2, 102]])
    np.testing.assert_array_equal(Y[0], [3, 4])
    np.testing.assert_array_equal(X[-1, :, 0], [7, 8, 9])
    np.testing.assert_array_equal(Y[-1], [10, 11])
    assert X.flags.c_contiguous and Y.flags.c_contiguous
    X1, Y1, _ = make_windows(np.arange(6.0), 2, 1, 0, 6)  # a (T,) array is one column
    assert X1.shape == (4, 2, 1) and Y1[:, 0].tolist() == [2, 3, 4, 5]


def test_make_windows_inputs_reach_before_start():
    values = _series(12)
    X, Y, T0 = make_windows(values, tau=4, horizon=2, start=8, end=12)
    assert T0.tolist() == [8, 9, 10]
    np.testing.assert_array_equal(X[0, :, 0], [4, 5, 6, 7])  # all before start
    np.testing.assert_array_equal(Y[0], [8, 9])
    np.testing.assert_array_equal(Y[-1], [10, 11])


def test_make_windows_matches_a_loop():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 3))
    for tau, horizon, start, end in [(1, 1, 0, 40), (5, 3, 10, 30), (7, 7, 0, 20), (2, 9, 30, 40)]:
        X, Y, T0 = make_windows(values, tau, horizon, start, end)
        ts = [t for t in range(start, end) if t - tau >= 0 and t + horizon <= end]
        assert T0.tolist() == ts
        np.testing.assert_array_equal(X, np.stack([values[t - tau : t] for t in ts]).astype("f4"))
        np.testing.assert_array_equal(
            Y, np.stack([values[t : t + horizon, 0] for t in ts]).astype("f4")
        )


def test_make_windows_errors():
    values = _series(10)
    for tau, horizon in ((0, 1), (-1, 1), (2, 0), (2, -3), (1.5, 1), (True, 1)):
        msg = error(ConfigError, make_windows, values, tau, horizon, 0, 10)
        bad = "horizon" if tau == 2 else "tau"
        assert msg.startswith(f"{bad} must be ") and msg.endswith(
            f"got {tau if tau != 2 else horizon}"
        )
    msg = error(DataError, make_windows, values, 8, 3, 0, 10)
    assert "tau=8" in msg and "horizon=3" in msg and "[0, 10)" in msg
    assert "lower tau or horizon" in msg
    msg = error(DataError, make_windows, values, 2, 3, 8, 10)  # the range holds 2 < 3 targets
    assert "2 rows" in msg and "lower tau or horizon" in msg
    assert "rows" in error(ConfigError, make_windows, values, 2, 1, 0, 11)
    assert "rows" in error(ConfigError, make_windows, values, 2, 1, 5, 4)
    assert make_windows(values, 2, 1, 9, 10)[2].tolist() == [9]  # exactly one window


# ---- registered series -------------------------------------------------------------------------
def test_registry_specs():
    assert set(SERIES) == {"airline-passengers", "daily-min-temperatures", "ETTh1"}
    assert {n: s.period for n, s in SERIES.items()} == {
        "airline-passengers": 12,
        "daily-min-temperatures": 365,
        "ETTh1": 24,
    }
    for spec in SERIES.values():
        assert spec.features == ()
        assert spec.file.path.startswith("timeseries/")
        assert spec.file.url.startswith("https://raw.githubusercontent.com/")
        assert spec.file.url.endswith(Path(spec.file.path).name)
    assert "d20fcb6402ae34e653d4513b00f39257bb37ed7f" in SERIES["airline-passengers"].file.url
    assert "1d16c8f4f943005d613b5bc962e9eeb06058cf07" in SERIES["ETTh1"].file.url


@realdata
def test_shared_files_match_the_registry():
    root = Path(os.environ["RNNKIT_DATA"])
    for spec in SERIES.values():
        path = root / spec.file.path
        assert path.stat().st_size == spec.file.size
        assert reg.sha256_file(path) == spec.file.sha256


@realdata
def test_real_etth1():
    s = load_series("ETTh1")
    assert s.bounds == (8640, 11520, 14400)
    assert s.values.shape == (17420, 1) and s.columns == ["OT"] and s.period == 24
    assert s.times[0] == np.datetime64("2016-07-01T00:00:00")
    assert s.times[-1] == np.datetime64("2018-06-26T19:00:00")
    loads = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]
    m = load_series("ETTh1", features=loads)
    assert m.columns == ["OT", *loads] and m.values.shape == (17420, 7)
    np.testing.assert_allclose(m.values[0, :2], [30.531000137329, 5.827000141143799])
    assert np.isfinite(m.values).all()


@realdata
def test_real_airline():
    s = load_series("airline-passengers")
    assert s.bounds == (84, 96, 144) and s.period == 12
    assert s.values.shape == (144, 1) and s.values[0, 0] == 112 and s.values[-1, 0] == 432
    assert s.times.dtype == np.dtype("datetime64[M]")
    assert s.times[0] == np.datetime64("1949-01") and s.times[-1] == np.datetime64("1960-12")
    assert s.times[96] == np.datetime64("1957-01")  # test = the last 4 years


@realdata
def test_real_temperatures():
    s = load_series("daily-min-temperatures")
    train_end, valid_end, test_end = s.bounds
    assert test_end == 3650 and s.values.shape == (3650, 1) and s.period == 365
    assert s.times.dtype == np.dtype("datetime64[D]")
    assert s.times[train_end] == np.datetime64("1989-01-01")
    # The file leaves out Dec 31 of leap years (and keeps Feb 29): 10 x 365 rows.
    assert s.times[train_end - 1] == np.datetime64("1988-12-30")
    assert s.times[valid_end] == np.datetime64("1990-01-01")
    assert s.times[-1] == np.datetime64("1990-12-31")
    assert (train_end, valid_end) == (2920, 3285)
    assert s.values[-1, 0] == 13.0


@realdata
def test_real_series_windows():
    s = load_series("ETTh1")
    scaler = Scaler().fit(s.values[: s.bounds[0]])
    X, Y, T0 = make_windows(scaler.transform(s.values), 96, 24, s.bounds[1], s.bounds[2])
    assert X.shape == (2880 - 24 + 1, 96, 1) and T0[0] == 11520  # inputs from the end of valid


# ---- download of a registered series -----------------------------------------------------------


def _serve(monkeypatch, server, name: str, content: bytes) -> reg.DataFile:
    """Point the registered series ``name`` at ``content`` served by ``server``."""
    base, www, _ = server
    spec = SERIES[name]
    file_name = Path(spec.file.path).name
    (www / file_name).write_bytes(content)
    file = dataclasses.replace(
        spec.file,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        url=f"{base}/{file_name}",
    )
    monkeypatch.setitem(SERIES, name, dataclasses.replace(spec, file=file))
    return file


def test_registered_series_downloads_into_the_cache(monkeypatch, server, no_data):
    rows = [f'"{1949 + i // 12}-{i % 12 + 1:02d}",{100 + i}' for i in range(144)]
    content = "\r\n".join(['"Month","Passengers"', *rows]).encode()
    file = _serve(monkeypatch, server, "airline-passengers", content)
    s = load_series("airline-passengers")
    assert s.bounds == (84, 96, 144) and s.values[-1, 0] == 243
    assert s.times[-1] == np.datetime64("1960-12")
    cached = no_data / "datasets" / "timeseries" / "airline-passengers.csv"
    assert cached.read_bytes() == content and reg.locate(file) == reg.LOC_CACHE
    hits = server[2]
    assert hits == ["/airline-passengers.csv"]
    load_series("airline-passengers")
    assert hits == ["/airline-passengers.csv"], "the second load must use the cache"


def test_download_with_a_wrong_hash_fails(monkeypatch, server, no_data):
    file = _serve(monkeypatch, server, "airline-passengers", b'"Month","Passengers"\r\n"1949-01",1')
    bad = dataclasses.replace(file, sha256="0" * 64)
    spec = dataclasses.replace(SERIES["airline-passengers"], file=bad)
    monkeypatch.setitem(SERIES, "airline-passengers", spec)
    with pytest.raises(RnnkitError, match="sha256 mismatch"):
        load_series("airline-passengers")
    assert not (no_data / "datasets" / "timeseries" / "airline-passengers.csv").exists()


@realdata
def test_real_file_downloads_with_the_registered_hash(monkeypatch, server, tmp_path):
    spec = SERIES["daily-min-temperatures"]
    real = Path(os.environ["RNNKIT_DATA"]) / spec.file.path
    monkeypatch.delenv("RNNKIT_DATA")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    file = _serve(monkeypatch, server, spec.name, real.read_bytes())
    assert (file.sha256, file.size) == (spec.file.sha256, spec.file.size)
    s = load_series(spec.name)
    assert s.bounds == (2920, 3285, 3650)
    assert server[2] == ["/daily-min-temperatures.csv"]
