"""Forecasting quality: rnnkit's LSTM and GRU forecasters on real series, next to baselines.

ETTh1, univariate (target ``OT``, standardised with train statistics, Informer's 12/4/4-month
split), direct multi-horizon forecasts for 24, 48, 168, 336 and 720 hours from the last ``tau``
hours: test MSE / MAE on the scaled series, next to the naive (last value) and least-squares
linear AR baselines run in the same process and the Informer paper's table (Zhou et al. 2021,
univariate ETTh1: LSTMa and DeepAR). Also airline passengers and Melbourne daily minimum
temperatures against seasonal naive. CPU training time per model.

    python bench/forecast.py                       # everything (about 20 minutes on 2 cores)
    python bench/forecast.py --only etth1 --horizons 24,48
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save  # noqa: E402

from rnnkit.forecast.pipeline import ForecastConfig, ForecastRun  # noqa: E402

# Informer (Zhou et al., AAAI 2021), Table 1, univariate ETTh1: (MSE, MAE) per horizon.
PUBLISHED = {
    "LSTMa": {
        24: (0.114, 0.272),
        48: (0.193, 0.358),
        168: (0.236, 0.392),
        336: (0.590, 0.698),
        720: (0.683, 0.768),
    },
    "DeepAR": {
        24: (0.107, 0.280),
        48: (0.162, 0.327),
        168: (0.239, 0.422),
        336: (0.445, 0.552),
        720: (0.658, 0.707),
    },
}


def fit_eval(log_prefix: str, **kw) -> dict:
    t0 = time.process_time()
    wall = time.perf_counter()
    run = ForecastRun.fit(ForecastConfig(**kw))
    cpu, seconds = time.process_time() - t0, time.perf_counter() - wall
    result = run.evaluate("test")
    result["train_cpu_seconds"] = cpu
    result["train_wall_seconds"] = seconds
    result["best_epoch"] = run.history.get("best_epoch")
    m = result["models"][run.name]
    print(f"{log_prefix}: mse {m['mse']:.4f} mae {m['mae']:.4f} ({seconds:.0f} s)", flush=True)
    return result


def etth1(args) -> dict:
    rows = {}
    variants = [(m, r) for m in ("lstm", "gru") for r in (False, True)]
    for H in args.horizons:
        for model, residual in variants:
            rows[f"{model}{'+res' if residual else ''}/{H}"] = fit_eval(
                f"ETTh1 {model}{' residual' if residual else ''} H={H}",
                data="ETTh1",
                model=model,
                strategy="direct",
                residual=residual,
                tau=args.tau,
                horizon=H,
                hidden_size=args.hidden,
                epochs=args.epochs,
                patience=3,
                batch_size=64,
                lr=1e-3,
                max_steps=0,  # epochs and patience decide, not the CLI's step budget
                eval_every=0,
                seed=args.seed,
            )
    print()
    print(
        "| horizon | LSTM | LSTM, residual | GRU | GRU, residual | naive | linear AR "
        "| LSTMa (published) | DeepAR (published) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def cell(m):
        return f"{m['mse']:.3f} / {m['mae']:.3f}"

    for H in args.horizons:
        ours = []
        for model, residual in variants:
            r = rows[f"{model}{'+res' if residual else ''}/{H}"]["models"]
            ours.append(cell(next(v for k, v in r.items() if k.startswith(model))))
        base = rows[f"lstm/{H}"]["models"]
        pub = " | ".join(f"{PUBLISHED[k][H][0]:.3f} / {PUBLISHED[k][H][1]:.3f}" for k in PUBLISHED)
        print(
            f"| {H} | {' | '.join(ours)} | {cell(base['naive'])} | {cell(base['linear'])} | {pub} |"
        )
    print()
    for key, r in rows.items():
        print(
            f"{key}: train {r['train_wall_seconds']:.0f} s wall, "
            f"{r['train_cpu_seconds']:.0f} s CPU, best epoch {r['best_epoch']}"
        )
    return rows


def seasonal(args) -> dict:
    # the batch and budget these figures were measured with, not the CLI's defaults
    loop = dict(batch_size=64, max_steps=0, eval_every=0)
    cases = {
        "airline-passengers": dict(
            tau=24, horizon=12, hidden_size=32, epochs=300, patience=30, lr=5e-3, residual=True
        ),
        "daily-min-temperatures": dict(
            tau=365, horizon=7, hidden_size=32, epochs=30, patience=5, lr=1e-3, residual=True
        ),
    }
    rows = {}
    for name, kw in cases.items():
        for model in ("gru", "lstm"):
            rows[f"{name}/{model}"] = fit_eval(
                f"{name} {model}",
                data=name,
                model=model,
                strategy="direct",
                seed=args.seed,
                **loop,
                **kw,
            )
    print()
    print("| series (tau, horizon) | model | test MAE | RMSE | sMAPE % | MASE |")
    print("|---|---|---|---|---|---|")
    for key, r in rows.items():
        name = key.split("/")[0]
        for model, m in r["models"].items():
            if model.startswith(("gru", "lstm")) or key.endswith("/gru"):
                print(
                    f"| {name} ({cases[name]['tau']}, {r['horizon']}) | {model} | "
                    f"{m['mae_original']:.3f} | {m['rmse']:.3f} | {m['smape']:.2f} "
                    f"| {m['mase']:.3f} |"
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["etth1", "seasonal"], default=None)
    ap.add_argument("--horizons", default="24,48,168,336,720")
    ap.add_argument("--tau", type=int, default=96)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.horizons = [int(h) for h in args.horizons.split(",")]
    out = {"machine": machine(), "args": {k: v for k, v in vars(args).items()}}
    if args.only in (None, "etth1"):
        out["etth1"] = etth1(args)
    if args.only in (None, "seasonal"):
        out["seasonal"] = seasonal(args)
    print("saved", save("forecast", out))


if __name__ == "__main__":
    main()
