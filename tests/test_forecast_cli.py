"""`rnnkit forecast train|eval|predict|plot|demo` and their bad-input errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import call_cli, realdata, write_csv


def test_train_reports_metrics_next_to_the_baselines(forecast_run):
    _, out, stdout = forecast_run
    assert (out / "run.json").exists() and (out / "model.safetensors").exists()
    for name in ("mlp (direct, nlinear skip)", "naive", "seasonal-naive", "linear", "nlinear"):
        assert name in stdout
    assert "test:" in stdout and "valid:" in stdout


def test_eval_json_has_every_metric(forecast_run):
    _, out, _ = forecast_run
    code, stdout, _ = call_cli(["forecast", "eval", out, "--json"])
    assert code == 0
    result = json.loads(stdout)
    model = result["models"]["mlp (direct, nlinear skip)"]
    assert set(model) >= {"mse", "mae", "mae_original", "rmse", "smape", "mase", "mse_per_step"}
    assert len(model["mse_per_step"]) == 7
    # on a clean seasonal series the network and the linear AR beat the naive forecast
    assert model["mse"] < result["models"]["naive"]["mse"]


def test_predict_writes_future_rows_on_the_original_scale(forecast_run, tmp_path):
    data, out, _ = forecast_run
    dest = tmp_path / "f.csv"
    code, _, stderr = call_cli(["forecast", "predict", out, "--horizon", "7", "--out", dest])
    assert code == 0, stderr
    rows = list(csv.reader(dest.open()))
    assert rows[0] == ["step", "time", "forecast_sales"] and len(rows) == 8
    assert rows[1][1] == "2020-10-27"  # the day after the last row (2020-10-26)
    values = [float(r[2]) for r in rows[1:]]
    assert all(14 < v < 18 for v in values)  # near the end of the trend, not the scaled values
    other = write_csv(tmp_path / "other.csv", n=100, seed=3)
    code, stdout, stderr = call_cli(["forecast", "predict", out, "--horizon", "3", "--csv", other])
    assert code == 0, stderr
    assert len(stdout.strip().splitlines()) == 4
    code, _, stderr = call_cli(["forecast", "predict", out, "--horizon", "9"])
    assert code == 2 and "at most" in stderr


def test_plot_writes_a_png(forecast_run, tmp_path):
    _, out, _ = forecast_run
    png = tmp_path / "p.png"
    code, _, stderr = call_cli(["forecast", "plot", out, "--out", png])
    assert code == 0, stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recursive_lstm_on_the_sine_series_and_residual_mode(tmp_path):
    for extra in ([], ["--residual", "--skip", "none"]):
        out = tmp_path / f"sine{len(extra)}"
        args = ["forecast", "train", "--data", "sine", "--model", "lstm", "--strategy", "recursive"]
        args += [
            "--tau",
            "8",
            "--horizon",
            "5",
            "--hidden-size",
            "8",
            "--epochs",
            "2",
            "--out",
            out,
        ]
        code, stdout, stderr = call_cli([*args, *extra])
        assert code == 0, stderr
        assert "lstm (recursive" in stdout
        code, stdout, _ = call_cli(["forecast", "predict", out, "--horizon", "20"])
        assert code == 0 and len(stdout.strip().splitlines()) == 21


def test_demo_writes_both_plots_and_the_json(tmp_path):
    code, stdout, stderr = call_cli(["forecast", "demo", "--out", tmp_path / "demo"])
    assert code == 0, stderr
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"one-step-vs-recursive.png", "k-step.png", "results.json"} <= names
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    mse = results["k_step_mse"]
    assert results["train_pairs"] == 600
    assert mse["1"] < mse["16"] < mse["64"]  # errors accumulate with k
    assert results["one_step_mse"]["after_train"] < results["recursive_mse_after_train"]


@pytest.mark.parametrize(
    "build,extra,message",
    [
        (lambda p: write_csv(p, gaps=(5, 6, 40)), [], "--fill"),
        (lambda p: write_csv(p), ["--target", "revenue"], "sales"),
        (lambda p: write_csv(p), ["--horizon", "0"], "--horizon must be > 0"),
        (lambda p: write_csv(p, n=30), ["--tau", "28", "--horizon", "7"], "lower"),
        (lambda p: write_csv(p, unsorted_at=50), [], "line"),
        (lambda p: write_csv(p), ["--features", "temp", "--strategy", "recursive"], "future"),
        (lambda p: write_csv(p), ["--strategy", "one-step", "--horizon", "3"], "horizon 1"),
    ],
    ids=[
        "missing",
        "unknown-column",
        "horizon-0",
        "too-short",
        "unsorted",
        "recursive-features",
        "one-step-horizon",
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, build, extra, message):
    data = build(tmp_path / "s.csv")
    args = ["forecast", "train", "--csv", data, "--model", "linear", "--out", tmp_path / "r"]
    if "--target" not in extra:
        args += ["--target", "sales"]
    code, _, stderr = call_cli([*args, *extra])
    assert code == 2, stderr
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert message in stderr


def test_missing_values_can_be_filled(tmp_path):
    data = write_csv(tmp_path / "s.csv", gaps=(5, 6, 40))
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--model", "linear"]
    code, _, stderr = call_cli([*args, "--fill", "interpolate", "--out", tmp_path / "r"])
    assert code == 0, stderr


def test_eval_of_a_missing_run_is_refused(tmp_path):
    code, _, stderr = call_cli(["forecast", "eval", tmp_path / "nothing"])
    assert code == 2 and "run directory not found" in stderr and "forecasting run" in stderr


def test_default_network_starts_at_the_nlinear_fit_and_keeps_it_unless_valid_improves(
    forecast_run,
):
    _, out, _ = forecast_run
    history = json.loads((out / "run.json").read_text())["history"]
    assert history["epochs"][0]["step"] == 0  # scored before the first step
    code, stdout, _ = call_cli(["forecast", "eval", out, "--split", "valid", "--json"])
    models = json.loads(stdout)["models"]
    assert models["mlp (direct, nlinear skip)"]["mse"] <= models["nlinear"]["mse"] * (1 + 1e-5)


def test_a_skip_run_resumes_and_the_closed_form_linear_models_train(forecast_run, tmp_path):
    import shutil

    data, out, _ = forecast_run
    copy = shutil.copytree(out, tmp_path / "copy")
    before = json.loads((copy / "run.json").read_text())["history"]["steps"]
    code, stdout, stderr = call_cli(["forecast", "train", "--resume", copy, "--epochs", "31"])
    assert code == 0, stderr
    assert json.loads((copy / "run.json").read_text())["history"]["steps"] > before
    assert "mlp (direct, nlinear skip)" in stdout
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--tau", "14"]
    for model in ("nlinear", "dlinear"):
        code, stdout, stderr = call_cli([*args, "--model", model, "--out", tmp_path / model])
        assert code == 0, stderr
        result = json.loads(call_cli(["forecast", "eval", tmp_path / model, "--json"])[1])
        assert {"linear", "nlinear", "dlinear"} <= set(result["models"])
        code, stdout, _ = call_cli(["forecast", "predict", tmp_path / model, "--horizon", "1"])
        assert code == 0 and len(stdout.strip().splitlines()) == 2


def _bounds(run_dir):
    return json.loads((run_dir / "run.json").read_text())["fitted"]["bounds"]


def test_split_and_test_from_cut_a_csv(tmp_path):
    data = write_csv(tmp_path / "s.csv")  # 300 days from 2020-01-01
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--model", "linear"]
    code, stdout, stderr = call_cli([*args, "--split", "0.6,0.2,0.2", "--out", tmp_path / "a"])
    assert code == 0, stderr
    assert _bounds(tmp_path / "a") == [180, 240, 300] and "test: " in stdout
    code, _, stderr = call_cli([*args, "--test-from", "2020-09-01", "--out", tmp_path / "b"])
    assert code == 0, stderr
    # test from row 244 (Sept 1st of a leap year); the 244 rows before cut 7 : 1
    assert _bounds(tmp_path / "b") == [213, 244, 300]
    code, _, stderr = call_cli(["forecast", "eval", tmp_path / "b", "--json"])
    assert code == 0, stderr  # the run reloads with its own cut
    code, help_text, _ = call_cli(["forecast", "train", "--help"])
    for flag in ("--split", "--test-from", "--skip", "--period"):
        assert f"\n  {flag} " in help_text


def test_seasonal_naive_is_reported_whenever_a_period_is_given(tmp_path):
    data = write_csv(tmp_path / "s.csv")
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--model", "linear"]
    code, short, stderr = call_cli([*args, "--tau", "3", "--period", "7", "--out", tmp_path / "a"])
    assert code == 0, stderr
    assert "note: seasonal naive reads the series 7 rows back" in short
    assert "seasonal naive (lag 7)" in short and "\nseasonal-naive " in short
    code, long, stderr = call_cli([*args, "--tau", "14", "--period", "7", "--out", tmp_path / "b"])
    assert code == 0, stderr
    assert "note:" not in long
    # the same test targets, the same seasonal-naive forecasts, whatever the window
    results = [json.loads(call_cli(["forecast", "eval", tmp_path / r, "--json"])[1]) for r in "ab"]
    assert results[0]["windows"] == results[1]["windows"] and results[0]["mase_lag"] == 7
    sn = [r["models"]["seasonal-naive"] for r in results]
    assert sn[0]["mse"] == pytest.approx(sn[1]["mse"]) and sn[0]["mase"] == pytest.approx(
        sn[1]["mase"]
    )
    code, plain, _ = call_cli([*args, "--tau", "3", "--out", tmp_path / "c"])
    assert code == 0 and "naive (lag 1)" in plain and "seasonal-naive" not in plain


def test_plots_put_the_date_column_on_the_x_axis(forecast_run):
    from rnnkit.forecast.pipeline import ForecastRun
    from rnnkit.forecast.plots import figure, plot_range

    _, out, _ = forecast_run
    run = ForecastRun.load(out)
    ax = figure(run, "test", plot_range(run, "test")).axes[0]
    assert ax.get_xlabel() == "day"  # the CSV's time column
    x = ax.get_lines()[0].get_xdata()
    assert np.issubdtype(np.asarray(x).dtype, np.datetime64)
    assert str(x[-1]) == "2020-10-26"


@realdata
def test_etth1_lstm_beats_nothing_silly_and_registered_series_load(tmp_path):
    out = tmp_path / "etth1"
    args = ["forecast", "train", "--data", "ETTh1", "--model", "lstm", "--tau", "48"]
    args += ["--horizon", "24", "--hidden-size", "16", "--max-steps", "40", "--residual"]
    args += ["--skip", "none"]
    code, stdout, stderr = call_cli([*args, "--out", out])
    assert code == 0, stderr
    result = json.loads(call_cli(["forecast", "eval", out, "--json"])[1])
    assert result["windows"] == 2880 - 24 + 1  # every test target window, inputs from valid
    mse = {name: row["mse"] for name, row in result["models"].items()}
    # 40 steps of a residual LSTM come close to the naive forecast (0.036 against 0.034 here);
    # a broken model (a constant, a shifted series) is several times worse.
    assert mse["lstm (direct, residual)"] < 1.25 * mse["naive"]
    out2 = tmp_path / "air"
    args = ["forecast", "train", "--data", "airline-passengers", "--model", "seasonal-naive"]
    code, stdout, stderr = call_cli([*args, "--tau", "12", "--horizon", "12", "--out", out2])
    assert code == 0, stderr
