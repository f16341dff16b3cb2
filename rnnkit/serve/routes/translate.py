"""``POST /translate``: encoder-decoder translation (runs of ``rnnkit seq2seq train``)."""

from __future__ import annotations

from rnnkit.errors import ConfigError
from rnnkit.seq2seq.translate import check_attention
from rnnkit.serve.deps import Models, ModelSlots, Settings, model_router, text_lines
from rnnkit.serve.schemas import AttentionOut, TranslateRequest, TranslateResponse
from rnnkit.serve.seq2seq import Translator

router = model_router("translation")


@router.post("/translate", response_model=TranslateResponse)
async def translate(
    body: TranslateRequest, models: Models, settings: Settings, slots: ModelSlots
) -> TranslateResponse:
    """Translate each line (as `rnnkit translate`), and optionally show where the decoder
    looked while translating one line (as `rnnkit seq2seq attention`)."""
    lines = text_lines(body.text, settings)
    model: Translator = models.pick(body.model, "/translate", "translation model")
    if body.attention:
        check_attention(model.config)
        if len(lines) != 1:
            raise ConfigError(
                f"attention is shown for one sentence; send one line with it, not {len(lines)}"
            )

    def work():
        hyps = model.translate(lines, body.beam, body.alpha, body.n_best)
        return hyps, model.attention(lines[0]) if body.attention else None

    hyps, att = await slots.run(work)
    attention = None
    if att is not None:
        attention = AttentionOut(source=att.source, target=att.target, weights=att.weights.tolist())
    translations = [h[0] if h else "" for h in hyps] if body.n_best == 1 else hyps
    return TranslateResponse(
        model=model.name,
        translations=translations,
        attention=attention,
        warnings=model.warnings(lines),
    )
