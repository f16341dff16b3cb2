"""Load on `rnnkit serve` over loopback: POST /generate from 1, 4 and 16 concurrent clients.

For each number of clients against one server started with `--max-concurrent C` (default 4):
requests per second (median and min-max over --reps repetitions), latency p50/p90/p99 of the
served requests, the answers by status code, and the time to the first token of streamed
requests (`"stream": true`, p50). Every request asks for --length tokens with a seed of its
own. The only failure allowed is the documented limit, 503 with `Retry-After` when C requests
are already in the server (the model runs one at a time; the others wait their turn), so none
while clients <= C; the script says so and exits with status 1 otherwise.
The reference, measured in the same run: the same generation called in process, without HTTP.

The server is the real one, `python -m rnnkit serve RUN --port P --max-concurrent C`, a
subprocess on 127.0.0.1 with one torch thread (unless OMP_NUM_THREADS says otherwise). The
clients are threads here, one keep-alive connection each, sharing a fixed number of requests
(client k sends requests k, k + clients, ...); then the server is stopped. Without --run, a
small character LSTM (2x128, 150 steps, a few seconds) is first trained through the CLI on a
made-up text. The defaults take about a minute on 2 cores.

    python bench/serve_load.py
    python bench/serve_load.py --clients 1,2,8 --requests 400 --length 200 --run runs/shakespeare
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
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

_WORDS = [
    "the farmer|a small bird|my sister|the old man|our teacher|a quiet child",
    "sees|carries|paints|follows|finds|feeds",
    "the red ball|a green apple|the long road|a quiet river|some fresh bread",
    "in the morning|at night|near the hill|after lunch|before the rain",
]


@dataclass
class Outcome:
    status: int  # 0: no answer, or one that could not be read
    seconds: float  # request sent -> whole answer read (a stream: its last event)
    first_token: float | None  # streams: request sent -> first text event
    retry_after: str | None
    complete: bool  # a 200 with all the asked tokens (and, streamed, a final event, no error)


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
def server(run: Path, max_concurrent: int, log: Path):
    """``rnnkit serve`` on a free loopback port; yields the port once /health answers."""
    port = free_port()
    cmd = [*RNNKIT, "serve", str(run), "--port", str(port), "--max-concurrent", str(max_concurrent)]
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


def generate(conn: http.client.HTTPConnection, body: dict) -> Outcome:
    """One POST /generate, read to its end."""
    t0 = time.perf_counter()
    conn.request("POST", "/generate", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    retry_after = resp.getheader("Retry-After")
    if resp.status != 200 or not body["stream"]:
        data = resp.read()
        complete = resp.status == 200 and json.loads(data)["tokens"] == body["length"]
        return Outcome(resp.status, time.perf_counter() - t0, None, retry_after, complete)
    first, pieces, last = None, 0, {}
    while line := resp.readline():  # `data: {...}` lines, each followed by a blank one
        if not line.startswith(b"data: "):
            continue
        event = json.loads(line[len(b"data: ") :])
        if "text" in event:
            pieces += 1
            first = first if first is not None else time.perf_counter() - t0
        else:
            last = event
    complete = last.get("done") is True and "error" not in last and pieces == body["length"]
    return Outcome(200, time.perf_counter() - t0, first, retry_after, complete)


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
                outcomes[i] = Outcome(0, time.perf_counter() - t0, None, None, False)
                conn.close()  # the next request opens a new connection
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, time.perf_counter() - t0


def failures(outcomes: list[Outcome], clients: int, max_concurrent: int) -> list[str]:
    """Every answer that is neither a complete 200 nor the documented 503 with Retry-After;
    and any 503 at all when there are no more clients than slots."""
    bad = Counter()
    for o in outcomes:
        if o.status == 503 and o.retry_after is None:
            bad["503 without Retry-After"] += 1
        elif o.status == 503 and clients <= max_concurrent:
            bad["503 with a slot free"] += 1
        elif o.status not in (200, 503):
            bad[f"status {o.status}" if o.status else "no readable answer"] += 1
        elif o.status == 200 and not o.complete:
            bad["200 without every token"] += 1
    return [f"{n} x {what}" for what, n in bad.items()]


def ms(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) * 1000 if values else None


@dataclass
class Level:
    """What one client count collects over the repetitions."""

    clients: int
    plain: list = field(default_factory=list)  # per repetition, each request's Outcome
    streamed: list = field(default_factory=list)
    rates: list = field(default_factory=list)  # per repetition, (requests/s, served/s)


def repetition(port: int, level: Level, args) -> None:
    outcomes, wall = load(port, level.clients, args.requests, args.length, stream=False)
    level.plain.append([asdict(o) for o in outcomes])
    level.rates.append((args.requests / wall, sum(o.status == 200 for o in outcomes) / wall))
    outcomes, _ = load(port, level.clients, args.stream_requests, args.length, stream=True)
    level.streamed.append([asdict(o) for o in outcomes])


def summary(level: Level, args) -> dict:
    plain = [Outcome(**o) for rep in level.plain for o in rep]
    streamed = [Outcome(**o) for rep in level.streamed for o in rep]
    served = [o.seconds for o in plain if o.status == 200]
    firsts = [o.first_token for o in streamed if o.first_token is not None]
    refused = [o.seconds for o in plain + streamed if o.status == 503]
    return {
        "clients": level.clients,
        "requests": len(plain),
        "requests_per_s": spread([r for r, _ in level.rates]),
        "served_per_s": spread([r for _, r in level.rates]),
        "statuses": dict(Counter(o.status for o in plain)),
        "latency_ms": {f"p{q}": ms(served, q) for q in (50, 90, 99)},
        "refused_ms": {"p50": ms(refused, 50), "max": ms(refused, 100)},
        "stream_requests": len(streamed),
        "stream_statuses": dict(Counter(o.status for o in streamed)),
        "first_token_ms": {f"p{q}": ms(firsts, q) for q in (50, 90)},
        "failures": failures(plain + streamed, level.clients, args.max_concurrent),
        "raw": level.plain,
        "raw_streamed": level.streamed,
    }


def in_process(lm, length: int, calls: int) -> list[float]:
    """The reference: the server's own generation called here, without HTTP (seconds each)."""
    return [lm.generate(lm.plan(PROMPT, length, seed=i)).seconds for i in range(calls)]


def row(r: dict, max_concurrent: int) -> str:
    s, lat, ss = r["statuses"], r["latency_ms"], r["stream_statuses"]
    other = sum(n for code, n in s.items() if code not in (200, 503))

    def f(x):
        return "-" if x is None else f"{x:.1f}"

    def rate(x):
        return f"{x['median']:.1f} ({x['min']:.1f}-{x['max']:.1f})"

    return (
        f"| {r['clients']} | {max_concurrent} | {r['requests']} | {s.get(200, 0)} | "
        f"{s.get(503, 0)} | {other} | {rate(r['requests_per_s'])} | {rate(r['served_per_s'])} | "
        f"{f(lat['p50'])} | {f(lat['p90'])} | {f(lat['p99'])} | "
        f"{f(r['first_token_ms']['p50'])} | {ss.get(200, 0)} / {ss.get(503, 0)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,4,16", help="comma-separated client counts")
    ap.add_argument(
        "--requests", type=int, default=200, help="POST /generate calls per level and repetition"
    )
    ap.add_argument(
        "--stream-requests", type=int, default=40, help="streamed calls after those, as many times"
    )
    ap.add_argument("--length", type=int, default=100, help="tokens per request")
    ap.add_argument("--max-concurrent", type=int, default=4, help="the server's model slots")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each level")
    ap.add_argument("--run", help="serve this run directory instead of training one")
    ap.add_argument("--runs", default="runs/bench-serve", help="where the trained run goes")
    args = ap.parse_args()

    t0 = time.perf_counter()
    run, train_cmd = (Path(args.run), None) if args.run else train(Path(args.runs))
    train_s = time.perf_counter() - t0
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(subprocess_env()["OMP_NUM_THREADS"]))  # as many as the server
    (lm,) = load_models([run])
    levels = [Level(int(c)) for c in args.clients.split(",")]
    reference = []
    with server(run, args.max_concurrent, Path(args.runs) / "server.log") as port:
        load(port, 1, 5, args.length, stream=False)  # warm-up: first calls pay for lazy setup
        in_process(lm, args.length, 5)
        # Repetitions outside, levels inside: each level sees the machine as the others do.
        for rep in range(args.reps):
            reference.append(in_process(lm, args.length, REFERENCE_CALLS))
            for level in levels:
                repetition(port, level, args)
            print(f"repetition {rep + 1} of {args.reps} done", flush=True)
    results = [summary(level, args) for level in levels]

    pooled = [t for rep in reference for t in rep]
    per_rep = spread([ms(rep, 50) for rep in reference])
    print(
        f"in process, no HTTP: {args.length} tokens in {ms(pooled, 50):.1f} ms p50 "
        f"({per_rep['min']:.1f}-{per_rep['max']:.1f} over repetitions), {ms(pooled, 90):.1f} ms p90"
    )
    print(
        "| clients | slots | requests | 200 | 503 | other | requests/s | served/s "
        "| p50 ms | p90 ms | p99 ms | stream first token p50 ms | stream 200 / 503 |"
    )
    print("|---" * 13 + "|")
    for r in results:
        print(row(r, args.max_concurrent))

    for r in results:
        if r["refused_ms"]["p50"] is not None:
            print(
                f"{r['clients']} clients: the 503s came back in {r['refused_ms']['p50']:.1f} ms "
                f"p50, {r['refused_ms']['max']:.1f} ms at most"
            )
    bad = [(r["clients"], f) for r in results for f in r["failures"]]
    for clients, what in bad:
        print(f"FAILED at {clients} clients: {what}")
    if not bad:
        print(
            "no request failed: every answer was a complete 200 or a 503 with Retry-After, "
            f"and 503 came only with more clients than --max-concurrent ({args.max_concurrent})"
        )
    result = {
        "machine": machine(),
        "server_threads": subprocess_env()["OMP_NUM_THREADS"],
        "run": str(run),
        "train_command": train_cmd,
        "train_seconds": train_s if train_cmd else None,
        "prompt": PROMPT,
        "length": args.length,
        "max_concurrent": args.max_concurrent,
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
