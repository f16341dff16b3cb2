"""Exporting a forecaster: a window of scaled observations in, the scaled forecast out.

The scaler stays outside the graph, its statistics in the sidecar JSON, as the run keeps them:
a consumer scales the window with them and unscales the forecast. Only the run directory is
read, not the training series, so a run exports after its data has moved.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from rnnkit.errors import ConfigError, ExportError
from rnnkit.export.graph import Exportable, TensorSpec, torch_layers_note
from rnnkit.forecast.pipeline import NEURAL, ForecastConfig, build_model, load_network
from rnnkit.nn.recurrent import MIN_CELLS
from rnnkit.registry.runs import read_run

RECIPES = {
    "direct": "forecast[:, k] is the scaled value k + 1 steps after the window",
    "one-step": "forecast[:, 0] is the scaled value one step after the window",
    "recursive": (
        "forecast[:, 0] is the scaled value one step after the window; for more steps, drop the "
        "window's oldest row, append the forecast as its newest, and call again"
    ),
}


def forecast_exportable(run_dir: str | Path, which: str = "best") -> Exportable:
    """A forecasting run (``rnnkit forecast train``) ready to export.

    Raises:
        ConfigError: ``which="last"``: a forecasting run keeps only its best weights.
        RunDirError: not a forecasting run, or a damaged one.
        ExportError: a model with no network (linear, naive, seasonal-naive), or a minRNN.
    """
    if which != "best":
        raise ConfigError(
            "a forecasting run keeps one set of weights (model.safetensors, the best on "
            "validation); drop --which last"
        )
    doc = read_run(run_dir, "forecast")
    config = doc.run_config(ForecastConfig)
    if config.model not in NEURAL:
        raise ExportError(
            f"this forecasting run's model is {config.model}, which has no network to export; "
            f"export a run of {', '.join(NEURAL)}"
        )
    if config.model in MIN_CELLS:
        raise ExportError(
            f"the {config.model} has no torch.nn equivalent that exports with a dynamic time "
            "axis; export an lstm, gru, rnn or mlp run"
        )
    model = exported = load_network(run_dir, doc, config).eval()
    fitted = doc.fitted  # what the run fitted besides weights: the columns and the scaler
    tau, H, columns = config.tau, config.model_horizon, fitted["columns"]
    F, notes = len(columns), []
    if config.backend != "torch" and config.model != "mlp":
        # Same reason as for language models: the scratch layers would unroll over time.
        exported = build_model(replace(config, backend="torch"), F).eval()
        exported.load_state_dict(model.state_dict())
        notes.append(torch_layers_note(config.backend, config.model))
    return Exportable(
        kind="forecast",
        module=exported,
        reference=model,
        inputs=(
            TensorSpec(
                "window",
                ("batch", tau, F),
                f"the last {tau} rows of the columns ({', '.join(columns)}), oldest first, each "
                "scaled as (value - scaler.center[j]) / scaler.scale[j]",
            ),
        ),
        outputs=(
            TensorSpec(
                "forecast",
                ("batch", H),
                f"the next {H} value(s) of {columns[0]}, scaled: value = forecast * "
                "scaler.scale[0] + scaler.center[0]",
            ),
        ),
        sample=lambda batch, time, gen: {"window": torch.randn(batch, tau, F, generator=gen)},
        meta={
            "task": "forecast",
            "model": {
                "model": config.model,
                "hidden": config.hidden_size,
                "layers": config.num_layers,
                "backend": config.backend,
                "residual": config.residual,
                "skip": config.skip,  # a fixed least-squares path inside the graph
                "exported_layers": "torch.nn",
            },
            "tau": tau,
            "horizon": H,
            "strategy": config.strategy,
            "recipe": RECIPES[config.strategy],
            "columns": columns,
            "target": columns[0],
            "period": fitted.get("period"),
            "scaler": fitted["scaler"],
        },
        notes=notes,
    )
