"""Tang poetry quality: held-out perplexity per preset, form validity, acrostics, rhyme,
copying from the training set, and generation speed.

For each preset: `rnnkit poem train --form regular --preset P --max-minutes M` (the four
regular forms, a fixed 5% of poems held out), then from the best checkpoint:

- held-out perplexity (`rnnkit eval RUN --split valid`) and training time;
- form validity: the share of N poems per form that match it, generated with constrained
  decoding (`--form`) and without it (free sampling, counted when the poem happens to be of
  that form; the model was trained on the four forms only);
- acrostic correctness: each line starts with the asked character (random 4-character acrostics);
- rhyme rate of the even lines with and without `--rhyme`;
- copying: the share of generated lines (characters without the mark) found verbatim in the
  training poems;
- poems per second, one at a time and batched.

    python bench/poetry.py --presets small --minutes 30 --num 1000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, threads_option, use_threads  # noqa: E402

from rnnkit.commands.poem import load_poem_run  # noqa: E402
from rnnkit.poetry.data import poem_lines  # noqa: E402
from rnnkit.poetry.decoding import FORMS, PoemDecoder, check_form, rhymes  # noqa: E402

RNNKIT = [sys.executable, "-m", "rnnkit"]


def train(preset: str, minutes: float, runs: Path) -> tuple[Path, float]:
    out = runs / f"tang-{preset}"
    t0 = time.perf_counter()
    cmd = [*RNNKIT, "poem", "train", "--form", "regular", "--preset", preset]
    cmd += ["--max-minutes", str(minutes), "--epochs", "100", "--quiet", "--overwrite"]
    subprocess.run([*cmd, "--out", str(out)], check=True)
    return out, time.perf_counter() - t0


def perplexity(run: Path) -> float:
    res = subprocess.run(
        [*RNNKIT, "eval", str(run), "--split", "valid", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout)["perplexity"]


def training_lines(run: Path) -> set[str]:
    text = (run / "corpus" / "train.txt").read_text(encoding="utf-8")
    return {line[:-1] for poem in text.splitlines() for line in poem_lines(poem)}


def quality(run: Path, num: int, seed: int) -> dict:
    _, vocab, model = load_poem_run(str(run))
    decoder = PoemDecoder(model, vocab)
    known = training_lines(run)
    rng = random.Random(seed)
    chars = [t for t in vocab.itos[4:] if len(t) == 1 and "\u4e00" <= t <= "\u9fff"]
    common = chars[:500]  # the vocabulary is sorted by frequency
    out: dict = {"forms": {}}
    per_form = max(num // len(FORMS), 1)
    for form in FORMS:
        t0 = time.perf_counter()
        constrained = decoder.generate_batch(per_form, form=form, temperature=0.8, seed=seed)
        seconds = time.perf_counter() - t0
        free = decoder.generate_batch(per_form, temperature=0.8, seed=seed + 1)
        rhymed = decoder.generate_batch(
            per_form, form=form, rhyme=True, temperature=0.8, seed=seed + 2
        )
        lines = [ln[:-1] for p in constrained for ln in poem_lines(p)]
        out["forms"][form] = {
            "valid_constrained": sum(check_form(p, form) for p in constrained) / per_form,
            "valid_free": sum(check_form(p, form) for p in free) / per_form,
            "rhyme_without": sum(rhymes(p, form) for p in constrained) / per_form,
            "rhyme_with": sum(rhymes(p, form) for p in rhymed) / per_form,
            "copied_lines": sum(ln in known for ln in lines) / max(len(lines), 1),
            "poems_per_s_batched": per_form / seconds,
        }
    # Beam search under the same constraints: the most likely poem of each form, with and
    # without rhyme, and acrostics (one search each; a beam has no seed).
    beam_cases = [dict(form=form, rhyme=rhyme) for form in FORMS for rhyme in (False, True)]
    beam_acrostics = ["".join(rng.sample(common, 4)) for _ in range(args_beam_acrostics(num))]
    t0 = time.perf_counter()
    beamed = [decoder.generate(beam=5, **case) for case in beam_cases]
    beamed_acrostic = [decoder.generate(beam=5, form="qijue", acrostic=a) for a in beam_acrostics]
    out["beam5"] = {
        "valid": sum(check_form(p, c["form"]) for p, c in zip(beamed, beam_cases, strict=True))
        / len(beam_cases),
        "rhyme_with": sum(
            rhymes(p, c["form"]) for p, c in zip(beamed, beam_cases, strict=True) if c["rhyme"]
        )
        / len(FORMS),
        "acrostic_correct": sum(
            [ln[0] for ln in poem_lines(p)] == list(a)
            for p, a in zip(beamed_acrostic, beam_acrostics, strict=True)
        )
        / len(beam_acrostics),
        "poems": len(beam_cases) + len(beam_acrostics),
        "poems_per_s": (len(beam_cases) + len(beam_acrostics)) / (time.perf_counter() - t0),
        "examples": dict(
            zip(
                [f"{c['form']}{'+rhyme' if c['rhyme'] else ''}" for c in beam_cases],
                beamed,
                strict=True,
            )
        ),
    }
    acrostics = ["".join(rng.sample(common, 4)) for _ in range(min(per_form, 200))]
    ok = 0
    for i, a in enumerate(acrostics):
        poem = decoder.generate(form="qijue", acrostic=a, temperature=0.8, seed=seed + i)
        ok += [ln[0] for ln in poem_lines(poem)] == list(a)
    out["acrostic_correct"] = ok / len(acrostics)
    t0 = time.perf_counter()
    for i in range(20):
        decoder.generate(form="qijue", temperature=0.8, seed=seed + i)
    out["poems_per_s_single"] = 20 / (time.perf_counter() - t0)
    out["examples"] = {
        "qijue+rhyme": decoder.generate(form="qijue", rhyme=True, temperature=0.8, seed=seed),
        "wulv": decoder.generate(form="wulv", temperature=0.8, seed=seed),
        "acrostic 春夏秋冬": decoder.generate(form="qijue", acrostic="春夏秋冬", seed=seed),
        "start 床前明月光": decoder.generate(form="wujue", start="床前明月光", seed=seed),
    }
    return out


def args_beam_acrostics(num: int) -> int:
    """Acrostic poems searched with a beam: a tenth of the sampled ones, 10 to 50."""
    return min(max(num // 10, 10), 50)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small")
    ap.add_argument("--minutes", type=float, default=30.0, help="training budget per preset")
    ap.add_argument("--num", type=int, default=1000, help="poems per measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/bench-poetry")
    ap.add_argument("--skip-training", action="store_true", help="reuse the runs in --runs")
    threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    results = {}
    for preset in args.presets.split(","):
        run = Path(args.runs) / f"tang-{preset}"
        seconds = None
        if not args.skip_training:
            run, seconds = train(preset, args.minutes, Path(args.runs))
        row = {"train_seconds": seconds, "perplexity": perplexity(run)}
        row.update(quality(run, args.num, args.seed))
        results[preset] = row
        print(json.dumps({preset: row}, ensure_ascii=False, indent=2), flush=True)
    name = "poetry-" + "-".join(results)
    print("saved", save(name, {"machine": machine(), "args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
