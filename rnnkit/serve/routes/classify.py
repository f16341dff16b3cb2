"""``POST /classify``: sentence labels and token tags (runs of ``rnnkit classify train`` and
``rnnkit tag train``)."""

from __future__ import annotations

from rnnkit.classify.predict import LinePrediction
from rnnkit.serve.classify import Classifier
from rnnkit.serve.deps import Models, ModelSlots, Settings, model_router, text_lines
from rnnkit.serve.schemas import ClassifyRequest, ClassifyResponse, SentenceOut

router = model_router("classification")


@router.post("/classify", response_model=ClassifyResponse)
async def classify(
    body: ClassifyRequest, models: Models, settings: Settings, slots: ModelSlots
) -> ClassifyResponse:
    """Label each sentence (with its `top` most probable labels) and, for runs with a tagger,
    tag its tokens and list its entities: what `rnnkit classify predict --json` and
    `rnnkit tag predict --json` print."""
    lines = text_lines(body.text, settings)
    model: Classifier = models.pick(body.model, "/classify", "classification or tagging model")
    preds = await slots.run(model.predict, lines, body.top)
    return ClassifyResponse(
        model=model.name, task=model.task, sentences=[_sentence(p) for p in preds]
    )


def _sentence(pred: LinePrediction) -> SentenceOut:
    # The command line's JSON documents, merged: label fields from one, tag fields from the other.
    label = pred.label_doc()
    tagged = pred.tag_doc() if pred.tags is not None else {}
    return SentenceOut(
        text=pred.text,
        tokens=pred.tokens,
        label=label["label"],
        probability=label.get("probability"),
        top=label.get("top", []),
        tags=None if pred.tags is None else tagged.get("tags", []),
        entities=None if pred.tags is None else tagged.get("entities", []),
    )
