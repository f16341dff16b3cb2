"""``POST /poem``: Tang poems from a poem language model (a run of ``rnnkit poem train``)."""

from __future__ import annotations

import random

from rnnkit.decode import as_field, search_settings
from rnnkit.errors import GenerationError
from rnnkit.serve.deps import Models, ModelSlots, Settings, check_limit, model_router
from rnnkit.serve.lm import SEED_RANGE, LanguageModel
from rnnkit.serve.schemas import PoemRequest, PoemResponse, sampling_fields

router = model_router("poems")


@router.post("/poem", response_model=PoemResponse)
async def poem(
    body: PoemRequest, models: Models, settings: Settings, slots: ModelSlots
) -> PoemResponse:
    """Write poems with form, acrostic, rhyme, start and style, as `rnnkit poem RUN_DIR`: the
    same seed gives the same poems."""
    for field in ("start", "style"):
        check_limit(field, getattr(body, field), settings, "max_prompt_chars")
    lm: LanguageModel = models.pick(body.model, "/poem", "poem model")
    # Checked here so that a refusal names the request's fields, not the command's flags.
    search_settings(body.beam, **sampling_fields(body), spell=as_field)
    if body.beam > 1 and body.num > body.beam:
        raise GenerationError(
            f"num {body.num} asks for more poems than beam {body.beam} keeps; send num <= beam"
        )
    seed = random.randrange(SEED_RANGE) if body.seed is None else body.seed
    poems = await slots.run(
        lm.poems,
        body.num,
        seed,
        body.script,
        form=body.form,
        start=body.start or "",
        acrostic=body.acrostic,
        style=body.style,
        rhyme=body.rhyme,
        beam=body.beam,
        **sampling_fields(body),
    )
    return PoemResponse(model=lm.name, poems=poems, seed=seed)
