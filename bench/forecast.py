"""Forecasting quality: rnnkit's default forecaster on real series, next to its baselines.

The forecaster is what ``rnnkit forecast train`` fits by default (an LSTM of 64 units added to
a least-squares NLinear fit, its output layer starting at zero, 1,000 steps of 32 windows at
Adam 1e-3, the best-on-valid weights kept, the start included); ``--model`` and ``--skip``
change it. Next to it, on the same test windows, in the same process: naive (last value),
seasonal naive, linear AR, NLinear and DLinear (all in closed form), and for ETTh1 the Informer
paper's table (Zhou et al. 2021, univariate ETTh1: LSTMa and DeepAR).

ETTh1: univariate (target ``OT``, standardised with train statistics, Informer's 12/4/4-month
split), direct multi-horizon forecasts from the last ``--tau`` hours at Informer's horizons
(24, 48, 168, 336, 720) and LTSF-Linear's (96, 192, 336, 720); test MSE / MAE on the scaled
series. Airline passengers (tau 24, horizon 12) and Melbourne daily minimum temperatures
(tau 365, horizon 7): original-scale MAE, RMSE, sMAPE and MASE too.

With ``--seeds N`` every network is trained with seeds 0 .. N-1 and reported as the mean and
the spread (sample standard deviation) over seeds; the baselines have no seed.

    python bench/forecast.py --seeds 3                      # everything: hours on 2 cores
    python bench/forecast.py --only etth1 --horizons 336 --seeds 1
"""

from __future__ import annotations

import argparse
import statistics
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
BASELINES = ("naive", "seasonal-naive", "linear", "nlinear", "dlinear")
SERIES = {
    "etth1": None,  # tau and horizons from the command line
    "airline-passengers": dict(tau=24, horizons=[12]),
    "daily-min-temperatures": dict(tau=365, horizons=[7]),
}


def fit_eval(data: str, tau: int, horizon: int, seed: int, args) -> dict:
    """Test metrics of the forecaster and the baselines, with the training time."""
    config = ForecastConfig(
        data=data, model=args.model, skip=args.skip, tau=tau, horizon=horizon, seed=seed
    )
    t0, wall = time.process_time(), time.perf_counter()
    run = ForecastRun.fit(config)
    cpu, seconds = time.process_time() - t0, time.perf_counter() - wall
    result = run.evaluate("test")
    result |= {"name": run.name, "seed": seed, "train_cpu_seconds": cpu}
    result |= {"train_wall_seconds": seconds, "best_step": run.history.get("best_step")}
    m = result["models"][run.name]
    print(
        f"{data} H={horizon} seed {seed}: mse {m['mse']:.4f} (nlinear "
        f"{result['models']['nlinear']['mse']:.4f}, linear {result['models']['linear']['mse']:.4f}"
        f"), best step {result['best_step']}, {seconds:.0f} s",
        flush=True,
    )
    return result


def spread(values: list[float], digits: int = 4) -> str:
    """``mean ± sd`` over seeds (just the value for one seed)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(name: str, runs: dict[int, list[dict]], metric: str) -> None:
    """One markdown row per horizon: the forecaster over seeds, then each baseline."""
    seeds = next(iter(runs.values()))
    first = seeds[0]
    present = [b for b in BASELINES if b in first["models"]]
    extra = list(PUBLISHED) if name == "ETTh1" and metric in ("mse", "mae") else []
    heads = [first["name"], *present, *(f"{p} (published)" for p in extra)]
    print(f"\n{name}, test {metric.upper()} (forecaster: mean ± sd over {len(seeds)} seeds)")
    print(f"| horizon | {' | '.join(heads)} |")
    print("|---" * (1 + len(heads)) + "|")
    for H, results in runs.items():
        ours = spread([r["models"][r["name"]][metric] for r in results])
        base = [f"{results[0]['models'][b][metric]:.4f}" for b in present]
        column = 0 if metric == "mse" else 1
        pub = [f"{PUBLISHED[p][H][column]:.3f}" if H in PUBLISHED[p] else "-" for p in extra]
        print(f"| {H} | {ours} | {' | '.join(base + pub)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(SERIES), default=None)
    ap.add_argument("--horizons", default="24,48,96,168,192,336,720", help="ETTh1's horizons")
    ap.add_argument("--tau", type=int, default=96, help="ETTh1's window")
    ap.add_argument("--model", default="lstm", choices=["mlp", "rnn", "lstm", "gru"])
    ap.add_argument("--skip", default="nlinear", choices=["nlinear", "linear", "none"])
    ap.add_argument("--seeds", type=int, default=3, help="train each network with seeds 0..N-1")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    horizons = [int(h) for h in args.horizons.split(",")]
    out = {"machine": machine(), "args": vars(args), "results": {}}
    for key, spec in SERIES.items():
        if args.only not in (None, key):
            continue
        data = "ETTh1" if key == "etth1" else key
        tau, hs = (args.tau, horizons) if spec is None else (spec["tau"], spec["horizons"])
        runs = {H: [fit_eval(data, tau, H, seed, args) for seed in range(args.seeds)] for H in hs}
        out["results"][data] = {str(H): rs for H, rs in runs.items()}
        table(data, runs, "mse")
        table(data, runs, "mae")
        if spec is not None:
            table(data, runs, "mase")
        for H, results in runs.items():
            wall = spread([r["train_wall_seconds"] for r in results], 0)
            steps = [r["best_step"] for r in results]
            print(f"{data} H={H}: training {wall} s wall per seed; best steps {steps}")
    print("saved", save("forecast", out))


if __name__ == "__main__":
    main()
