"""``rnnkit forecast``: train, evaluate, predict with and plot time-series forecasters."""

from __future__ import annotations

import csv
import io
import json
import sys
from functools import partial
from pathlib import Path

import click

from rnnkit.commands import options
from rnnkit.commands.common import CONTEXT, RUN_DIR, choice_option, json_option, split_option
from rnnkit.errors import ConfigError
from rnnkit.forecast.config import DEFAULT_LAST, MODELS, NEURAL, SKIPS, ForecastConfig

# _opt(field, help, type): the option of a ForecastConfig field, with its default
_opt = partial(options.field_option, ForecastConfig)


@click.group("forecast", context_settings=CONTEXT)
def forecast() -> None:
    """Time-series forecasting: autoregressive MLP, latent-autoregressive RNN / LSTM / GRU on a
    least-squares linear path, and the naive, seasonal-naive, linear-AR, NLinear and DLinear
    baselines every result is compared with.

    Strategies: one-step (each forecast from observed values), recursive (a 1-step model fed its
    own predictions, k times), direct (one output per future step).
    """


@forecast.command("train")
@click.option(
    "--data", default=None, help="airline-passengers, daily-min-temperatures, ETTh1, sine."
)
@click.option("--csv", default=None, type=click.Path(), help="Your own CSV file.")
@click.option("--time-col", default=None, help="CSV time column [default: the first].")
@click.option("--target", default=None, help="Column to forecast.")
@click.option("--features", default=None, help="Exogenous columns, comma-separated.")
@choice_option(
    "--fill",
    ["ffill", "interpolate", "drop"],
    None,
    "What to do with missing cells [default: refuse them].",
)
@click.option(
    "--split",
    default=None,
    help="A CSV's chronological train,valid[,test] fractions, e.g. 0.7,0.1,0.2 (two: the rest "
    "is test) [default: 0.7,0.1].",
)
@click.option(
    "--test-from",
    default=None,
    help="A CSV's first test time (a date such as 1990-01-01, or a number): test runs from "
    "there to the end; the rows before it are cut train : valid as --split's first two.",
)
@click.option(
    "--period",
    default=None,
    type=int,
    help="Seasonal period in rows: adds seasonal naive to the tables (reading one period back "
    "before the window when --tau is shorter) and scales MASE by its in-sample error.",
)
@_opt(
    "model",
    "The forecaster; mingru and minlstm train by a parallel scan; linear (AR), nlinear, "
    "dlinear, naive and seasonal-naive are fitted in closed form.",
    click.Choice(MODELS),
)
@_opt(
    "strategy",
    "direct: one output per future step; recursive / one-step: a 1-step model.",
    click.Choice(["direct", "recursive", "one-step"]),
)
@_opt("tau", "Input window: past values read.", int)
@_opt("horizon", "Steps ahead to forecast.", int)
@options.size_options(ForecastConfig)
@options.backend_option(ForecastConfig)
@_opt("dropout", "Dropout.", float)
@_opt(
    "skip",
    "The network's linear path, fitted by least squares on train: the network's output starts "
    "at zero, so training starts at that forecast and keeps it unless valid improves. nlinear: "
    "NLinear (the window minus its last value; the network reads it so too); linear: a linear "
    "AR; none: the network alone.",
    click.Choice(SKIPS),
)
@click.option(
    "--residual",
    is_flag=True,
    help="With --skip none: forecast the change from the last observed value.",
)
@_opt("scaler", "Fitted on the train rows only.", click.Choice(["standard", "robust", "none"]))
@options.loop_options(ForecastConfig)
@options.run_options("forecasting run")
def train_command(ctx, out, resume, config_file, overwrite, quiet, **fields):
    """Fit a forecaster on the train split (best weights on valid), report valid and test
    metrics next to the baselines, and save the run.

    By default a network is added to an NLinear fit (--skip): it starts at that forecast and
    the best-on-valid weights are kept, the start included. A network trains for --max-steps
    steps whatever the series' length (an epoch of a short series is one or two batches);
    --epochs only caps a raised budget. A CSV is cut 70/10/20 in time order, or by --split
    or --test-from. One line on stderr says when a baseline of the table beat the model."""
    from rnnkit.forecast.pipeline import ForecastRun
    from rnnkit.forecast.train import ForecastTask

    def fill(values: dict) -> dict:
        features = values.get("features")
        if isinstance(features, str):  # --features: comma-separated
            return {**values, "features": [f.strip() for f in features.split(",") if f.strip()]}
        return values

    if resume or out is None:  # train_task resumes the run, or says --out is missing
        options.train_task(ctx, ForecastTask, fields, fill)
    else:
        given = options.given_options(ctx, fields)
        config = options.build_config(ForecastConfig, config_file, given, fill)
        if config.model in NEURAL:
            options.train_task(ctx, ForecastTask, fields, fill)
        else:
            options.check_out(Path(out), ForecastTask, overwrite)
            ForecastRun.fit(config).save(out)
    out = out or resume
    run = ForecastRun.load(out)
    result = None
    for split in ("valid", "test"):
        if split in run.prep.windows:
            result = run.evaluate(split)
            _print_table(result)
    click.echo(f"saved {out}")
    if result is not None:
        _warn_if_beaten(run, result)


@forecast.command("eval")
@RUN_DIR
@split_option()
@json_option()
def eval_command(run_dir, split, as_json):
    """Metrics of a run on a split, next to the naive, seasonal-naive (with a period),
    linear-AR, NLinear and DLinear baselines: MSE
    and MAE on the scaled series; MAE, RMSE, sMAPE (%) and MASE on the original scale. One
    line on stderr says when a baseline beat the model."""
    from rnnkit.forecast.pipeline import ForecastRun

    run = ForecastRun.load(run_dir)
    result = run.evaluate(split)
    if as_json:
        click.echo(json.dumps(result))
    else:
        _print_table(result)
    _warn_if_beaten(run, result)


def _print_table(result: dict) -> None:
    click.echo(f"{result['split']}: {result['windows']} windows, horizon {result['horizon']}")
    for note in result.get("notes", []):
        click.echo(f"note: {note}")
    click.echo(
        f"{'model':<30}{'mse':>9}{'mae':>9}  |{'MAE':>10}{'RMSE':>10}{'sMAPE%':>9}{'MASE':>8}"
    )
    for name, m in result["models"].items():
        click.echo(
            f"{name:<30}{m['mse']:>9.4f}{m['mae']:>9.4f}  |{m['mae_original']:>10.4g}"
            f"{m['rmse']:>10.4g}{m['smape']:>9.2f}{m['mase']:>8.3f}"
        )
    lag = result.get("mase_lag", 1)
    scale = f"seasonal naive (lag {lag})" if lag > 1 else "naive (lag 1)"
    click.echo(f"MASE: MAE over the in-sample MAE of {scale} on the train rows")


def _warn_if_beaten(run, result: dict) -> None:
    """One line on stderr when a baseline of the table has a lower MSE than the run's model."""
    models = result["models"]
    ours = models[run.name]["mse"]
    rivals = {name: m["mse"] for name, m in models.items() if name != run.name}
    best = min(rivals, key=rivals.get)
    if rivals[best] >= ours:
        return
    hints = []
    steps, best_step = run.history.get("steps"), run.history.get("best_step")
    if steps and best_step and best_step >= 0.8 * steps:  # still improving when it stopped
        hints.append("train longer (--max-steps)")
    if run.config.model in NEURAL and run.config.skip == "none" and not run.config.residual:
        hints.append("try --skip nlinear (the default: start from the NLinear fit)")
    hints.append(f"{'or ' if hints else ''}use --model {best}")
    click.echo(
        f"warning: {run.name} is worse than the {best} baseline on {result['split']} (MSE "
        f"{ours:.4g} vs {rivals[best]:.4g}); " + ", ".join(hints),
        err=True,
    )


@forecast.command("predict")
@RUN_DIR
@click.option("--horizon", required=True, type=int, help="Steps to forecast past the end.")
@click.option(
    "--csv",
    "csv_path",
    default=None,
    type=click.Path(),
    help="Forecast past the end of this CSV (same columns) instead of the training series.",
)
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the forecast as CSV here [default: stdout].",
)
def predict_command(run_dir, horizon, csv_path, out_path):
    """Forecast the next --horizon values after the last row of the series (or of --csv)."""
    from rnnkit.forecast.data import load_series
    from rnnkit.forecast.pipeline import ForecastRun, future_times
    from rnnkit.io import atomic_write_text

    run = ForecastRun.load(run_dir)
    c = run.config
    series = run.prep.series
    if csv_path:
        series = load_series(
            csv_path,
            time_col=c.time_col,
            target=series.columns[0],
            features=series.columns[1:],
            fill=c.fill,
            split=(0.98, 0.01),
        )
    if len(series.values) < c.tau:
        raise ConfigError(
            f"the series has {len(series.values)} rows but the model reads the last {c.tau}; "
            "give a longer CSV"
        )
    pred = run.forecast_after(series.values, horizon)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["step", "time", f"forecast_{series.columns[0]}"])
    times = future_times(series.times, horizon)
    for h, (time, value) in enumerate(zip(times, pred, strict=True), start=1):
        writer.writerow([h, time, f"{value:.6g}"])
    if out_path:
        atomic_write_text(out_path, buf.getvalue())
        click.echo(f"wrote {out_path}: {horizon} steps", err=True)
    else:
        sys.stdout.write(buf.getvalue())


@forecast.command("plot")
@RUN_DIR
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="PNG file.")
@split_option(help="Split to plot.")
@click.option(
    "--last",
    type=int,
    default=DEFAULT_LAST,
    help="Plot the split's last N rows; 0 = the whole split.",
)
@click.option(
    "--from",
    "start",
    default=None,
    help="Plot from this time (a date such as 2018-06-01; a number for undated series) to the "
    "split's end, instead of --last.",
)
@click.pass_context
def plot_command(ctx, run_dir, out_path, split, last, start):
    """Plot the end of a split: the data, the model's 1-step-ahead forecasts, and the
    full-horizon forecast of the split's last window, shaded."""
    from rnnkit.forecast.pipeline import ForecastRun
    from rnnkit.forecast.plots import describe, plot_range, plot_run

    if start is not None and options.given_options(ctx, ["last"]):
        raise ConfigError("give --last or --from, not both")
    run = ForecastRun.load(run_dir)
    shown = plot_range(run, split, last, start)
    plot_run(run, split, out_path, shown)
    click.echo(f"wrote {out_path}: {describe(run, split, shown)}")


@forecast.command("demo")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--seed", default=0, help="Seed of the series noise and the weights.")
def demo_command(out, seed):
    """The textbook experiment: sin(0.01 t) + noise, tau = 4, 600 training pairs, an MLP;
    writes one-step-vs-recursive.png, k-step.png (k = 1, 4, 16, 64) and results.json."""
    from rnnkit.forecast.demo import run_demo

    results = run_demo(out, seed)
    click.echo(f"one-step MSE after training range: {results['one_step_mse']['after_train']:.4f}")
    click.echo(f"recursive MSE after training range: {results['recursive_mse_after_train']:.4f}")
    for k, v in results["k_step_mse"].items():
        click.echo(f"{k:>3}-step-ahead MSE: {v:.4f}")
    click.echo(f"wrote {out}/one-step-vs-recursive.png, {out}/k-step.png, {out}/results.json")
