"""Mail throughput against the concurrency bound: mails per second for ScalingConfig.MaximumConcurrency 2, 5 and
10, each send taking a fixed simulated latency (MailSimulatedLatencyMs), so throughput should scale with the bound.
Prints the figures and writes results/mail.json.

The bound is a template parameter, so each bound gets its own LocalCloud, each in a fresh child process (one
cloud per process; functions start cold, as after a deploy). There, mails are queued through the mail service
(the gateway's send_email path) while the queue's event source is paused, then the source is started and the
drain is timed until the emulator's SES has all of them (so the figure is the senders', not the producers').
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
BOUNDS = (2, 5, 10)
MAILS = int(os.environ.get("NOTIFYX_MAIL_BENCH_MAILS", "100"))  # make test: 40
LATENCY_MS = int(os.environ.get("NOTIFYX_MAIL_BENCH_LATENCY_MS", "1000"))  # make test: 250
BATCH_SIZE = 5

RUN_ONE_BOUND = """
import json, logging, sys, time, uuid
from concurrent.futures import ThreadPoolExecutor
logging.basicConfig(level=logging.WARNING)
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from infra.cloud import LocalCloud

template, bound, mails, latency_ms, batch_size = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])
parameters = {"MailMaxConcurrency": str(bound), "MailSimulatedLatencyMs": str(latency_ms),
              "MailBatchSize": str(batch_size), "MailVisibilityTimeoutSeconds": "60"}

def sent(addresses):
    messages = list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)
    return sum(1 for m in messages for a in m.destinations.get("ToAddresses", []) if a in addresses)

with LocalCloud(template, parameters=parameters) as cloud:
    run = uuid.uuid4().hex[:8]
    to = [f"bench{i}-{run}@example.com" for i in range(mails)]

    source = next(p for p in cloud.pollers if p.spec.function == cloud.physical_id("MailSender"))
    source.stop()  # paused like a disabled event source mapping: the burst waits in the queue

    def queue(address):
        answer = cloud.invoke("MailService", {"op": "send", "user_id": "u-bench", "email": "bench@example.com",
                                              "to": address, "subject": "bench", "message": "bench"})
        assert answer["ok"], answer

    began = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(queue, to))
    queued = time.perf_counter() - began
    started = time.perf_counter()
    source.start()
    wanted, deadline = set(to), time.monotonic() + 300
    while sent(wanted) < mails:
        if time.monotonic() > deadline:
            sys.exit(f"only {sent(wanted)}/{mails} mails sent in 300 s")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    time.sleep(1)
    duplicates = sent(wanted) - mails
    stats = source.stats
print(json.dumps({"maximum_concurrency": bound, "mails": mails, "seconds": round(elapsed, 3),
                  "queueing_seconds": round(queued, 3), "mails_per_second": round(mails / elapsed, 2),
                  "ideal_mails_per_second": round(bound * 1000 / latency_ms, 2), "duplicates": duplicates,
                  "max_in_flight": stats["max_in_flight"], "batches": stats["batches"]}))
"""


def run_bound(bound: int) -> dict:
    child = subprocess.run([sys.executable, "-c", RUN_ONE_BOUND, str(ROOT / "template.yaml"), str(bound), str(MAILS),
                            str(LATENCY_MS), str(BATCH_SIZE)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_mail_throughput_scales_with_the_concurrency_bound(results_dir):
    runs = [run_bound(bound) for bound in BOUNDS]
    print(f"\nmail throughput, {MAILS} mails, {LATENCY_MS} ms simulated send latency, batch size {BATCH_SIZE}")
    print(f"{'bound':>5} {'mails/s':>8} {'ideal':>6} {'seconds':>8} {'max in flight':>14} {'duplicates':>11}")
    for r in runs:
        print(f"{r['maximum_concurrency']:>5} {r['mails_per_second']:>8} {r['ideal_mails_per_second']:>6} "
              f"{r['seconds']:>8} {r['max_in_flight']:>14} {r['duplicates']:>11}")
    result = {"benchmark": "mail", "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "simulated_latency_ms": LATENCY_MS, "batch_size": BATCH_SIZE, "runs": runs}
    (results_dir / "mail.json").write_text(json.dumps(result, indent=2) + "\n")
    for r in runs:
        assert r["max_in_flight"] <= r["maximum_concurrency"] and r["duplicates"] == 0, r
    rates = [r["mails_per_second"] for r in runs]
    # more concurrent senders, more mails per second (each send waits the same fixed latency)
    assert rates[0] < rates[1] < rates[2], rates
