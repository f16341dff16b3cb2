"""NLinear and DLinear in closed form, and the network on a linear skip path that starts at it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.forecast.baselines import LINEAR, DLinear, LinearAR, NLinear
from rnnkit.forecast.config import ForecastConfig
from rnnkit.forecast.models import ARMLP, RNNForecaster, SkipForecaster, predict
from rnnkit.forecast.pipeline import build_model
from rnnkit.forecast.train import fit_forecaster
from rnnkit.registry.runs import RunDoc


def random_walk_windows(tau=12, H=3, n=400, F=2, seed=0):
    """Windows (N, tau, F) of a drifting random walk and their next H values of column 0."""
    x = np.cumsum(np.random.default_rng(seed).normal(size=(n, F)), axis=0)
    N = n - tau - H + 1
    X = np.stack([x[i : i + tau] for i in range(N)])
    Y = np.stack([x[i + tau : i + tau + H, 0] for i in range(N)])
    return X, Y


def lstsq(Z, B, ridge=1e-6):
    """Ridge least squares with an unpenalised intercept, the textbook way: normal equations."""
    A = np.concatenate([Z, np.ones((len(Z), 1))], axis=1)
    P = ridge * np.eye(A.shape[1])
    P[-1, -1] = 0.0
    return np.linalg.solve(A.T @ A + P, A.T @ B), A


def test_nlinear_is_the_least_squares_fit_on_the_window_minus_its_last_value():
    X, Y = random_walk_windows()
    model = NLinear(12, 3).fit(X, Y)
    # NLinear's forward (Zeng et al.): x - last -> Linear -> + last, per column.
    last = X[:, -1:, :]
    W, A = lstsq((X - last).reshape(len(X), -1), Y - last[:, :, 0])
    np.testing.assert_allclose(model.predict(X), A @ W + last[:, :, 0], rtol=1e-6, atol=1e-6)
    # A shift of the whole window shifts the forecast: the target weights sum to one.
    np.testing.assert_allclose(model.predict(X + 5.0), model.predict(X) + 5.0, atol=1e-8)
    np.testing.assert_allclose(model.coef_[:, :, 0].sum(axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(model.coef_[:, :, 1].sum(axis=1), 0.0, atol=1e-10)
    again = NLinear.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    with pytest.raises(ConfigError, match="nlinear"):
        LinearAR.from_dict(model.to_dict())


def moving_average_reference(X, kernel):
    """DLinear's series_decomp: replicate-pad both ends, AvgPool1d(kernel, stride 1)."""
    x = torch.as_tensor(X)  # (N, tau, F)
    pad = (kernel - 1) // 2
    front, end = x[:, :1].repeat(1, pad, 1), x[:, -1:].repeat(1, pad, 1)
    padded = torch.cat([front, x, end], dim=1).permute(0, 2, 1)
    return torch.nn.AvgPool1d(kernel, stride=1)(padded).permute(0, 2, 1).numpy()


@pytest.mark.parametrize("kernel", [25, 5])
def test_dlinear_decomposes_as_the_paper_and_fits_both_parts(kernel):
    X, Y = random_walk_windows(tau=12)
    model = DLinear(12, 3, kernel=kernel).fit(X, Y)
    trend = moving_average_reference(X, kernel)
    np.testing.assert_allclose(np.einsum("st,ntf->nsf", model.trend_matrix(), X), trend)
    parts = np.concatenate([trend, X - trend], axis=1).reshape(len(X), -1)
    W, A = lstsq(parts, Y)
    np.testing.assert_allclose(model.predict(X), A @ W, rtol=1e-5, atol=1e-5)
    # Both parts are linear in the window: at the optimum DLinear is the linear AR.
    np.testing.assert_allclose(model.predict(X), LinearAR(12, 3).fit(X, Y).predict(X), atol=1e-5)
    assert DLinear.from_dict(model.to_dict()).kernel == kernel
    with pytest.raises(ConfigError, match="odd"):
        DLinear(12, 3, kernel=4)


def test_skip_model_starts_exactly_at_the_linear_fit():
    X, Y = random_walk_windows(tau=8, H=4, F=2)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    for kind in ("nlinear", "linear"):
        for inner in (ARMLP(8, 2, hidden=5, horizon=4), RNNForecaster(2, hidden=5, horizon=4)):
            model = SkipForecaster(inner, kind, tau=8)
            model.fit_skip(X, Y)
            want = LINEAR[kind](8, 4).fit(X[:, :, :1], Y).predict(X[:, :, :1])
            assert predict(model, X).shape == (len(X), 4)
            np.testing.assert_allclose(predict(model, X), want, rtol=1e-4, atol=1e-4)
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            assert trainable and not any(n.startswith("skip.") for n in trainable)
    with pytest.raises(ConfigError, match="--tau 8"):
        model(torch.zeros(2, 7, 2))


def test_best_weights_can_be_the_linear_start():
    X, Y = random_walk_windows(tau=8, H=2, F=1, n=140)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    train, valid = (X[:100], Y[:100]), (X[100:], Y[100:])
    torch.manual_seed(0)
    model = SkipForecaster(RNNForecaster(1, hidden=8, horizon=2), "nlinear", tau=8)
    model.fit_skip(*train)
    start = predict(model, valid[0])
    # A step size far too large: every update makes valid worse, so the start is kept.
    history = fit_forecaster(model, train, valid, epochs=2, batch_size=50, lr=5.0)
    assert history["epochs"][0]["step"] == 0 and history["best_step"] == 0
    np.testing.assert_array_equal(predict(model, valid[0]), start)
    assert all(row["valid_mse"] > history["best"] for row in history["epochs"][1:])


def test_runs_saved_before_the_skip_path_load_without_one():
    old = {"data": "sine", "model": "lstm", "residual": True}
    config = RunDoc("forecast", old).run_config(ForecastConfig)
    assert config.skip == "none" and config.residual
    assert ForecastConfig(data="sine").skip == "nlinear"
    mcfg = {"model": "gru", "tau": 8, "num_features": 1, "hidden": 4, "residual": False}
    assert isinstance(build_model(mcfg), RNNForecaster)
    assert isinstance(build_model({**mcfg, "skip": "nlinear"}), SkipForecaster)
    with pytest.raises(ConfigError, match="--skip none"):
        ForecastConfig(data="sine", residual=True)
    with pytest.raises(ConfigError, match="--split"):
        ForecastConfig(csv="x.csv", split="0.7;0.3")
