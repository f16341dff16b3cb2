"""The settings of a forecasting run, importable without torch (the command line builds its
flags from them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnkit.config import LoopConfig
from rnnkit.errors import ConfigError

NEURAL = ("mlp", "rnn", "lstm", "gru", "mingru", "minlstm")
LINEAR = ("linear", "nlinear", "dlinear")  # fitted by least squares
MODELS = (*NEURAL, *LINEAR, "naive", "seasonal-naive")
# The closed-form path a network is added to: its output layer starts at zero, so training
# starts from that fit (see ``rnnkit.forecast.models.SkipForecaster``).
SKIPS = ("nlinear", "linear", "none")
STRATEGIES = ("direct", "recursive", "one-step")
# Rows a plot draws by default: ETTh1's test split has 2,857, and at that width a 24-step
# forecast is a few pixels; 200 rows show the horizon against the days before it.
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
    # nlinear: measured on ETTh1 (BENCHMARKS.md), the plain linear skip loses at 336 and 720
    # hours where NLinear's level shift keeps it close to the series.
    skip: str = "nlinear"
    split: str | None = None  # a CSV's "train,valid[,test]" fractions, e.g. "0.7,0.1,0.2"
    test_from: str | None = None  # a CSV's first test time (a date, or a number)
    scaler: str = "standard"
    # The loop's defaults for forecasting: a budget of steps, as in NeuralForecast, rather
    # than of epochs, because an epoch of a short series (airline-passengers: 60 windows) is
    # one or two updates; epochs only caps a budget raised with --max-steps. On the NLinear
    # skip path 1e-3 against 3e-3, seed 0, test MSE: airline 0.208 vs 0.228, temperatures
    # 0.4325 vs 0.4342, ETTh1 336 h 0.0865 both, 720 h 0.0832 vs 0.0829 (BENCHMARKS.md).
    batch_size: int = 32
    lr: float = 1e-3
    clip: float = 1.0
    lr_schedule: str = "constant"
    epochs: int = 100_000
    max_steps: int = 1000
    eval_every: int = 100

    def __post_init__(self):
        super().__post_init__()
        if (self.data is None) == (self.csv is None):
            raise ConfigError("give exactly one of --data NAME and --csv FILE")
        self._check_choice("model", MODELS)
        self._check_choice("strategy", STRATEGIES)
        if self.strategy == "one-step" and self.horizon != 1:
            raise ConfigError(
                "one-step-ahead forecasts have horizon 1; use --strategy recursive or direct "
                f"for --horizon {self.horizon}"
            )
        self._check_choice("skip", SKIPS)
        if self.residual and self.skip != "none" and self.model in NEURAL:
            raise ConfigError(
                f"--residual is for --skip none (the {self.skip} skip path already carries the "
                "level); drop --residual or pass --skip none"
            )
        if self.csv is None and (self.split or self.test_from):
            flag = "--split" if self.split else "--test-from"
            raise ConfigError(
                f"{flag} is for --csv files; a registered series keeps its standard split"
            )
        _ = self.split_fractions  # refuse a malformed --split now, not after loading the data
        if self.features and self.strategy == "recursive":
            raise ConfigError(
                "recursive forecasting needs future feature values; use --strategy direct with "
                "--features, or drop --features"
            )

    @property
    def split_fractions(self) -> tuple[float, ...]:
        """``--split`` as numbers: (train, valid) or (train, valid, test); (0.7, 0.1) unset."""
        if not self.split:
            return (0.7, 0.1)
        try:
            parts = tuple(float(p) for p in str(self.split).split(","))
        except ValueError:
            parts = ()
        if len(parts) not in (2, 3):
            raise ConfigError(
                f"--split takes two or three comma-separated fractions (train,valid[,test]), "
                f"got {self.split!r}; e.g. --split 0.7,0.1,0.2"
            )
        return parts

    @classmethod
    def upgrade_saved(cls, d: dict) -> dict:
        """A saved run's config: runs written before the skip path had none."""
        return d if "skip" in d else {**d, "skip": "none"}

    @property
    def model_horizon(self) -> int:
        """Outputs of the fitted model: the horizon for direct, 1 for the step-by-step ones."""
        return self.horizon if self.strategy == "direct" else 1
