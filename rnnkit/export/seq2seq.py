"""Exporting a translation model as two programs: the encoder and one decoder step.

The encoder reads a padded batch of source ids once and returns everything the decoder reads
about it (named as the decoder step's inputs, so its outputs feed those by name); the decoder
step turns the previous target token and the state into next-token logits and the new state.
Greedy search, beam search or sampling then run outside rnnkit, as with joeynmt's or Hugging
Face's encoder-decoder exports. The encoder's loop over time is a scan per layer and direction
(``padded.PaddedScan``), so batch and source length stay free; the step has no loop.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rnnkit.decode import reserved_ids
from rnnkit.export.graph import Bundle, Exportable, TensorSpec
from rnnkit.export.padded import ENCODER_LAYERS, load_which, padded_mask, random_lengths, scan_twin
from rnnkit.seq2seq.models import Memory, Seq2Seq
from rnnkit.seq2seq.train import load_run
from rnnkit.text import vocab as special

# rnnkit's translation defaults: at most floor(a * source length + b) target tokens.
MAX_LEN_A, MAX_LEN_B, ALPHA = 1.5, 10, 0.6


def _state_names(cell: str) -> tuple[str, ...]:
    return ("h_0", "c_0") if cell == "lstm" else ("h_0",)


class EncoderProgram(nn.Module):
    """``Seq2Seq.encode`` as a function of tensors.

    Inputs: ``src`` (N, S) int64, ``src_len`` (N,).

    Outputs: with attention ``enc_out`` (N, S, C), ``enc_keys`` (N, S, A), ``src_mask``
    (N, S) bool; without, ``context`` (N, C); then the decoder's first state ``h_0``
    (L, N, H) [, ``c_0``].

    Args:
        checked: run ``encode``'s checks of the lengths (rnnkit's side of the comparison);
            False for the exported program, where they cannot be traced.
    """

    def __init__(self, model: Seq2Seq, checked: bool):
        super().__init__()
        self.model, self.checked = model, checked

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        m = (self.model.encode if self.checked else self.model.memory)(src, src_len)
        state = m.state if isinstance(m.state, tuple) else (m.state,)
        if self.model.attention is None:
            return (m.context, *state)
        return (m.outputs, m.proj_keys, m.mask, *state)


class DecoderStep(nn.Module):
    """``Seq2Seq.step`` as a function of tensors, for a decoder with attention.

    Inputs: ``prev_token`` (N,) int64, ``h_0`` (L, N, H), the encoder's ``enc_out``,
    ``enc_keys`` and ``src_mask``, then for an LSTM ``c_0`` (L, N, H).

    Outputs: ``logits`` (N, V), ``h_n`` [, ``c_n``], ``attention`` (N, S).
    """

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model

    def forward(self, prev_token, h_0, enc_out, enc_keys, src_mask, c_0=None):
        state = h_0 if c_0 is None else (h_0, c_0)
        return self.run(prev_token, Memory(enc_out, src_mask, enc_keys, None, state))

    def run(self, prev_token: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, ...]:
        logits, state, weights = self.model.step(prev_token, memory.state, memory)
        out = (logits, *(state if isinstance(state, tuple) else (state,)))
        return out if weights is None else (*out, weights)


class ContextStep(DecoderStep):
    """``DecoderStep`` for a decoder without attention, which reads one fixed context.

    Inputs: ``prev_token`` (N,), ``h_0`` (L, N, H), ``context`` (N, C) [, ``c_0``].

    Outputs: ``logits`` (N, V), ``h_n`` [, ``c_n``].
    """

    def forward(self, prev_token, h_0, context, c_0=None):
        state = h_0 if c_0 is None else (h_0, c_0)
        return self.run(prev_token, Memory(None, None, None, context, state))


def seq2seq_exportable(run_dir: str | Path, which: str = "best") -> Bundle:
    """A translation run (``rnnkit seq2seq train``) ready to export: ``encoder`` and
    ``decoder_step``.

    Raises:
        RunDirError: not a complete run, or no last.safetensors for ``which="last"``.
    """
    config, src_vocab, tgt_vocab, model = load_run(run_dir)
    load_which(model, run_dir, which)
    twin = scan_twin(model, Seq2Seq, "encoder")
    parts = {"encoder": _encoder(model, twin), "decoder_step": _decoder_step(model, twin)}
    return Bundle("seq2seq", parts, _meta(config, model.config, src_vocab, tgt_vocab))


def _encoder(model: Seq2Seq, twin: Seq2Seq) -> Exportable:
    """The encoder program: ``twin``'s, checked against ``model``'s."""
    c = model.config

    def sample(batch: int, time: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        lengths = random_lengths(batch, time, gen)
        ids = torch.randint(1, c.src_vocab, (batch, time), generator=gen)
        return {"src": ids * padded_mask(lengths, time), "src_len": lengths}

    states = [_state_spec(c, n, "the decoder's first state") for n in _state_names(c.cell)]
    ids = "source ids closed by <eos>, padded with <pad>"
    return Exportable(
        kind="seq2seq",
        reference=EncoderProgram(model, checked=True).eval(),
        inputs=(
            TensorSpec("src", ("batch", "src_len"), ids, dtype="int64"),
            TensorSpec("src_len", ("batch",), "each source's length with its <eos>", dtype="int64"),
        ),
        outputs=(*_memory_specs(c), *states),
        sample=sample,
        program=EncoderProgram(twin, checked=False).eval(),
    )


def _decoder_step(model: Seq2Seq, twin: Seq2Seq) -> Exportable:
    """The decoder-step program: ``twin``'s, checked against ``model``'s."""
    c = model.config
    L, H, C = c.layers, c.hidden, c.context_size
    state = _state_names(c.cell)

    def sample(batch: int, time: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        feed = {"prev_token": torch.randint(0, c.tgt_vocab, (batch,), generator=gen)}
        for name in state:  # a non-zero state, so that the state path is checked too
            feed[name] = 0.5 * torch.randn(L, batch, H, generator=gen)
        if c.attention == "none":
            return feed | {"context": torch.randn(batch, C, generator=gen)}
        mask = padded_mask(random_lengths(batch, time, gen), time)
        feed["enc_out"] = torch.randn(batch, time, C, generator=gen) * mask.unsqueeze(-1)
        feed["enc_keys"] = torch.randn(batch, time, H, generator=gen)
        return feed | {"src_mask": mask}

    outputs = [TensorSpec("logits", ("batch", c.tgt_vocab), "next-token scores")]
    outputs += [_state_spec(c, n.replace("_0", "_n"), "the state after this step") for n in state]
    if c.attention != "none":
        outputs.append(TensorSpec("attention", ("batch", "src_len"), "this step's attention"))
    step_class = ContextStep if c.attention == "none" else DecoderStep
    return Exportable(
        kind="seq2seq",
        reference=step_class(model).eval(),
        inputs=(
            TensorSpec(
                "prev_token", ("batch",), "the previous target id (<bos> first)", dtype="int64"
            ),
            _state_spec(c, "h_0", "the encoder's, then the last step's h_n"),
            *_memory_specs(c),
            *(_state_spec(c, "c_0", "the encoder's, then the last step's c_n") for _ in state[1:]),
        ),
        outputs=tuple(outputs),
        sample=sample,
        state=tuple((n, n.replace("_0", "_n")) for n in state),
        program=step_class(twin).eval(),
    )


def _state_spec(c, name: str, doc: str) -> TensorSpec:
    what = "hidden" if name.startswith("h") else "cell"
    return TensorSpec(name, (c.layers, "batch", c.hidden), f"{what} state: {doc}")


def _memory_specs(c) -> tuple[TensorSpec, ...]:
    """What the encoder returns about the source and every decoder step reads."""
    if c.attention == "none":
        return (TensorSpec("context", ("batch", c.context_size), "fixed context"),)
    return (
        TensorSpec("enc_out", ("batch", "src_len", c.context_size), "encoder outputs"),
        TensorSpec(
            "enc_keys",
            ("batch", "src_len", c.hidden),
            "the attention's projection of enc_out, computed once per source",
        ),
        TensorSpec("src_mask", ("batch", "src_len"), "True at each source's tokens", dtype="bool"),
    )


def _meta(config, c, src_vocab, tgt_vocab) -> dict:
    """The sidecar's model, tokenizer, vocabularies and decoding recipe."""

    def vocab(v) -> dict:
        ids = {f"{t.strip('<>')}_id": v.id_of(t) for t in special.RESERVED if t in v}
        return {"tokens": list(v.itos), "reserved": list(v.reserved), **ids}

    return {
        "task": "translation",
        "model": {
            "cell": c.cell,
            "num_layers": c.layers,
            "hidden_size": c.hidden,
            "embed_size": c.embed,
            "bidirectional": c.bidirectional,
            "attention": c.attention,
            "backend": c.backend,
            "exported_layers": ENCODER_LAYERS,
        },
        "tokenizer": {
            "src_lang": config.src_lang,
            "tgt_lang": config.tgt_lang,
            "lowercase": config.lowercase,
            "tokenize": config.tokenize,
            "max_len": config.max_len,
            "split": "lower-case the line if lowercase; split it on whitespace (tokenize "
            "whitespace) or into Moses tokens in src_lang (tokenize moses); keep the first "
            "max_len tokens; look each up in vocab.source (unknown: unk_id); append eos_id",
            "join": "drop pad, bos and eos; join the target tokens with one space",
        },
        "vocab": {"source": vocab(src_vocab), "target": vocab(tgt_vocab)},
        "decoding": {
            "bos_id": tgt_vocab.id_of(special.BOS),
            "eos_id": tgt_vocab.id_of(special.EOS),
            "never_generated": reserved_ids(tgt_vocab, keep=[special.EOS]),
            "max_len_a": MAX_LEN_A,
            "max_len_b": MAX_LEN_B,
            "alpha": ALPHA,
            "recipe": (
                "Run encoder(src, src_len) once. Then from prev_token = bos_id and the "
                "encoder's outputs, call decoder_step repeatedly, feeding each output named "
                "*_n back as the input *_0 and the encoder's other outputs unchanged: rule out "
                "the never_generated ids in logits, take the argmax as the next token, and stop "
                "at eos_id (not part of the translation) or after floor(max_len_a * src_len + "
                "max_len_b) steps. That is rnnkit's greedy search (--beam 1). Beam search: "
                "score a hypothesis by the sum of its tokens' log_softmax(logits) (eos "
                "included, never_generated ids ruled out), divide a finished one's score by "
                "((5 + steps) / 6) ** alpha with steps counting its eos, and reorder the rows "
                "of every *_0 input and encoder output with the beams (rnnkit's --beam K also "
                "keeps the greedy hypothesis in the running)."
            ),
        },
    }
