"""``rnnkit export``: a trained model to a torch.export program, ONNX or TorchScript, with a
sidecar JSON."""

from __future__ import annotations

import click

from rnnkit.commands.common import CONTEXT, RUN_DIR, choice_option


@click.command("export", context_settings=CONTEXT)
@RUN_DIR
@click.option(
    "--format",
    "fmt",
    required=True,
    metavar="pt2|onnx|onnx-legacy|torchscript",
    # A plain string, checked by export_run, so that a wrong one is a one-line error.
    help="pt2: a torch.export program, for torch.export.load (and AOTInductor); onnx: for "
    "onnxruntime and other ONNX runtimes, from PyTorch's supported exporter (opset 18+); "
    "onnx-legacy: the TorchScript-based ONNX exporter (opsets 9-20); torchscript (legacy, "
    "deprecated by PyTorch): for torch.jit.load in Python or libtorch (C++).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Model file to write; the sidecar JSON goes beside it as OUT.json. A translation "
    "run writes a directory instead: OUT/encoder.FORMAT, OUT/decoder_step.FORMAT and "
    "OUT/manifest.json.",
)
@choice_option(
    "--which",
    ["best", "last"],
    "best",
    "Weights: best on validation (model.safetensors) or the last checkpoint "
    "(last.safetensors); a forecasting run keeps only its best.",
)
@click.option(
    "--opset",
    type=int,
    default=None,
    help="ONNX opset: 18 to 23 for onnx, 9 to 20 for onnx-legacy [default: torch's, 20].",
)
@click.option(
    "--check/--no-check",
    default=True,
    help="Run the file back (torch.export.load, onnxruntime or torch.jit.load) at lengths 1, 7 "
    "and 64 and batch sizes 1 and 3, carrying the state over two calls, and write it only if "
    "it gives rnnkit's outputs (within 1e-5 + 1e-4 relative).",
)
def export(run_dir, fmt, out, which, opset, check):
    """Export the model of a trained run to pt2, ONNX or TorchScript, with OUT.json beside it.

    \b
    Language-model runs (`rnnkit train`, `rnnkit poem train`) become a step function with
    the recurrent state passed explicitly:
      inputs  tokens (N, T) int64, h_0 (L, N, H) [, c_0 (L, N, H) for an LSTM]
      outputs logits (N, T, V), h_n (L, N, H) [, c_n (L, N, H)]
    with N and T free, so a prompt goes in as one call and each new token as another, and
    generation runs without Python. OUT.json holds the vocabulary, the tokenizer's rules, the
    model's shape, the names and shapes of the inputs and outputs, and the generation recipe.

    \b
    Forecasting runs (`rnnkit forecast train`, network models) become
      inputs  window (N, tau, F), scaled    outputs forecast (N, horizon), scaled
    with the scaler's statistics, the columns and the strategy in OUT.json.

    \b
    Classification and tagging runs (`rnnkit classify train`, `rnnkit tag train`; pt2 or onnx)
    become one program that labels a padded batch:
      inputs  words (N, S) int64, lengths (N,) int64 [, chars (N, S, W) int64]
      outputs label_logits (N, C) [classifier]; tag_emissions (N, S, T) and
              tags (N, S) [tagger: Viterbi under the CRF's scores for a CRF run,
              else each word's best tag; 0 past each length]
    OUT.json holds the vocabularies, the tokenizer's rule and the CRF's start,
    transition and end scores.

    \b
    Translation runs (`rnnkit seq2seq train`; pt2 or onnx) become two programs in the
    directory OUT, for greedy or beam search outside rnnkit:
      OUT/encoder.FORMAT       src (N, S), src_len (N,) -> enc_out, enc_keys, src_mask,
                               h_0 [, c_0]   (no attention: context, h_0 [, c_0])
      OUT/decoder_step.FORMAT  prev_token (N,), h_0, enc_out, enc_keys, src_mask [, c_0]
                               -> logits (N, V), h_n [, c_n], attention (N, S)
    The encoder's outputs feed the step's inputs of the same names; each *_n is fed
    back as *_0. OUT/manifest.json holds the vocabularies, the special token ids and
    the decoding recipe. The encoders of both kinds loop over time as scans, with every
    cell (rnn, lstm, gru, mingru, minlstm) on either backend.

    Runs on the scratch backend are exported through the equivalent torch.nn layers with the
    same weights (the scratch layers loop over time in Python and would be fixed to one
    length); the check compares the file with the scratch model itself. The layer-normalised
    LSTM (lnlstm) has no such equivalent and cannot be exported. minGRU and minLSTM runs
    (state h alone) export to pt2 and onnx only, each layer's loop over time one scan;
    TorchScript (onnx-legacy, torchscript) cannot trace it.

    pt2 and onnx come from torch.export: a language model is written with its loop over
    time as one scan (an ONNX Scan node), so the file takes any length (torch.export would
    otherwise fix the length of nn.LSTM/GRU/RNN inputs). onnx-legacy (one LSTM/GRU/RNN node
    per layer) and torchscript use TorchScript, which PyTorch deprecates.
    ONNX needs `pip install 'rnnkit[export]'` (onnx, onnxscript, and onnxruntime for the
    check).
    """
    from rnnkit.export import export_run

    report = export_run(run_dir, fmt, out, which=which, opset=opset, check=check)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    checked = ""
    if report.max_diff is not None:
        checked = f"; same outputs as rnnkit (largest difference {report.max_diff:.2g})"
    click.echo(f"wrote {report.out} ({report.format}) and {report.sidecar}{checked}")
