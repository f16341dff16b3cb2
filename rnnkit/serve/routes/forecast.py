"""``POST /forecast``: time-series forecasts (runs of ``rnnkit forecast train``)."""

from __future__ import annotations

from rnnkit.serve.deps import Models, ModelSlots, Settings, check_limit, field_error, model_router
from rnnkit.serve.forecast import Forecaster
from rnnkit.serve.schemas import ForecastRequest, ForecastResponse

router = model_router("forecasting")


@router.post("/forecast", response_model=ForecastResponse)
async def forecast(
    body: ForecastRequest, models: Models, settings: Settings, slots: ModelSlots
) -> ForecastResponse:
    """Forecast the next `horizon` values after the run's own series (as
    `rnnkit forecast predict`) or after a history sent in the request."""
    history = body.history
    check_limit("history", history, settings, "max_items")
    model: Forecaster = models.pick(body.model, "/forecast", "forecasting model")
    if history is not None:
        model.check_history()
        if len(history) < model.tau:
            msg = f"List should have at least {model.tau} items (the model reads the last tau)"
            raise field_error("history", "too_short", msg, min_length=model.tau)
    horizon = model.run.config.horizon if body.horizon is None else body.horizon
    out = await slots.run(model.forecast, history, horizon)
    return ForecastResponse(
        model=model.name,
        target=model.columns[0],
        horizon=horizon,
        history=out.history,
        forecast=out.values,
        times=out.times,
    )
