"""`notifyx`: run the local cloud (`up`), invoke one function (`invoke`), and the user commands of client.cli."""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from client import cli as user_commands
from infra import account

ENDPOINTS_FILE = Path(".notifyx") / "endpoints.json"
STATE_DIR = Path(".notifyx") / "state"


def _parameters(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"notifyx: --param expects KEY=VALUE, got {pair!r}")
        values[key] = value
    return values


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s [%(function)s] %(name)s: %(message)s")
    from infra.runtime import FunctionLogFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(FunctionLogFilter())
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _answers(url: str, timeout: float = 5.0) -> bool:
    """True when `url` gives any HTTP answer (a 4xx is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - our own loopback endpoints
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _started(cloud: Any, command: str) -> bool:
    """Start `cloud`; False (with the reason printed) when the template or a port is refused."""
    try:
        cloud.start()
        return True
    except Exception as exc:
        message = _start_failure(exc)
        if message is None:
            raise
        print(f"notifyx {command}: {message}", file=sys.stderr, flush=True)
        return False


def _check_answers(endpoints: dict[str, str]) -> None:
    import socket
    from urllib.parse import urlsplit

    for key in ("aws_endpoint", "http_api"):
        # the emulator's dashboard page: a static answer (data.json serialized the whole state: seconds once the
        # cloud holds a few thousand stored publishes)
        if key in endpoints and not _answers(endpoints[key] if key != "aws_endpoint" else
                                             endpoints[key] + "/moto-api/"):
            raise RuntimeError(f"{key} {endpoints[key]} does not answer")
    if "websocket_api" in endpoints:
        parts = urlsplit(endpoints["websocket_api"])
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            pass


def write_endpoints(endpoints: dict[str, str], path: Path = ENDPOINTS_FILE) -> None:
    """Write the endpoints file atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(endpoints, indent=2) + "\n")
    os.replace(tmp, path)


def _start_failure(exc: BaseException) -> str | None:
    """The message for a cloud that cannot start for a reason the user can fix (no traceback), else None."""
    from infra.cloud import CloudError
    from infra.deploy import DeployError
    from infra.emulator import EmulatorError
    from infra.template import TemplateError

    if isinstance(exc, (TemplateError, DeployError, CloudError, EmulatorError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot listen: {exc.strerror} ({exc}); choose other ports (0 = any free port)"
    return None


def cmd_up(args: argparse.Namespace) -> int:
    """Start the local cloud, print and write its endpoints, run until SIGINT/SIGTERM."""
    _configure_logging(args.verbose)
    # no automatic garbage collection while the modules are imported and the cloud starts (see LocalCloud.start):
    # what they allocate lives as long as the process
    gc.disable()
    from infra.cloud import LocalCloud

    # set by the signal handler, which takes no lock: an Event's set() from a handler deadlocked when a second signal
    # (a second Ctrl-C, a TERM after an INT) came while the main thread held the Event's lock (in wait() or in the
    # first handler's set()), and the process hung for good
    stopping = [False]

    def stop(*_: object) -> None:
        stopping[0] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    endpoints_path = Path(args.endpoints_file)
    from infra.faults import FaultSpecError

    try:
        cloud = LocalCloud(args.template, http_port=args.http_port, ws_port=args.ws_port, aws_port=args.aws_port,
                           aws_endpoint=args.aws_endpoint, parameters=_parameters(args.param),
                           static_dir=args.static_dir, sandboxes=args.sandboxes, faults=args.fault,
                           # another endpoint (LocalStack) keeps its own state
                           state_dir=None if args.ephemeral or args.aws_endpoint else args.state_dir,
                           reload=args.reload)
    except FaultSpecError as exc:
        gc.enable()
        print(f"notifyx up: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        started = _started(cloud, "up")
        gc.enable()
        if not started:
            return 2
        endpoints = cloud.endpoints
        _check_answers(endpoints)
        if not stopping[0]:
            write_endpoints(endpoints, endpoints_path)
            print(json.dumps(endpoints, indent=2), flush=True)
            print(f"notifyx: local cloud is up ({endpoints_path}); Ctrl-C stops it", file=sys.stderr, flush=True)
        while not stopping[0]:
            time.sleep(0.2)  # a signal interrupts the sleep and runs the handler; the next look sees the flag
        print("notifyx: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        cloud.stop()
        gc.freeze()  # the process ends: its last collection need not walk what the cloud leaves (~1 s)
        if endpoints_path.exists():
            try:
                if json.loads(endpoints_path.read_text()).get("aws_endpoint") == cloud.aws_endpoint:
                    endpoints_path.unlink()  # what it describes is gone
            except (OSError, ValueError):
                pass


def cmd_reset(args: argparse.Namespace) -> int:
    """Delete the durable state (users, topics, notifications, mail, objects): the next `notifyx up` starts empty."""
    from infra.persistence import StateError, reset

    try:
        removed = reset(args.state_dir)
    except StateError as exc:
        print(f"notifyx reset: {exc}", file=sys.stderr)
        return 1
    print(f"notifyx: {'deleted' if removed else 'no state at'} {args.state_dir}", file=sys.stderr)
    return 0


def _running_cloud(path: Path) -> dict[str, str] | None:
    try:
        endpoints = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return endpoints if _answers(endpoints.get("aws_endpoint", "") + "/moto-api/data.json", 2) else None


def _load_event(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        return json.loads(text or "{}")
    except (OSError, ValueError) as exc:
        raise SystemExit(f"notifyx invoke: cannot read event {source}: {exc}") from exc


def cmd_invoke(args: argparse.Namespace) -> int:
    """Invoke one function (`sam local invoke` without Docker): through a running cloud, else a temporary one."""
    event = _load_event(args.event) if args.event else {}
    running = None if args.template_given else _running_cloud(Path(args.endpoints_file))
    if running is not None:
        return _invoke_remote(running, args.function, event)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from infra.cloud import LocalCloud
    from infra.runtime import LambdaError

    cloud = LocalCloud(args.template, parameters=_parameters(args.param), static_dir=None)
    if not _started(cloud, "invoke"):
        return 2
    try:
        result = cloud.invoke(args.function, event)
    except LambdaError as exc:
        payload = exc.payload() if hasattr(exc, "payload") else {
            "errorType": getattr(exc, "error_type", type(exc).__name__), "errorMessage": str(exc)}
        print(json.dumps(payload, indent=2))
        return 1
    finally:
        cloud.stop()
    print(json.dumps(result, indent=2))
    return 0


def _invoke_remote(endpoints: dict[str, str], function: str, event: Any) -> int:
    import boto3

    lam = boto3.client("lambda", endpoint_url=endpoints["aws_endpoint"], region_name=endpoints.get("region"),
                       **account.KEYS)
    names = {f["FunctionName"] for f in lam.list_functions(MaxItems=1000)["Functions"]}
    if function not in names:
        # a logical id: the template's physical names are <stack>-<LogicalId>
        matches = sorted(n for n in names if n.endswith(f"-{function}"))
        if len(matches) == 1:
            function = matches[0]
    response = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    return 1 if response.get("FunctionError") else 0


def build_parser() -> argparse.ArgumentParser:
    """The `notifyx` argument parser: the local cloud's commands and the client's user commands."""
    parser = argparse.ArgumentParser(prog="notifyx", description="Notifyx: the local cloud and its client.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run template.yaml locally (no Docker) until Ctrl-C")
    up.add_argument("--template", default="template.yaml")
    up.add_argument("--http-port", type=int, default=4000, help="REST API and web client (0 = any free port)")
    up.add_argument("--ws-port", type=int, default=4001, help="WebSocket API (0 = any free port)")
    up.add_argument("--aws-port", type=int, default=4566, help="the embedded AWS emulator (0 = any free port)")
    up.add_argument("--aws-endpoint", help="deploy into this endpoint (e.g. LocalStack) instead of the emulator")
    up.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter")
    up.add_argument("--static-dir", default="client/web", help="served at / (the web client)")
    up.add_argument("--endpoints-file", default=str(ENDPOINTS_FILE))
    up.add_argument("--sandboxes", choices=("process", "thread"), default=None,
                    help="process: each function in Lambda-like worker processes (default); "
                         "thread: every handler in this process")
    up.add_argument("--state-dir", default=str(STATE_DIR),
                    help="where the state survives restarts and crashes (default %(default)s)")
    up.add_argument("--ephemeral", action="store_true",
                    help="keep no state: everything is gone when the cloud stops")
    up.add_argument("--fault", action="append", default=[], metavar="TARGET:KIND:P[:OPTIONS]",
                    help="inject faults (docs/local-cloud.md): e.g. MailSender:error:0.2, "
                         "PersistParticipant:timeout:0.1, CounterParticipant:throttle:0.1, ses:error:0.2 "
                         "(also NOTIFYX_FAULTS)")
    up.add_argument("--reload", action=argparse.BooleanOptionalAction, default=True,
                    help="run the code on disk: a saved change to a function's code or layers is what its next "
                         "invocation runs, cold (default: on)")
    up.add_argument("-v", "--verbose", action="store_true")
    up.set_defaults(func=cmd_up)

    reset = sub.add_parser("reset", help="delete the local cloud's durable state (refused while it runs)")
    reset.add_argument("--state-dir", default=str(STATE_DIR))
    reset.set_defaults(func=cmd_reset)

    inv = sub.add_parser("invoke", help="invoke one function with an event (sam local invoke, without Docker)")
    inv.add_argument("function", help="logical id (e.g. AuthVerify) or function name")
    inv.add_argument("--event", "-e", help="JSON event file ('-' = stdin); default {}")
    inv.add_argument("--template", default=None, help="start a temporary cloud from this template "
                                                     "(default: use the running one, else template.yaml)")
    inv.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    inv.add_argument("--endpoints-file", default=str(ENDPOINTS_FILE))
    inv.set_defaults(func=cmd_invoke)

    # user commands (register, login, listen, publish, inbox, ...) live with the client (client/cli.py)
    user_commands.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `notifyx` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "invoke":
        args.template_given = args.template is not None
        args.template = args.template or "template.yaml"
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
