"""Perplexity and log-probabilities under a language model."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.data.lm_batches import eval_batches
from rnnkit.decode.search import decoding
from rnnkit.infer.lines import LineScore


def evaluate_loss(
    model,
    ids: np.ndarray,
    batch_size: int,
    seq_len: int,
    device="cpu",
    dist=None,
    autocast=contextlib.nullcontext,
    progress: bool = False,
) -> float:
    """Mean cross-entropy (nats per token) over ``ids``, state carried across batches.

    Perplexity is ``exp`` of this. The model is put in eval mode and restored afterwards.
    With ``dist`` (a ``rnnkit.train.distributed.Dist`` of several ranks) each rank scores its
    share of the streams and the sums are reduced, so every rank returns the same value.
    ``autocast`` is a context-manager factory entered around each forward pass. ``progress``
    shows a bar of the tokens scored.
    """
    from rnnkit.progress import progress_bar

    total, count, state = 0.0, 0, None
    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    streams = max(1, min(batch_size, len(ids) - 1))
    tokens = streams * ((len(ids) - 1) // streams)  # what eval_batches covers
    bar = progress_bar(tokens, enabled=progress, unit="tok", unit_scale=True)
    with decoding(model), bar:
        for x, y in eval_batches(ids, batch_size, seq_len, rank, world):
            x, y = x.to(device), y.to(device)
            with autocast():
                logits, _, state = model(x, None, state)
            logits = logits.float()
            flat = logits.reshape(-1, logits.size(-1))
            loss = F.cross_entropy(flat, y.reshape(-1), reduction="sum")
            total += loss.item()
            count += y.numel()
            bar.update(y.numel())
    if dist is not None:
        total, count = dist.sum([total, count])
    return total / max(count, 1)


@torch.no_grad()
def token_logprobs(model, context: list[int], ids: list[int], device="cpu") -> list[float]:
    """log p(ids[i] | context, ids[:i]) for every i; ``context`` sets the state first."""
    if not ids:
        return []
    model.eval()
    seq = torch.tensor([context + ids], dtype=torch.long, device=device)  # (1, C + L)
    logits, _, _ = model(seq[:, :-1], None, None)
    logp = F.log_softmax(logits[0, len(context) - 1 :].float(), dim=-1)  # (L, V)
    target = seq[0, len(context) :]
    return logp.gather(1, target[:, None]).squeeze(1).tolist()


def score_lines(model, tokenizer, vocab, lines: list[str], device="cpu") -> list[LineScore]:
    """Score each line independently, as a fresh line following the tokenizer's boundary."""
    context = [vocab.token_to_id(tokenizer.boundary)]
    scores = []
    for line in lines:
        ids = vocab.encode(tokenizer.tokenize(line + "\n")).tolist()
        lp = token_logprobs(model, context, ids, device)
        unknown = sum(i == vocab.unk_id for i in ids)
        scores.append(LineScore(line, len(ids), float(sum(lp)), lp, unknown))
    return scores
