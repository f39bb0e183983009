"""What durable state costs the publish path: `notifyx up --ephemeral` against `notifyx up --state-dir` in one
run, alternating (A B A B ...) so that both see the same machine load, each round a fresh cloud on free ports
driven by tests.bench.publish_load for a few seconds (the machine is shared: keep rounds short).

    python -m tests.bench.persistence_cost --rounds 2 --seconds 10 --publishers 10

tests/bench/test_persistence_bench.py runs `compare` under pytest; `notifyx_up` also starts the clouds of
tests/bench/test_startup_with_state.py.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def notifyx_up(args: list[str], endpoints: Path, log: Path, timeout: float = 180) -> Iterator[float]:
    """`notifyx up ARGS` on free ports, writing `endpoints`, until the block ends (then a clean stop: SIGINT).
    Yields the seconds from starting the process until the endpoints file was written."""
    endpoints.unlink(missing_ok=True)
    command = [sys.executable, "-m", "infra.cli", "up", "--http-port", "0", "--ws-port", "0", "--aws-port", "0",
               "--endpoints-file", str(endpoints), *args]
    with open(log, "a") as out:
        started = time.perf_counter()
        cloud = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)
    try:
        while not endpoints.exists():
            if cloud.poll() is not None:
                raise SystemExit(f"notifyx up {' '.join(args)} exited {cloud.returncode}: see {log}")
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"notifyx up {' '.join(args)} was not up in {timeout} s: see {log}")
            time.sleep(0.02)
        yield time.perf_counter() - started
    finally:
        cloud.send_signal(signal.SIGINT)
        try:
            cloud.wait(60)
        except subprocess.TimeoutExpired:
            cloud.kill()
            cloud.wait(30)


def one_round(mode: str, seconds: float, publishers: int, work: Path) -> dict:
    endpoints = work / f"endpoints-{mode}.json"
    args = ["--ephemeral"] if mode == "ephemeral" else ["--state-dir", str(work / f"state-{time.time_ns()}")]
    args += ["--param", "PasswordHashCost=10"]  # the load's sign-ups are set-up, not measured (tests/bench/conftest.py)
    with notifyx_up(args, endpoints, work / f"up-{mode}.log"):
        load = subprocess.run([sys.executable, "-m", "tests.bench.publish_load", "--publishers", str(publishers),
                               "--seconds", str(seconds), "--endpoints-file", str(endpoints)],
                              cwd=ROOT, capture_output=True, text=True)
        if load.returncode:
            raise SystemExit(f"the load against the {mode} cloud failed:\n{load.stderr[-2000:]}")
        return json.loads(load.stdout)


def compare(rounds: int, seconds: float, publishers: int, work: Path,
            report: Callable[[str], None] = print) -> dict:
    """Alternating rounds, ephemeral then durable: every round's figures, their medians, and durable's ratios
    to ephemeral (1.0 = the same; throughput below 1 and p50 above 1 are durable's cost)."""
    results: dict[str, list[dict]] = {"ephemeral": [], "durable": []}
    for _ in range(rounds):
        for mode in ("ephemeral", "durable"):
            figures = one_round(mode, seconds, publishers, work)
            results[mode].append(figures)
            report(f"{mode} {json.dumps(figures)}")
    summary = {mode: {"publishes_per_s": statistics.median(r["publishes_per_s"] for r in runs),
                      "reply_p50_ms": statistics.median(r["reply_p50_ms"] for r in runs)}
               for mode, runs in results.items()}
    e, d = summary["ephemeral"], summary["durable"]
    ratios = {"throughput": round(d["publishes_per_s"] / e["publishes_per_s"], 3),
              "p50": round(d["reply_p50_ms"] / e["reply_p50_ms"], 3)}
    return {"rounds": results, "median": summary, "durable_over_ephemeral": ratios,
            "durable_vs_ephemeral": {"throughput": f"{(ratios['throughput'] - 1) * 100:+.1f}%",
                                     "p50": f"{(ratios['p50'] - 1) * 100:+.1f}%"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--publishers", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="notifyx-persistence-cost-"))
    print("state and logs in", work, flush=True)
    result = compare(args.rounds, args.seconds, args.publishers, work, lambda line: print(line, flush=True))
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
