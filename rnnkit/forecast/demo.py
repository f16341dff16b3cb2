"""The textbook forecasting experiment: an MLP over the last 4 values of a noisy sine.

x_t = sin(0.01 t) + N(0, 0.2^2), t = 1..1000; features [x_{t-4}, ..., x_{t-1}], label x_t;
the first 600 pairs train a 4-10-1 ReLU MLP. Then:

- one-step-ahead predictions everywhere (each from observed values): they track the data;
- a recursive forecast from the end of the training data, fed its own outputs: it goes flat
  within a few dozen steps, because every error is read back as input;
- k-step-ahead predictions for k = 1, 4, 16, 64 over the same targets: the error grows with k.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from rnnkit.figures import new_figure, save_figure
from rnnkit.forecast.data import make_windows, sine_series
from rnnkit.forecast.models import ARMLP, predict, recursive_forecast
from rnnkit.forecast.train import fit_forecaster
from rnnkit.io import atomic_write_text

TAU, N_TRAIN, KS = 4, 600, (1, 4, 16, 64)


def k_step_predictions(model, x: np.ndarray, k: int, start: int) -> np.ndarray:
    """Predict x_t for t in [start + k - 1, T) from the observed x_{t-k-tau+1} .. x_{t-k},
    feeding the model's own predictions for the k - 1 steps between.

    Returns (T - start - k + 1,)."""
    first = np.arange(start - TAU, len(x) - TAU - k + 1)  # where each observed window begins
    window = x[first[:, None] + np.arange(TAU)].astype(np.float32)  # (M, tau)
    return recursive_forecast(model, window[:, :, None], k)[:, -1]


def run_demo(out: str | Path, seed: int = 0, epochs: int = 5) -> dict:
    """Train, predict, write ``one-step-vs-recursive.png``, ``k-step.png`` and ``results.json``
    into ``out``; return the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    series = sine_series(n=1000, noise=0.2, seed=seed)
    x = series.values[:, 0]
    T = len(x)
    X, Y, _ = make_windows(series.values, TAU, 1, TAU, TAU + N_TRAIN)  # the first 600 pairs
    torch.manual_seed(seed)
    model = ARMLP(TAU, 1, hidden=10, horizon=1)
    history = fit_forecaster(model, (X, Y), None, epochs=epochs, batch_size=16, lr=0.01, seed=seed)
    Xall, Yall, t_all = make_windows(series.values, TAU, 1, TAU, T)
    one_step = predict(model, Xall)[:, 0]
    start = TAU + N_TRAIN
    # From the observed x_{start-tau} .. x_{start-1}, predict x_start .. x_{T-1} feeding back.
    window = x[None, start - TAU : start, None].astype(np.float32)  # (1, tau, 1)
    recursive = recursive_forecast(model, window, T - start)[0]
    first_t = TAU + max(KS) - 1  # the same targets for every k
    # The k-step predictions start at target tau + k - 1: drop those before first_t.
    k_preds = {k: k_step_predictions(model, x, k, TAU)[max(KS) - k :] for k in KS}
    per_k = {k: float(np.mean((pred - x[first_t:]) ** 2)) for k, pred in k_preds.items()}
    results = {
        "series": "sin(0.01 t) + N(0, 0.2^2), t = 1..1000",
        "tau": TAU,
        "train_pairs": int(len(X)),
        "model": "MLP 4-10-1, ReLU",
        "train_mse": history["epochs"][-1]["train_loss"],
        "one_step_mse": {
            "train": float(np.mean((one_step[:N_TRAIN] - Yall[:N_TRAIN, 0]) ** 2)),
            "after_train": float(np.mean((one_step[N_TRAIN:] - Yall[N_TRAIN:, 0]) ** 2)),
        },
        "recursive_mse_after_train": float(np.mean((recursive - x[start:]) ** 2)),
        "k_step_mse": {str(k): v for k, v in per_k.items()},
        "k_step_targets": f"x_t for t = {first_t + 1}..{T} (1-based), the same for every k",
    }
    times = np.arange(1, T + 1)
    fig, ax = new_figure(9, 3.6)
    ax.plot(times, x, lw=0.8, color="0.6", label="data")
    ax.plot(t_all + 1, one_step, lw=1, label="1-step predictions")
    ax.plot(times[start:], recursive, lw=1.2, label=f"recursive from t = {start + 1}")
    ax.axvline(start + 0.5, color="0.3", ls=":", lw=0.8)
    ax.set(xlabel="time", ylabel="x", title="MLP on the last 4 values: one-step vs recursive")
    ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, out / "one-step-vs-recursive.png", dpi=110)
    fig, ax = new_figure(9, 3.6)
    ax.plot(times[first_t:], x[first_t:], lw=0.8, color="0.6", label="data")
    for k, pred in k_preds.items():
        ax.plot(times[first_t:], pred, lw=1, label=f"{k}-step (MSE {per_k[k]:.3f})")
    ax.set(xlabel="time", ylabel="x", title="k-step-ahead predictions: errors accumulate")
    ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, out / "k-step.png", dpi=110)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    return results
