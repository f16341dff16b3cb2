"""A language model's generation in numpy: `rnnkit generate` without importing torch.

Importing torch takes longer than generating a hundred tokens from a small model, so the runs
this engine can compute exactly are read and run here: the run file, vocabulary and tokenizer
as JSON, the weights with ``safetensors.numpy`` (their checksum checked), and the model as
``RNNLanguageModel`` in eval mode computes it, one token at a time in float32:

    x_t = E[y_{t-1}]   (or one-hot)      embedding; dropout is off at inference
    h_t^k, c_t^k = cell(x, h_{t-1}^k)    each layer, torch.nn conventions (below)
    logits = W_dec h_t^L + b_dec         the decoder (the embedding's weight when tied)

Cells: RNN ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``; LSTM gates ``i|f|g|o``,
``c' = f * c + i * g``, ``h' = o * tanh(c')``; GRU gates ``r|z|n``,
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``. The two
backends (torch, scratch) share these weights. The prompt is read through the same step.
Tokens are chosen by ``rnnkit.infer.draw``, as on the torch path, so a seed gives the same text.

Anything else (the layer-norm LSTM, minGRU, minLSTM, beam search, a CUDA or MPS device) is
left to the torch path: ``ineligible`` says why, from the run file alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.infer.draw import choose, make_rng

CELLS = ("rnn", "lstm", "gru")  # the cells whose step is written here


class Ineligible(RnnkitError):
    """The numpy engine cannot run this generation exactly; the message says why."""


def ineligible(model: dict, device: str = "auto", beam: int = 1) -> str | None:
    """Why the numpy engine cannot generate from a model with these ``LMConfig`` fields, on
    ``device`` with ``beam``; None when it can."""
    if model.get("cell") not in CELLS:
        return f"its {model.get('cell')} cell has no numpy step (rnn, lstm and gru have one)"
    if beam != 1:
        return "beam search runs on torch"
    if device not in ("auto", "cpu"):
        return f"--device {device} runs on torch (the numpy engine runs on the CPU)"
    return None


@dataclass
class NumpyLM:
    """The weights of a language model, laid out for one-token steps (batch 1).

    ``table`` (V, G) is the first layer's input product of every token, ``E W_ih^T + b``
    (exact: the embedding and the product are both linear), with ``b = b_ih + b_hh`` but for
    the GRU, whose ``b_hn`` stays inside ``r * (...)``. Later layers keep ``w_ih`` (H, G) and
    ``b``; every layer has ``w_hh`` (H, G); the GRU also ``b_hh``. G is 4H (LSTM), 3H (GRU)
    or H (RNN).
    """

    cell: str
    table: np.ndarray
    w_ih: list[np.ndarray | None]
    b: list[np.ndarray | None]
    w_hh: list[np.ndarray]
    b_hh: list[np.ndarray] | None
    w_out: np.ndarray  # (H, V)
    b_out: np.ndarray  # (V,)

    @classmethod
    def from_tensors(
        cls, cell: str, num_layers: int, one_hot: bool, t: dict[str, np.ndarray]
    ) -> NumpyLM:
        """From the weights as the model names them (``rnn.weight_ih_l0``, ...); ``one_hot``:
        the model has no embedding and reads one-hot vectors."""
        gru = cell == "gru"

        def bias(k: int) -> np.ndarray:
            b_ih = t[f"rnn.bias_ih_l{k}"]
            return b_ih if gru else b_ih + t[f"rnn.bias_hh_l{k}"]

        w_ih0 = t["rnn.weight_ih_l0"]  # (G, E)
        emb = None if one_hot else t["embedding.weight"]
        table = (w_ih0.T if emb is None else emb @ w_ih0.T) + bias(0)  # one-hot: rows of W^T
        layers = range(num_layers)
        return cls(
            cell=cell,
            table=np.ascontiguousarray(table, dtype=np.float32),
            w_ih=[None] + [np.ascontiguousarray(t[f"rnn.weight_ih_l{k}"].T) for k in layers[1:]],
            b=[None] + [bias(k) for k in layers[1:]],
            w_hh=[np.ascontiguousarray(t[f"rnn.weight_hh_l{k}"].T) for k in layers],
            b_hh=[t[f"rnn.bias_hh_l{k}"] for k in layers] if gru else None,
            w_out=np.ascontiguousarray(t["decoder.weight"].T),
            b_out=t["decoder.bias"],
        )

    @property
    def hidden(self) -> int:
        return self.w_hh[0].shape[0]

    def init_state(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per layer ``(h, c)`` of zeros, (H,) each; ``c`` None but for the LSTM."""
        zeros = np.zeros(self.hidden, dtype=np.float32)
        return [(zeros, zeros if self.cell == "lstm" else None) for _ in self.w_hh]

    def _layer(self, k: int, gi: np.ndarray, h: np.ndarray, c: np.ndarray | None):
        """Layer ``k``'s new ``(h, c)`` from its input product ``gi`` (G,) and state."""
        if self.cell == "lstm":
            i, f, g, o = (gi + h @ self.w_hh[k]).reshape(4, -1)  # (H,) views: np.split is slower
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            return _sigmoid(o) * np.tanh(c), c
        if self.cell == "gru":
            ir, iz, in_ = gi.reshape(3, -1)
            hr, hz, hn = (h @ self.w_hh[k] + self.b_hh[k]).reshape(3, -1)
            r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
            n = np.tanh(in_ + r * hn)
            return n + z * (h - n), None  # (1 - z) * n + z * h
        return np.tanh(gi + h @ self.w_hh[k]), None

    def step(self, y_prev: int, state) -> tuple[np.ndarray, list]:
        """Logits (V,) float32 after token ``y_prev``, and the new state (``init_state``'s
        layout)."""
        x, new = None, []
        for k, (h, c) in enumerate(state):
            gi = self.table[y_prev] if k == 0 else x @ self.w_ih[k] + self.b[k]
            x, c = self._layer(k, gi, h, c)
            new.append((x, c))
        return x @ self.w_out + self.b_out, new

    def start(self, context: list[int]) -> tuple[np.ndarray, list]:
        """The logits after ``context`` (at least one id), read one token at a time."""
        state = self.init_state()
        for y in context:
            logits, state = self.step(y, state)
        return logits, state


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_ids(
    lm: NumpyLM,
    context: list[int],
    length: int,
    sampling: dict,
    seed: int | None = None,
    stop_id: int | None = None,
    banned: list[int] | None = None,
) -> Iterator[int]:
    """Up to ``length`` ids after ``context``, as ``rnnkit.infer.generate.generate_ids``
    samples them (``sampling``: temperature, top_k, top_p, checked); ``stop_id`` ends the
    text and is not yielded."""
    if length == 0:
        return
    rng = make_rng(seed)
    settings = (sampling["temperature"], sampling["top_k"], sampling["top_p"])
    logits, state = lm.start(context)
    for t in range(length):
        if banned:
            logits[banned] = -np.inf
        y = choose(logits, *settings, rng)
        if y == stop_id:
            return
        yield y
        if t + 1 < length:
            logits, state = lm.step(y, state)


def load(run_dir: str | Path, which: str = "best", device: str = "auto", beam: int = 1):
    """``(tokenizer, vocab, NumpyLM)`` of a language-model run, or ``Ineligible`` naming why
    the numpy engine does not run it: a model or setting it cannot compute, or a run it cannot
    read (the torch path then reads it, and names what is wrong with it)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from rnnkit.config import TrainConfig
    from rnnkit.integrity import digest_mismatch
    from rnnkit.registry.runs import LAST_WEIGHTS, WEIGHTS, read_run
    from rnnkit.text.tokenizers import build_tokenizer
    from rnnkit.text.vocab import Vocab

    run = Path(run_dir)
    try:
        doc = read_run(run, "lm")
        config = doc.run_config(TrainConfig)
        vocab = Vocab.load(run / "vocab.json")
        model = doc.model or config.model_fields(len(vocab))
        tokenizer = build_tokenizer(config.tokenizer or "char", config.lowercase)
    except (RnnkitError, OSError, ValueError) as e:
        raise Ineligible(f"the run does not read as a language-model run ({e})") from e
    why = ineligible(model, device, beam)
    if why:
        raise Ineligible(why)
    path = run / (WEIGHTS if which == "best" else LAST_WEIGHTS)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise Ineligible(f"{path} does not load ({e})") from e
    if model.get("tie_weights") and "decoder.weight" in tensors:
        tensors["embedding.weight"] = tensors["decoder.weight"]  # stored once, summed twice
    if digest_mismatch(path, tensors):
        raise Ineligible(f"{path} does not match its checksum")
    try:
        one_hot = model.get("embed_size") == 0
        lm = NumpyLM.from_tensors(model["cell"], int(model["num_layers"]), one_hot, tensors)
    except (KeyError, ValueError) as e:
        raise Ineligible(f"{path} does not fit the run's config ({e})") from e
    if any(w.dtype != np.float32 for w in (lm.table, lm.w_out, *lm.w_hh)):
        raise Ineligible(f"{path} is not float32")
    if lm.table.shape[0] != len(vocab) or lm.w_out.shape[1] != len(vocab):
        raise Ineligible(f"{path} does not fit the run's {len(vocab)}-token vocabulary")
    return tokenizer, vocab, lm
