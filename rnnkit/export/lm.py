"""Exporting a language model as a step function with its recurrent state in and out.

One call reads ``tokens`` (N, T) and the state, and returns the logits at every position and the
state after the last token. Feeding a prompt in one call and then one token per call is all
generation needs, so it can run outside Python; the sidecar JSON carries the vocabulary and
the tokenizer's rules.

``torch.export`` (``--format pt2`` and ``onnx``) traces ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
into one cell per time step of the example, which fixes the length. Written with ``torch``'s
``scan`` operator (``ScanStep``), the loop over time stays one node of the program, and the
same program takes a whole prompt in one call and then one token per call. Its arithmetic is
the generation fast path's (``rnnkit.decode.packed.PackedStep``: the first layer's input
product as a table lookup, weights transposed once), with the packed tensors held as buffers
so that the program carries them. A minGRU / minLSTM runs its layers as ``PaddedScan`` s of
``padded.py`` instead (``lm_exportable``), each over the gates of every step, computed before
the loop in one product.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch._higher_order_ops.scan import scan

from rnnkit.decode.packed import FAST_CELLS, PackedStep
from rnnkit.errors import ExportError
from rnnkit.export.formats import PROGRAM_FORMATS
from rnnkit.export.graph import Exportable, TensorSpec, torch_layers_note
from rnnkit.export.padded import PaddedScan, check_which
from rnnkit.infer.generate import unseen_reserved
from rnnkit.models.lm import RNNLanguageModel
from rnnkit.nn.recurrent import MIN_CELLS
from rnnkit.poetry.run import is_poem_run
from rnnkit.text.tokenizers import _CJK_TOKEN
from rnnkit.train.checkpoint import load_for_inference

# How each tokenizer cuts text, in words a consumer can implement; "join" rebuilds text.
SPLIT_RULES = {
    "char": {"split": "one token per Unicode code point", "join": ""},
    "word": {
        "split": "per line (lower-cased first if lowercase): the whitespace-separated words, "
        "then the boundary token",
        "join": " ",
    },
    "chinese-char": {
        "split": "per line: every match of the regular expression `pattern`, then the "
        "boundary token",
        "pattern": _CJK_TOKEN.pattern,
        "join": "",
    },
}


class StateStep(nn.Module):
    """One call of a language model with its recurrent state passed explicitly.

    Inputs: ``tokens`` (N, T) int64, then ``h_0`` (L, N, H) and, for an LSTM, ``c_0`` (L, N, H).
    Outputs: ``logits`` (N, T, V), then ``h_n`` and, for an LSTM, ``c_n`` (L, N, H).
    """

    def __init__(self, model: RNNLanguageModel):
        super().__init__()
        self.model = model
        self.lstm = model.config.cell in ("lstm", "lnlstm")

    def forward(self, tokens: torch.Tensor, h_0: torch.Tensor, c_0: torch.Tensor | None = None):
        # An LSTM's state is the pair (h, c); the other cells' is h alone.
        logits, _, out = self.model(tokens, state=(h_0, c_0) if self.lstm else h_0)
        return (logits, *out) if self.lstm else (logits, out)


class ScanStep(nn.Module):
    """``StateStep``'s computation, inputs and outputs, with one scan over time.

    Raises:
        ExportError: a cell without a packed step (the layer-normalised LSTM).
    """

    def __init__(self, model):
        super().__init__()
        if model.config.cell not in FAST_CELLS:
            raise ExportError(
                f"a {model.config.cell} model has no scan form for torch.export; export an "
                f"{', '.join(FAST_CELLS)} run, or use --format onnx"
            )
        with torch.no_grad():
            self.packed = PackedStep(model)
        self.names = list(self.packed.tensors())
        for name, tensor in self.packed.tensors().items():
            self.register_buffer(name, tensor.detach().clone())
        self.lstm = self.packed.cell == "lstm"

    def forward(self, tokens: torch.Tensor, h_0: torch.Tensor, c_0: torch.Tensor | None = None):
        # The step reads this module's buffers, which the exporter traces as the program's.
        p = self.packed.bind({name: getattr(self, name) for name in self.names})
        gi = p.table[tokens].transpose(0, 1)  # (T, N, G): each token's first input product

        def body(carry, g):  # carry: (h,) or (h, c), each (L, N, H); g: (N, G)
            hs, cs = p.layers_step(g, carry[0], carry[1] if self.lstm else None)
            nxt = (torch.stack(hs), torch.stack(cs)) if self.lstm else (torch.stack(hs),)
            return nxt, hs[-1].clone()  # scan's outputs may not alias its carry

        final, top = scan(body, (h_0, c_0) if self.lstm else (h_0,), gi)  # top: (T, N, H)
        logits = top.transpose(0, 1) @ p.w_out + p.b_out  # (N, T, V)
        return (logits, *final)


def on_torch_layers(model: RNNLanguageModel) -> RNNLanguageModel:
    """``model`` if its recurrent layers are ``torch.nn``'s, else a copy on them, same weights.

    The scratch layers loop over time in Python, so a trace would unroll them to the example's
    length; ``torch.nn.LSTM`` and friends trace to one ``aten::lstm`` call (one ONNX ``LSTM``
    node) that takes any length. Both backends share parameter names, so the weights move as
    they are.

    Raises:
        ExportError: the layer-normalised LSTM, minGRU and minLSTM, which ``torch.nn`` has no
            equivalent of (a minGRU or minLSTM exports as a scan: ``lm_exportable``).
    """
    c = model.config
    if c.cell in MIN_CELLS:  # checked first: both backends run rnnkit's own layer
        raise ExportError(
            f"the {c.cell} has no torch.nn equivalent; it exports as a scan over time, to "
            f"{' and '.join(PROGRAM_FORMATS)} only"
        )
    if c.backend == "torch":
        return model
    if c.cell == "lnlstm":
        raise ExportError(
            "the layer-normalised LSTM (lnlstm) has no torch.nn equivalent that exports with a "
            "dynamic time axis; export an lstm, gru or rnn run"
        )
    twin = RNNLanguageModel(replace(c, backend="torch"))
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def lm_exportable(run_dir: str | Path, which: str = "best") -> Exportable:
    """A language-model run (``rnnkit train``, ``rnnkit poem train``) ready to export.

    Args:
        which: ``best`` (model.safetensors) or ``last`` (last.safetensors).

    Raises:
        RunDirError: not a complete run, or no last.safetensors for ``which="last"``.
        ExportError: a cell that cannot be exported (lnlstm).
    """
    check_which(run_dir, which)
    _, tokenizer, vocab, model = load_for_inference(run_dir, "cpu", which)
    c = model.config
    scanned = c.cell in MIN_CELLS
    if scanned:
        # A minRNN has no torch.nn twin to trace: it exists as its scan program alone (a copy
        # whose layers run as one PaddedScan over time each), which the TorchScript-based
        # formats cannot carry.
        twin = copy.deepcopy(model).eval()
        twin.rnn = PaddedScan(twin.rnn, c.cell)
        module, program, notes = None, StateStep(twin), []
    else:
        exported = on_torch_layers(model)
        module, program = StateStep(exported).eval(), ScanStep(model)
        notes = [] if exported is model else [torch_layers_note(c.backend, c.cell)]
    lstm = c.cell in ("lstm", "lnlstm")
    state = (("h_0", "h_n"), ("c_0", "c_n")) if lstm else (("h_0", "h_n"),)
    L, H, V = c.num_layers, c.hidden_size, c.vocab_size

    def sample(batch: int, time: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        feed = {"tokens": torch.randint(0, V, (batch, time), generator=gen)}
        for name_in, _ in state:  # a non-zero state, so that the state path is checked too
            feed[name_in] = 0.5 * torch.randn(L, batch, H, generator=gen)
        return feed

    inputs, outputs = _tensors(L, H, V, state)
    return Exportable(
        kind="lm",
        module=module,
        reference=StateStep(model).eval(),
        inputs=inputs,
        outputs=outputs,
        sample=sample,
        state=state,
        meta={
            "task": "poem" if is_poem_run(run_dir) else "text",
            "model": {
                "cell": c.cell,
                "num_layers": L,
                "hidden_size": H,
                "vocab_size": V,
                "embed_size": c.embed_size if c.embed_size is not None else H,  # 0: one-hot
                "tie_weights": c.tie_weights,
                "backend": c.backend,
                "exported_layers": "rnnkit (scan)" if scanned else "torch.nn",
            },
            **_text_meta(tokenizer, vocab),
        },
        notes=notes,
        program=program.eval(),
    )


def _tensors(L: int, H: int, V: int, state) -> tuple[tuple[TensorSpec, ...], ...]:
    """``(inputs, outputs)`` of the step function."""
    scores = "next-token scores (log-probabilities up to a constant) after every position"
    inputs = [TensorSpec("tokens", ("batch", "time"), "token ids, oldest first", dtype="int64")]
    outputs = [TensorSpec("logits", ("batch", "time", V), scores)]
    for name_in, name_out in state:
        what = "hidden state" if name_in == "h_0" else "cell state"
        inputs.append(TensorSpec(name_in, (L, "batch", H), f"{what} per layer; zeros to start"))
        after = f"{what} after the last token; pass it as {name_in} to the next call"
        outputs.append(TensorSpec(name_out, (L, "batch", H), after))
    return tuple(inputs), tuple(outputs)


def _text_meta(tokenizer, vocab) -> dict:
    """The sidecar's tokenizer, vocabulary and generation recipe."""
    boundary = tokenizer.boundary
    return {
        "tokenizer": {
            **tokenizer.to_dict(),
            "boundary": boundary,
            **SPLIT_RULES[tokenizer.name],
            "decode": "join the tokens with `join`; the boundary token ends a line",
        },
        "vocab": {
            "tokens": list(vocab.itos),
            "reserved": list(vocab.reserved),
            "unk_id": vocab.unk_id,
            "never_sampled": unseen_reserved(vocab),
        },
        "generation": {
            "start_id": vocab.id_of(boundary) if boundary in vocab else None,
            "recipe": (
                "Start with zero state. Feed start_id followed by the prompt's token ids "
                "(unknown tokens as unk_id; a word or chinese-char prompt that does not end "
                "with a line end drops its closing boundary token) in one call. Then repeat: "
                "take the logits at the last position, rule out the never_sampled ids, pick "
                "the next id (argmax for greedy decoding, or sample from softmax(logits / "
                "temperature)) and feed it alone, with the state the last call returned."
            ),
        },
    }
