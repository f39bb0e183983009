"""What durable state costs the publish path: `notifyx up --ephemeral` against `notifyx up --state-dir` in one
run, alternating (A B A B ...) so that both see the same machine load, each round a fresh cloud on free ports
driven by tests.bench.publish_load for a few seconds (the machine is shared: keep rounds short).

    python -m tests.bench.persistence_cost --rounds 2 --seconds 10 --publishers 10
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def one_round(mode: str, seconds: float, publishers: int, work: Path) -> dict:
    endpoints = work / f"endpoints-{mode}.json"
    endpoints.unlink(missing_ok=True)
    command = [sys.executable, "-m", "infra.cli", "up", "--http-port", "0", "--ws-port", "0", "--aws-port", "0",
               "--endpoints-file", str(endpoints)]
    command += ["--ephemeral"] if mode == "ephemeral" else ["--state-dir", str(work / f"state-{time.time_ns()}")]
    log = open(work / f"up-{mode}.log", "a")  # noqa: SIM115 - the cloud's, closed after it
    cloud = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        while not endpoints.exists():
            if cloud.poll() is not None:
                raise SystemExit(f"notifyx up ({mode}) exited {cloud.returncode}")
            time.sleep(0.1)
        load = subprocess.run([sys.executable, "-m", "tests.bench.publish_load", "--publishers", str(publishers),
                               "--seconds", str(seconds), "--endpoints-file", str(endpoints)],
                              cwd=ROOT, capture_output=True, text=True)
        if load.returncode:
            raise SystemExit(f"the load against the {mode} cloud failed:\n{load.stderr[-2000:]}")
        return json.loads(load.stdout)
    finally:
        cloud.send_signal(signal.SIGINT)
        cloud.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--publishers", type=int, default=10)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"ephemeral": [], "durable": []}
    work = Path(tempfile.mkdtemp(prefix="notifyx-persistence-cost-"))
    print("state and logs in", work, flush=True)
    for _ in range(args.rounds):
        for mode in ("ephemeral", "durable"):
            figures = one_round(mode, args.seconds, args.publishers, work)
            results[mode].append(figures)
            print(mode, json.dumps(figures), flush=True)
    summary = {mode: {"publishes_per_s": statistics.median(r["publishes_per_s"] for r in rounds),
                      "reply_p50_ms": statistics.median(r["reply_p50_ms"] for r in rounds)}
               for mode, rounds in results.items()}
    e, d = summary["ephemeral"], summary["durable"]
    summary["durable_vs_ephemeral"] = {
        "throughput": f"{(d['publishes_per_s'] / e['publishes_per_s'] - 1) * 100:+.1f}%",
        "p50": f"{(d['reply_p50_ms'] / e['reply_p50_ms'] - 1) * 100:+.1f}%"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
