"""rnnkit: recurrent sequence models, from the equations to trained tools."""

from rnnkit.errors import RnnkitError
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.runtime import tune_allocator
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import Vocab

__all__ = [
    "LMConfig",
    "RNNLanguageModel",
    "RnnkitError",
    "Vocab",
    "build_tokenizer",
    "tune_allocator",
]
__version__ = "0.1.0"
