"""Avatar render time per size (16..512) for both designs and the PNG's size in bytes (what a first request
costs; later ones are served from S3). Prints the figures and writes results/avatar.json."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

pytestmark = pytest.mark.timeout(300)

SIZES = (16, 32, 64, 128, 256, 512)
REPEATS = 15


def timed_ms(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def test_avatar_render_time_per_size(results_dir):
    from avatar import render

    rows = []
    for kind in render.TYPES:
        for size in SIZES:
            names = iter(f"bench-{kind}-{size}-{i}" for i in range(REPEATS))
            times = timed_ms(lambda: render.render(next(names), size, kind), REPEATS)  # noqa: B023 - used at once
            png = render.render("bench", size, kind)
            rows.append({"type": kind, "size": size, "median_ms": round(statistics.median(times), 3),
                         "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 3), "png_bytes": len(png)})
    print(f"\navatar render time ({REPEATS} renders each, distinct names)")
    print(f"{'type':>10} {'size':>5} {'median ms':>10} {'p95 ms':>8} {'bytes':>7}")
    for r in rows:
        print(f"{r['type']:>10} {r['size']:>5} {r['median_ms']:>10} {r['p95_ms']:>8} {r['png_bytes']:>7}")
    result = {"benchmark": "avatar", "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "render": rows}
    (results_dir / "avatar.json").write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        assert r["png_bytes"] > 0 and r["median_ms"] < 1000, r
