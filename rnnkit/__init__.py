"""rnnkit: recurrent sequence models, from the equations to trained tools."""

import importlib

# name -> module; imported on first use, so that `import rnnkit` (and every command that needs
# no model, such as `rnnkit --help`) does not pay for torch
_LAZY = {
    "LMConfig": "rnnkit.models.lm",
    "RNNLanguageModel": "rnnkit.models.lm",
    "RnnkitError": "rnnkit.errors",
    "Vocab": "rnnkit.text.vocab",
    "build_tokenizer": "rnnkit.text.tokenizers",
    "tune_allocator": "rnnkit.runtime",
}
__all__ = sorted(_LAZY)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
