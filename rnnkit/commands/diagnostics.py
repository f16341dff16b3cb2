"""``rnnkit grad-flow``: vanishing and exploding gradients, measured and plotted."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rnnkit.commands.common import CONTEXT, choice_option, json_option, language_model_run
from rnnkit.config import BACKEND_NAMES


@click.command("grad-flow", context_settings=CONTEXT)
@click.option(
    "--model",
    "--cell",
    "models",
    multiple=True,
    type=click.Choice(["rnn", "lstm", "gru", "lnlstm", "mingru", "minlstm"]),
    help="Cell types to compare (repeatable) [default: rnn, lstm and gru]; mingru and minlstm "
    "are the minimal cells whose gates read the input alone.",
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(),
    default=None,
    help="Measure a trained run on its validation text instead of fresh models.",
)
@click.option("--seq-len", default=100, help="Time steps back from the loss.")
@click.option("--hidden-size", default=128, help="Hidden units of the fresh models.")
@click.option("--num-layers", default=1, help="Layers of the fresh models.")
@click.option("--batch-size", default=16, help="Sequences the norms are averaged over.")
@choice_option(
    "--backend", BACKEND_NAMES, "torch", "Recurrent layer implementation of the fresh models."
)
@click.option(
    "--forget-bias",
    default=0.0,
    help="Initial forget-gate bias of the fresh LSTM, lnlstm and minlstm models (1.0 keeps "
    "memory open).",
)
@click.option("--seed", default=0, help="Seed of the weights and of the tokens drawn.")
@click.option(
    "--out",
    default="grad-flow.png",
    type=click.Path(dir_okay=False),
    help="PNG of ||dL/dh_t|| against t, log scale.",
)
@json_option("Print the norms as one JSON object; its plot field is the PNG's absolute path.")
def grad_flow(models, run_dir, seq_len, batch_size, seed, out, as_json, **fresh):
    """Norm of dL/dh_t for every step t when the loss sits at the last step.

    A plain RNN's gradient shrinks geometrically going back in time (vanishing gradients);
    gated cells keep a path along which it need not. Fresh models use random tokens (vocab 65);
    --run uses a trained model and its own data.
    """
    from rnnkit.diagnostics.grad_flow import clipping_summary, measure, plot, run_flow, summary

    if run_dir:
        with language_model_run(run_dir):
            flows = [run_flow(run_dir, seq_len, batch_size, seed)]
        title = f"gradient flow of {run_dir}"
    else:  # fresh: --hidden-size, --num-layers, --backend and --forget-bias, as measure names them
        flows = [
            measure(m, 65, seq_len=seq_len, batch_size=batch_size, seed=seed, **fresh)
            for m in (models or ("rnn", "lstm", "gru"))
        ]
        title = f"gradient flow, fresh {fresh['num_layers']}x{fresh['hidden_size']} models"
    plot(flows, out, title)
    plot_path = str(Path(out).resolve())  # where the PNG is, whatever the working directory
    rows = [summary(f) for f in flows]
    clipping = clipping_summary(run_dir) if run_dir else None
    if as_json:
        click.echo(
            json.dumps(
                {"seq_len": seq_len, "plot": plot_path, "models": rows, "clipping": clipping}
            )
        )
        return
    click.echo(f"||dL/dh_t|| with the loss at step {seq_len} (t = 1 is the furthest back):")
    for r in rows:
        growth = r["log10_decay_per_step"]  # log10 of the factor from t to t+1
        back = f"shrinks {10**growth:.3f}x per step back" if growth is not None else "n/a"
        click.echo(
            f"  {r['cell']:<24s} t=1: {r['first']:.3e}  t={seq_len}: {r['last']:.3e}  ({back})"
        )
    if clipping:
        b, a = clipping["before"], clipping["after"]
        click.echo(
            f"training gradient norm over {clipping['logged_steps']} logged steps: before "
            f"clipping median {b['median']:.3g}, max {b['max']:.3g}; after clipping at "
            f"{clipping['clip']:g}: median {a['median']:.3g}, max {a['max']:.3g} "
            f"({100 * clipping['clipped_fraction']:.0f}% of steps clipped)"
        )
    click.echo(f"plot: {plot_path}")
