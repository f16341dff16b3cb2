"""Load on `rnnkit serve` over loopback: POST /generate from 1, 4, 16 and 64 concurrent clients.

For each number of clients against one server started with its defaults (continuous batching:
up to --max-batch 16 requests generated together per model, as many more waiting at most
--max-wait 10 s): total tokens/s (median and min-max over --reps repetitions) and its ratio to
the single-client figure of the same repetition, latency p50/p90/p99 of the served requests,
the 503s and the other answers, and the time to the first token of streamed requests
(`"stream": true`, p50). Every request asks for --length tokens with a seed of its own; a
refused client waits the `Retry-After` it was given and sends the same request again (so every
request is served in the end and tokens/s counts them all). The only refusal allowed is the
documented one, 503 with `Retry-After` beyond the queue, so none while clients <= max-batch;
and the first requests' texts must equal the same generation called in process (a request
writes the same alone or in a batch). The script says so and exits with status 1 otherwise.
The references, measured in the same run: the single-client level, and the same generation
called in process, without HTTP.

The server is the real one, `python -m rnnkit serve RUN --port P [SERVER OPTIONS]`, a
subprocess on 127.0.0.1 with one torch thread (unless OMP_NUM_THREADS says otherwise). The
clients are threads here, one keep-alive connection each, sharing a fixed number of requests
(client k sends requests k, k + clients, ...); then the server is stopped. Without --run, a
small character LSTM (2x128, 150 steps, a few seconds) is first trained through the CLI on a
made-up text. The defaults take a few minutes on 2 cores.

    python bench/serve_load.py
    python bench/serve_load.py --server-options="--no-batching --max-concurrent 4"
    python bench/serve_load.py --clients 1,2,8 --requests 400 --length 200 --run runs/shakespeare
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.serve import load_models  # noqa: E402

RNNKIT = [sys.executable, "-m", "rnnkit"]
MODEL = ["--model", "lstm", "--hidden-size", "128", "--num-layers", "2"]
TRAINING = ["--seq-len", "64", "--batch-size", "16", "--max-steps", "150", "--eval-every", "50"]
PROMPT = "The farmer "
REFERENCE_CALLS = 40  # in-process generations per repetition
MAX_RETRIES = 100  # a request refused this often is given up (and reported)

_WORDS = [
    "the farmer|a small bird|my sister|the old man|our teacher|a quiet child",
    "sees|carries|paints|follows|finds|feeds",
    "the red ball|a green apple|the long road|a quiet river|some fresh bread",
    "in the morning|at night|near the hill|after lunch|before the rain",
]


@dataclass
class Outcome:
    status: int  # the last answer's status; 0: no answer, or one that could not be read
    seconds: float  # the served attempt: request sent -> whole answer read (a stream: its end)
    first_token: float | None  # streams: request sent -> first text event
    refused: int  # 503 answers before this one (each with Retry-After, waited for)
    refused_without_retry_after: int
    complete: bool  # a 200 with all the asked tokens (and, streamed, a final event, no error)
    text: str | None = None


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # a small model: more threads only fight for cores
    return env


def train(runs: Path) -> tuple[Path, list[str]]:
    """A small character LM trained through the CLI on made-up sentences (about 60 KB)."""
    runs.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = [part.split("|") for part in _WORDS]
    lines = [" ".join(rng.choice(w) for w in words).capitalize() + "." for _ in range(1500)]
    text = runs / "sentences.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = runs / "char-lm"
    cmd = ["train", "--data", str(text), "--out", str(out), *MODEL, *TRAINING]
    cmd += ["--quiet", "--overwrite"]
    print("$ rnnkit", " ".join(cmd), flush=True)
    subprocess.run([*RNNKIT, *cmd], check=True, env=subprocess_env())
    return out, cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(run: Path, options: list[str], log: Path):
    """``rnnkit serve RUN OPTIONS`` on a free loopback port; yields the port once /health
    answers."""
    port = free_port()
    cmd = [*RNNKIT, "serve", str(run), "--port", str(port), *options]
    with open(log, "wb") as out:  # uvicorn logs every request: keep them out of the table
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env())
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                sys.exit(f"the server exited with {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit(f"the server did not answer /health within 60 s; see {log}")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def attempt(conn: http.client.HTTPConnection, body: dict):
    """One POST /generate, read to its end: (status, seconds, first token, Retry-After,
    complete, text)."""
    t0 = time.perf_counter()
    conn.request("POST", "/generate", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    retry_after = resp.getheader("Retry-After")
    if resp.status != 200 or not body["stream"]:
        data = resp.read()
        out = json.loads(data) if resp.status == 200 else {}
        complete = resp.status == 200 and out["tokens"] == body["length"]
        return resp.status, time.perf_counter() - t0, None, retry_after, complete, out.get("text")
    first, pieces, last = None, [], {}
    while line := resp.readline():  # `data: {...}` lines, each followed by a blank one
        if not line.startswith(b"data: "):
            continue
        event = json.loads(line[len(b"data: ") :])
        if "text" in event:
            pieces.append(event["text"])
            first = first if first is not None else time.perf_counter() - t0
        else:
            last = event
    complete = last.get("done") is True and "error" not in last and len(pieces) == body["length"]
    return 200, time.perf_counter() - t0, first, retry_after, complete, "".join(pieces)


def generate(conn: http.client.HTTPConnection, body: dict) -> Outcome:
    """POST /generate until it is served; after a 503, wait its Retry-After (1 s without one)."""
    refused = bare = 0
    while True:
        status, seconds, first, retry_after, complete, text = attempt(conn, body)
        if status != 503 or refused >= MAX_RETRIES:
            return Outcome(status, seconds, first, refused, bare, complete, text)
        refused += 1
        bare += retry_after is None
        time.sleep(float(retry_after or 1))


def load(port: int, clients: int, requests: int, length: int, stream: bool) -> tuple[list, float]:
    """``requests`` calls shared by ``clients`` threads (client k sends k, k + clients, ...)."""
    outcomes: list[Outcome | None] = [None] * requests

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(k, requests, clients):
            body = {"prompt": PROMPT, "length": length, "seed": i, "stream": stream}
            t0 = time.perf_counter()
            try:
                outcomes[i] = generate(conn, body)
            except (OSError, http.client.HTTPException, ValueError):
                outcomes[i] = Outcome(0, time.perf_counter() - t0, None, 0, 0, False)
                conn.close()  # the next request opens a new connection
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, time.perf_counter() - t0


def failures(outcomes: list[Outcome], clients: int, max_batch: int, expected: list) -> list[str]:
    """Every answer that is not a complete 200 after the documented 503s with Retry-After; any
    503 at all when there are no more clients than batch places; and any text of the first
    requests that differs from the same generation in process."""
    bad = Counter()
    for i, o in enumerate(outcomes):
        if o.refused_without_retry_after:
            bad["503 without Retry-After"] += 1
        if o.refused and clients <= max_batch:
            bad["503 with a place free in the batch"] += 1
        if o.status != 200:
            bad[f"status {o.status}" if o.status else "no readable answer"] += 1
        elif not o.complete:
            bad["200 without every token"] += 1
        elif i < len(expected) and o.text != expected[i]:
            bad["a text unlike the same generation in process"] += 1
    return [f"{n} x {what}" for what, n in bad.items()]


def ms(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) * 1000 if values else None


@dataclass
class Level:
    """What one client count collects over the repetitions."""

    clients: int
    plain: list = field(default_factory=list)  # per repetition, each request's Outcome
    streamed: list = field(default_factory=list)
    rates: list = field(default_factory=list)  # per repetition, total tokens/s


def repetition(port: int, level: Level, args) -> None:
    outcomes, wall = load(port, level.clients, args.requests, args.length, stream=False)
    level.plain.append([asdict(o) for o in outcomes])
    served = sum(o.status == 200 for o in outcomes)
    level.rates.append(served * args.length / wall)
    outcomes, _ = load(port, level.clients, args.stream_requests, args.length, stream=True)
    level.streamed.append([asdict(o) for o in outcomes])


def summary(level: Level, single: Level | None, args, expected: list) -> dict:
    plain = [Outcome(**o) for rep in level.plain for o in rep]
    streamed = [Outcome(**o) for rep in level.streamed for o in rep]
    served = [o.seconds for o in plain if o.status == 200]
    firsts = [o.first_token for o in streamed if o.first_token is not None]
    ratios = [r / s for r, s in zip(level.rates, single.rates, strict=True)] if single else None
    bad = []
    for rep in level.plain + level.streamed:
        bad += failures([Outcome(**o) for o in rep], level.clients, args.max_batch, expected)
    return {
        "clients": level.clients,
        "requests": len(plain),
        "tokens_per_s": spread(level.rates),
        "ratio_to_one_client": spread(ratios) if ratios else None,
        "refused": sum(o.refused for o in plain),
        "requests_refused": sum(o.refused > 0 for o in plain),
        "statuses": dict(Counter(o.status for o in plain)),
        "latency_ms": {f"p{q}": ms(served, q) for q in (50, 90, 99)},
        "stream_requests": len(streamed),
        "stream_refused": sum(o.refused for o in streamed),
        "stream_statuses": dict(Counter(o.status for o in streamed)),
        "first_token_ms": {f"p{q}": ms(firsts, q) for q in (50, 90)},
        "failures": sorted(set(bad)),
        "raw": level.plain,
        "raw_streamed": level.streamed,
    }


def in_process(lm, length: int, calls: int) -> list[float]:
    """The reference: the server's own generation called here, without HTTP (seconds each)."""
    return [lm.generate(lm.plan(PROMPT, length, seed=i)).seconds for i in range(calls)]


def row(r: dict) -> str:
    s, lat = r["statuses"], r["latency_ms"]
    other = sum(n for code, n in s.items() if code != 200) + sum(
        n for code, n in r["stream_statuses"].items() if code != 200
    )

    def f(x):
        return "-" if x is None else f"{x:.1f}"

    def rate(x, digits=0):
        return f"{x['median']:.{digits}f} ({x['min']:.{digits}f}-{x['max']:.{digits}f})"

    ratio = rate(r["ratio_to_one_client"], 2) if r["ratio_to_one_client"] else "1"
    return (
        f"| {r['clients']} | {r['requests']} | {rate(r['tokens_per_s'])} | {ratio} | "
        f"{f(lat['p50'])} | {f(lat['p90'])} | {f(lat['p99'])} | "
        f"{r['refused']} ({r['requests_refused']} requests) | {r['stream_refused']} | {other} | "
        f"{f(r['first_token_ms']['p50'])} |"
    )


def places(options: list[str]) -> int:
    """Requests the server takes at once before it may refuse one: the places in a batch
    (--max-batch), or without batching the model slots (--max-concurrent)."""
    name, default = ("--max-concurrent", 4) if "--no-batching" in options else ("--max-batch", 16)
    return int(options[options.index(name) + 1]) if name in options else default


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,4,16,64", help="comma-separated client counts")
    ap.add_argument(
        "--requests", type=int, default=200, help="POST /generate calls per level and repetition"
    )
    ap.add_argument(
        "--stream-requests", type=int, default=40, help="streamed calls after those, as many times"
    )
    ap.add_argument("--length", type=int, default=100, help="tokens per request")
    ap.add_argument(
        "--server-options",
        default="",
        help="options of `rnnkit serve`, as one string (default: its defaults)",
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each level")
    ap.add_argument("--run", help="serve this run directory instead of training one")
    ap.add_argument("--runs", default="runs/bench-serve", help="where the trained run goes")
    args = ap.parse_args()
    options = shlex.split(args.server_options)
    args.max_batch = places(options)

    t0 = time.perf_counter()
    run, train_cmd = (Path(args.run), None) if args.run else train(Path(args.runs))
    train_s = time.perf_counter() - t0
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(subprocess_env()["OMP_NUM_THREADS"]))  # as many as the server
    (lm,) = load_models([run])
    levels = [Level(int(c)) for c in args.clients.split(",")]
    # What the first requests of every level must write (request i has seed i).
    expected = [lm.generate(lm.plan(PROMPT, args.length, seed=i)).text for i in range(8)]
    reference = []
    with server(run, options, Path(args.runs) / "server.log") as port:
        load(port, 1, 5, args.length, stream=False)  # warm-up: first calls pay for lazy setup
        in_process(lm, args.length, 5)
        # Repetitions outside, levels inside: each level sees the machine as the others do.
        for rep in range(args.reps):
            reference.append(in_process(lm, args.length, REFERENCE_CALLS))
            for level in levels:
                repetition(port, level, args)
            print(f"repetition {rep + 1} of {args.reps} done", flush=True)
    single = next((level for level in levels if level.clients == 1), None)
    results = [summary(level, single, args, expected) for level in levels]

    pooled = [t for rep in reference for t in rep]
    per_rep = spread([ms(rep, 50) for rep in reference])
    print(
        f"in process, no HTTP: {args.length} tokens in {ms(pooled, 50):.1f} ms p50 "
        f"({per_rep['min']:.1f}-{per_rep['max']:.1f} over repetitions), "
        f"{args.length / np.median(pooled):.0f} tokens/s"
    )
    print(
        "| clients | requests | tokens/s | x one client | p50 ms | p90 ms | p99 ms "
        "| 503 (requests) | stream 503 | other | stream first token p50 ms |"
    )
    print("|---" * 11 + "|")
    for r in results:
        print(row(r))
    bad = [(r["clients"], f) for r in results for f in r["failures"]]
    for clients, what in bad:
        print(f"FAILED at {clients} clients: {what}")
    if not bad:
        print(
            "no request failed: every request ended in a complete 200 (after 503s with "
            "Retry-After only with more clients than the batch has places, "
            f"{args.max_batch}), and the first ones wrote what they write in process"
        )
    result = {
        "machine": machine(),
        "server_threads": subprocess_env()["OMP_NUM_THREADS"],
        "server_options": options,
        "run": str(run),
        "train_command": train_cmd,
        "train_seconds": train_s if train_cmd else None,
        "prompt": PROMPT,
        "length": args.length,
        "reps": args.reps,
        "in_process_ms": {f"p{q}": ms(pooled, q) for q in (50, 90)},
        "in_process_raw": reference,
        "levels": results,
        "total_seconds": time.perf_counter() - t0,
    }
    print("saved", save("serve-load", result))
    print(f"total {result['total_seconds']:.0f} s (training {train_s:.0f} s)")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
