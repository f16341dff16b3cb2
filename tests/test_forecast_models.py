"""Forecasting models, strategies, baselines, metrics and the fitting loop, on made-up arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError, DataError, RnnkitWarning, TrainingError
from rnnkit.forecast.baselines import LinearAR, naive, seasonal_naive
from rnnkit.forecast.metrics import (
    mae,
    mase_scale,
    mse,
    original_scale_metrics,
    per_horizon_mse,
    smape,
)
from rnnkit.forecast.models import (
    ARMLP,
    RNNForecaster,
    build_forecaster,
    forecast,
    predict,
    recursive_forecast,
)
from rnnkit.forecast.train import fit_forecaster


def windows(series: np.ndarray, tau: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, F) -> X (N, tau, F), Y (N, H) of column 0, as the data layer makes them."""
    series = series.reshape(len(series), -1).astype(np.float32)
    N = len(series) - tau - H + 1
    X = np.stack([series[i : i + tau] for i in range(N)])
    Y = np.stack([series[i + tau : i + tau + H, 0] for i in range(N)])
    return X, Y


def sine_splits(tau=8, H=1, n=400):
    x = np.sin(2 * np.pi * np.arange(n) / 20.0)
    X, Y = windows(x, tau, H)
    cut = int(0.8 * len(X))
    return (X[:cut], Y[:cut]), (X[cut:], Y[cut:])


# ---- models --------------------------------------------------------------------------------------
def test_armlp_shapes():
    model = ARMLP(tau=6, num_features=3, hidden=5, horizon=4)
    assert model(torch.randn(7, 6, 3)).shape == (7, 4)
    with pytest.raises(ConfigError, match=r"\(N, 6, 3\)"):
        model(torch.randn(7, 5, 3))


@pytest.mark.parametrize("backend", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_rnn_forecaster_shapes(cell, backend, num_layers):
    model = RNNForecaster(
        2, hidden=5, num_layers=num_layers, model=cell, backend=backend, horizon=3
    )
    assert model(torch.randn(4, 9, 2)).shape == (4, 3)
    assert model(torch.randn(1, 2, 2)).shape == (1, 3)  # any window length


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_backends_share_weights_and_outputs(cell):
    torch.manual_seed(0)
    ref = RNNForecaster(2, hidden=4, num_layers=2, model=cell, backend="torch", horizon=2)
    ours = RNNForecaster(2, hidden=4, num_layers=2, model=cell, backend="scratch", horizon=2)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 7, 2)
    torch.testing.assert_close(ours(x), ref(x))


def test_output_is_the_last_hidden_state_through_the_head():
    model = RNNForecaster(1, hidden=4, model="gru", horizon=2)
    x = torch.randn(3, 5, 1)
    _, h = model.rnn(x.transpose(0, 1))
    torch.testing.assert_close(model(x), model.head(h[-1]))


@pytest.mark.parametrize(
    "config",
    [
        {"model": "mlp", "tau": 5, "num_features": 2, "hidden": 7, "horizon": 3},
        {"model": "lstm", "num_features": 2, "hidden": 6, "num_layers": 2, "dropout": 0.1},
        {"model": "gru", "tau": 12, "num_features": 1, "backend": "scratch", "horizon": 4},
        {"model": "rnn", "num_features": 3},
    ],
)
def test_build_forecaster_round_trip(config):
    model = build_forecaster(config)
    saved = json.loads(json.dumps(model.config.to_dict()))
    for key, value in config.items():
        assert saved[key] == value
    again = build_forecaster(saved)
    assert type(again) is type(model) and again.config == model.config
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, config.get("tau", 5), config["num_features"])
    torch.testing.assert_close(again.eval()(x), model.eval()(x))


def test_build_forecaster_defaults_and_ignored_keys():
    mlp = build_forecaster(
        {"model": "mlp", "tau": 4, "num_features": 1, "num_layers": 3, "backend": "scratch"}
    )
    assert isinstance(mlp, ARMLP) and mlp.config.hidden == 10
    lstm = build_forecaster({"model": "lstm", "num_features": 1})
    assert isinstance(lstm, RNNForecaster) and lstm.config.hidden == 64


@pytest.mark.parametrize(
    "config, match",
    [
        ({"model": "transformer", "num_features": 1}, "unknown model"),
        ({"model": "lstm", "num_features": 1, "hiden": 4}, "unknown forecaster config key"),
        ({"model": "mlp", "num_features": 1}, "tau"),
        ({"model": "lstm"}, "num_features"),
        ({"model": "lstm", "num_features": 0}, "num_features must be a positive integer"),
        ({"model": "lstm", "num_features": 1, "hidden": "8"}, "hidden must be"),
        ({"model": "lstm", "num_features": 1, "horizon": True}, "horizon must be"),
        ({"model": "gru", "num_features": 1, "num_layers": 0}, "num_layers must be"),
        ({"model": "gru", "num_features": 1, "dropout": 1.0}, "dropout must be in"),
        ({"model": "gru", "num_features": 1, "backend": "cuda"}, "unknown backend"),
        ([("model", "lstm")], "is a dict"),
    ],
)
def test_build_forecaster_rejects_bad_configs(config, match):
    with pytest.raises(ConfigError, match=match):
        build_forecaster(config)


# ---- strategies ----------------------------------------------------------------------------------
def test_recursive_forecast_equals_a_manual_loop():
    torch.manual_seed(0)
    model = RNNForecaster(1, hidden=8, model="lstm", dropout=0.5).train()
    x = torch.randn(5, 6, 1)
    out = recursive_forecast(model, x, 4)
    assert out.shape == (5, 4)
    assert model.training  # mode restored
    model.eval()
    window, expected = x.clone(), []
    with torch.no_grad():
        for _ in range(4):
            y = model(window)[:, 0]
            expected.append(y)
            window = torch.cat([window[:, 1:, 0], y[:, None]], dim=1)[:, :, None]
    torch.testing.assert_close(out, torch.stack(expected, dim=1))
    # The first step of a recursive forecast is the one-step forecast; arrays come back as arrays.
    one = forecast(model, x.numpy(), 1, "one-step")
    assert isinstance(one, np.ndarray)
    np.testing.assert_allclose(one[:, 0], out[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(forecast(model, x.numpy(), 4, "recursive"), out.numpy(), rtol=1e-6)


def test_recursive_refuses_exogenous_features_and_multi_output_models():
    model = ARMLP(4, 2)
    with pytest.raises(ConfigError, match="needs future feature values"):
        recursive_forecast(model, torch.randn(3, 4, 2), 2)
    with pytest.raises(ConfigError, match="horizon 3"):
        forecast(ARMLP(4, 1, horizon=3), torch.randn(3, 4, 1), 2, "recursive")


def test_direct_and_one_step_checks():
    model = ARMLP(4, 2, horizon=3).eval()
    x = torch.randn(5, 4, 2)
    with torch.no_grad():
        torch.testing.assert_close(forecast(model, x, 3, "direct"), model(x))
    with pytest.raises(ConfigError, match="retrain with --horizon 2"):
        forecast(model, x, 2, "direct")
    with pytest.raises(ConfigError, match="one-step"):
        forecast(model, x, 3, "one-step")
    with pytest.raises(ConfigError, match="unknown strategy"):
        forecast(model, x, 3, "iterated")
    with pytest.raises(ConfigError, match="steps must be"):
        forecast(model, x, 0, "direct")


# ---- baselines -----------------------------------------------------------------------------------
def test_naive_repeats_the_last_target_value():
    X = np.array([[[1.0, 9.0], [2.0, 9.0], [3.0, 9.0]], [[4.0, 0.0], [5.0, 0.0], [6.0, 0.0]]])
    np.testing.assert_array_equal(naive(X, 2), [[3.0, 3.0], [6.0, 6.0]])


def test_seasonal_naive_takes_the_value_one_period_back():
    # Window x_0..x_4 = 10..14 (x_t = 10 + t), period 3, forecasting x_5 .. x_11.
    X = (10.0 + np.arange(5.0))[None, :, None]
    # x_5 <- x_2, x_6 <- x_3, x_7 <- x_4, then the last observed season again.
    np.testing.assert_array_equal(seasonal_naive(X, 7, 3), [[12, 13, 14, 12, 13, 14, 12]])
    np.testing.assert_array_equal(seasonal_naive(X, 2, 5), [[10, 11]])  # tau == period
    np.testing.assert_array_equal(seasonal_naive(X, 2, 1), naive(X, 2))  # period 1 is naive
    with pytest.raises(ConfigError, match=r"tau=5 < period=6"):
        seasonal_naive(X, 2, 6)


def test_linear_ar_recovers_an_exact_ar2_process():
    a1, a2 = 1.6, -0.9  # damped oscillation: x_t = a1 x_{t-1} + a2 x_{t-2}
    x = np.zeros(80)
    x[:2] = [1.0, 0.5]
    for t in range(2, len(x)):
        x[t] = a1 * x[t - 1] + a2 * x[t - 2]
    X, Y = windows(x, tau=2, H=2)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    model = LinearAR(tau=2, horizon=2).fit(X, Y)
    # Window [x_{t-2}, x_{t-1}]; step 2: x_{t+1} = (a1^2 + a2) x_{t-1} + a1 a2 x_{t-2}.
    np.testing.assert_allclose(model.coef_[0, :, 0], [a2, a1], atol=1e-4)
    np.testing.assert_allclose(model.coef_[1, :, 0], [a1 * a2, a1 * a1 + a2], atol=1e-4)
    np.testing.assert_allclose(model.intercept_, 0.0, atol=1e-4)
    np.testing.assert_allclose(model.predict(X), Y, atol=1e-4)
    again = LinearAR.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_linear_ar_checks_shapes():
    X, Y = np.zeros((10, 3, 1)), np.zeros((10, 2))
    with pytest.raises(ConfigError, match="tau=4"):
        LinearAR(4, 2).fit(X, Y)
    with pytest.raises(ConfigError, match="horizon 1"):
        LinearAR(3, 1).fit(X, Y)
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearAR(3, 2).predict(X)


# ---- metrics -------------------------------------------------------------------------------------
def test_metrics_against_hand_computed_values():
    y = np.array([[1.0, 2.0], [0.0, 4.0]])
    p = np.array([[2.0, 2.0], [0.0, 1.0]])
    assert mse(y, p) == pytest.approx((1 + 0 + 0 + 9) / 4)
    assert mae(y, p) == pytest.approx((1 + 0 + 0 + 3) / 4)
    np.testing.assert_allclose(per_horizon_mse(y, p), [0.5, 4.5])
    # 200|y-p|/(|y|+|p|): 200/3, 0, 0/0 -> 0, 600/5
    assert smape(y, p) == pytest.approx((200 / 3 + 0 + 0 + 120) / 4)
    train = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert mase_scale(train) == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert mase_scale(train, 2) == pytest.approx((1 + 2 + 2) / 3)
    m = original_scale_metrics(y, p, train, period=2)
    assert m["mae"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(np.sqrt(2.5))
    assert m["smape"] == pytest.approx((200 / 3 + 120) / 4)
    assert m["mase"] == pytest.approx(1.0 / (5 / 3))
    assert original_scale_metrics(y, p, train, None)["mase"] == pytest.approx(1.0 / 1.75)
    assert np.isnan(original_scale_metrics(y, p, np.ones(5), None)["mase"])


def test_metrics_refuse_mismatched_shapes_and_short_series():
    with pytest.raises(DataError, match="differ in shape"):
        mse(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.warns(RnnkitWarning, match="lag-1"):
        assert mase_scale(np.array([0.0, 2.0, 3.0, 7.0]), 4) == pytest.approx(7 / 3)
    with pytest.raises(DataError, match="2 values or more"):
        mase_scale(np.array([1.0]))


# ---- fitting -------------------------------------------------------------------------------------
def test_fit_learns_a_noiseless_sine():
    train, valid = sine_splits()
    torch.manual_seed(0)
    model = RNNForecaster(1, hidden=16, model="gru")
    before = mse(valid[1], predict(model, valid[0]))
    lines = []
    history = fit_forecaster(
        model, train, valid, epochs=15, batch_size=16, lr=1e-2, log=lines.append
    )
    assert history["best"] < before / 10
    assert len(history["epochs"]) == 15 and history["stop"] == "epochs"
    assert len([line for line in lines if line.startswith("step ")]) == 15
    assert history["steps"] == 15 * -(-len(train[0]) // 16)
    assert set(history["epochs"][0]) >= {"epoch", "step", "train_loss", "valid_mse", "elapsed_s"}
    json.dumps(history)


def _diverging_task():
    """Train targets +sum(window), valid targets -sum(window): learning makes valid worse."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4, 1)).astype(np.float32)
    Y = X.sum(axis=(1, 2))[:, None]
    return (X, Y), (X, -Y)


def test_fit_restores_the_best_weights_and_stops_on_patience():
    train, valid = _diverging_task()
    torch.manual_seed(0)
    model = ARMLP(4, 1, hidden=8)
    history = fit_forecaster(model, train, valid, epochs=50, batch_size=16, lr=1e-2, patience=2)
    valids = [e["valid_mse"] for e in history["epochs"]]
    assert history["stop"] == "early stopping" and len(valids) == history["best_epoch"] + 2
    assert valids[-1] > history["best"] == min(valids)
    assert mse(valid[1], predict(model, valid[0])) == pytest.approx(history["best"])
    assert not model.training


def test_fit_is_repeatable_with_a_seed():
    train, valid = sine_splits(n=120)

    def run(seed):
        torch.manual_seed(0)  # the same initial weights every time
        model = RNNForecaster(1, hidden=6, num_layers=2, model="lstm", dropout=0.3)
        state_before = torch.get_rng_state()
        h = fit_forecaster(model, train, valid, epochs=2, batch_size=8, seed=seed)
        assert torch.equal(torch.get_rng_state(), state_before)  # the caller's RNG is untouched
        return [e["train_loss"] for e in h["epochs"]], model.state_dict()

    a, wa = run(1)
    b, wb = run(1)
    c, _ = run(2)
    assert a == b and a != c
    for k in wa:
        assert torch.equal(wa[k], wb[k])


def test_fit_honours_max_steps():
    train, _ = sine_splits(n=120)  # 89 windows: 6 batches of 16
    model = ARMLP(8, 1)
    history = fit_forecaster(model, train, None, epochs=10, batch_size=16, max_steps=9)
    assert history["steps"] == 9 and history["stop"] == "max_steps"
    assert [e["step"] for e in history["epochs"]] == [6, 9]
    assert history["best_epoch"] is None and "valid_mse" not in history["epochs"][0]


def test_fit_raises_training_error_on_nan_input():
    (X, Y), valid = sine_splits(n=120)
    X = X.copy()
    X[5, 3, 0] = np.nan
    with pytest.raises(TrainingError, match="non-finite") as err:
        fit_forecaster(ARMLP(8, 1), (X, Y), valid, epochs=2, batch_size=16)
    assert "\n" not in str(err.value)


def test_fit_checks_its_inputs():
    train, valid = sine_splits(tau=8, H=2, n=120)
    with pytest.raises(ConfigError, match="forecasts 1 step"):
        fit_forecaster(ARMLP(8, 1), train, valid)
    with pytest.raises(ConfigError, match="patience"):
        fit_forecaster(ARMLP(8, 1, horizon=2), train, None, patience=3)
    with pytest.raises(ConfigError, match="--batch-size must be > 0"):
        fit_forecaster(ARMLP(8, 1, horizon=2), train, valid, batch_size=0)
    with pytest.raises(DataError, match="no windows"):
        fit_forecaster(ARMLP(8, 1, horizon=2), (train[0][:0], train[1][:0]), None)
