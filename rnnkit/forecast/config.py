"""The settings of a forecasting run, importable without torch (the command line builds its
flags from them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnkit.config import LoopConfig
from rnnkit.errors import ConfigError

NEURAL = ("mlp", "rnn", "lstm", "gru")
MODELS = (*NEURAL, "linear", "naive", "seasonal-naive")
STRATEGIES = ("direct", "recursive", "one-step")
DEFAULT_LAST = 200


@dataclass(frozen=True)
class ForecastConfig(LoopConfig):
    """Everything a forecasting run is made from; JSON-able and saved in the run directory."""

    data: str | None = None  # a registered series or "sine"
    csv: str | None = None
    time_col: str | None = None
    target: str | None = None
    features: list[str] = field(default_factory=list)
    fill: str | None = None
    period: int | None = None
    model: str = "lstm"
    strategy: str = "direct"
    tau: int = 24
    horizon: int = 1
    hidden_size: int = 64
    num_layers: int = 1
    backend: str = "torch"
    dropout: float = 0.0
    residual: bool = False  # forecast the change from the last observed value
    scaler: str = "standard"
    # The loop's defaults for forecasting: a budget of steps, as in NeuralForecast, rather
    # than of epochs, because an epoch of a short series (airline-passengers: 60 windows) is
    # one or two updates. At 3e-3 airline-passengers reaches its best validation MSE at step
    # 248 of the 1,000; epochs only caps a budget raised with --max-steps.
    batch_size: int = 32
    lr: float = 3e-3
    clip: float = 1.0
    lr_schedule: str = "constant"
    epochs: int = 100_000
    max_steps: int = 1000
    eval_every: int = 100

    def __post_init__(self):
        super().__post_init__()
        if (self.data is None) == (self.csv is None):
            raise ConfigError("give exactly one of --data NAME and --csv FILE")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}"
            )
        if self.strategy == "one-step" and self.horizon != 1:
            raise ConfigError(
                "one-step-ahead forecasts have horizon 1; use --strategy recursive or direct "
                f"for --horizon {self.horizon}"
            )
        if self.features and self.strategy == "recursive":
            raise ConfigError(
                "recursive forecasting needs future feature values; use --strategy direct with "
                "--features, or drop --features"
            )

    @property
    def model_horizon(self) -> int:
        """Outputs of the fitted model: the horizon for direct, 1 for the step-by-step ones."""
        return self.horizon if self.strategy == "direct" else 1
