"""`notifyx up` as a real process (its own process group, free ports, a state directory that outlives it), for
the tests that crash it with `kill -9` and start it again on the same state (imported as `up_process`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]


class UpProcess:
    """`notifyx up --state-dir DIRECTORY/state` with extra arguments and environment; `start()` again after
    `kill()` restarts it on the same state. The process's stderr is appended to DIRECTORY/up.log."""

    def __init__(self, directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.state = directory / "state"
        self.endpoints_file = directory / "endpoints.json"
        self.log = directory / "up.log"
        self.args, self.env = list(args), dict(env or {})
        self.process: subprocess.Popen | None = None
        self.endpoints: dict = {}
        self.starts: list[float] = []  # seconds each start took until the endpoints file was written

    def start(self, *args: str, timeout: float = 120) -> dict:
        """Start (with these arguments besides the constructor's) and wait for the endpoints file."""
        self.endpoints_file.unlink(missing_ok=True)
        command = [sys.executable, "-m", "infra.cli", "up", "--http-port", "0", "--ws-port", "0", "--aws-port", "0",
                   "--state-dir", str(self.state), "--endpoints-file", str(self.endpoints_file), *self.args, *args]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **self.env},
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        started = time.monotonic()
        while not self.endpoints_file.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"notifyx up exited {self.process.returncode}: see {self.log}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"notifyx up did not come up in {timeout} s: see {self.log}")
            time.sleep(0.05)
        self.starts.append(time.monotonic() - started)
        self.endpoints = json.loads(self.endpoints_file.read_text())
        return self.endpoints

    def kill(self) -> None:
        """SIGKILL to the whole process group: the cloud and its Lambda sandboxes die at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """A clean stop (SIGINT: the final snapshot), or SIGKILL when it does not end within a minute."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def aws(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoints["aws_endpoint"], region_name=self.endpoints["region"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")
