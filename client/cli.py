"""The user commands of `notifyx`: register, login, logout, subscribe, listen, publish, inbox.

`notifyx` (infra/cli.py) offers them beside the local cloud's `up`, `reset` and `invoke`; `python -m client`
runs them alone, against any deployment named by an endpoints file.
"""
from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import sys
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from client.listener import Listener
from client.sdk import ENDPOINTS_FILE, SESSION_FILE, ApiError, Client, load_endpoints, load_session, save_session


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register the user commands on the `notifyx` parser (infra/cli.py calls this)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoints", metavar="FILE", help="endpoints file (default: $NOTIFYX_ENDPOINTS or "
                                                               f"{ENDPOINTS_FILE})")

    credentials = argparse.ArgumentParser(add_help=False)
    credentials.add_argument("email")
    credentials.add_argument("--password", help="default: $NOTIFYX_PASSWORD, else a prompt")

    p = subparsers.add_parser("register", parents=[common, credentials], help="create a user")
    p.set_defaults(func=_readable_errors(cmd_register))
    p = subparsers.add_parser("login", parents=[common, credentials],
                              help=f"log in and store the token in {SESSION_FILE}")
    p.set_defaults(func=_readable_errors(cmd_login))
    p = subparsers.add_parser("logout", parents=[common], help="revoke the stored token")
    p.set_defaults(func=_readable_errors(cmd_logout))

    p = subparsers.add_parser("subscribe", parents=[common], help="subscribe to topics (a new topic is yours)")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.set_defaults(func=_readable_errors(cmd_subscribe))

    p = subparsers.add_parser("listen", parents=[common],
                              help="subscribe and print notifications as they arrive (reconnects and catches up)")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--count", type=int, help="exit after this many notifications")
    p.add_argument("--timeout", type=float, help="exit after this many seconds")
    p.set_defaults(func=_readable_errors(cmd_listen))

    p = subparsers.add_parser("publish", parents=[common], help="publish a notification to a topic you own")
    p.add_argument("topic")
    p.add_argument("message")
    p.add_argument("--to", action="append", metavar="EMAIL", help="only this subscriber (repeatable)")
    p.add_argument("--idempotency-key", metavar="K", help="publishing again with the same key publishes once")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    p.set_defaults(func=_readable_errors(cmd_publish))

    p = subparsers.add_parser("inbox", parents=[common], help="list your notifications")
    p.add_argument("--topic", metavar="T")
    p.add_argument("--unread", action="store_true", help="only those not seen yet")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=_readable_errors(cmd_inbox))


def run(args: argparse.Namespace) -> int:
    """Run a parsed user command; contract errors are printed readably and give exit status 1."""
    return args.func(args)


def _readable_errors(command):
    """Wrap a command so that whoever dispatches it (this module or infra/cli.py) gets an exit status."""

    @functools.wraps(command)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return command(args) or 0
        except ApiError as exc:
            print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        except (TimeoutError, ConnectionClosed) as exc:
            print(f"error: unavailable: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    return wrapped


def _password(args: argparse.Namespace) -> str:
    return args.password or os.environ.get("NOTIFYX_PASSWORD") or getpass.getpass(f"password for {args.email}: ")


def _client(args: argparse.Namespace, *, logged_in: bool = True) -> Client:
    endpoints = load_endpoints(args.endpoints)
    token = load_session()["token"] if logged_in else None
    return Client(endpoints, token)


def cmd_register(args: argparse.Namespace) -> int:
    user = _client(args, logged_in=False).http.register(args.email, _password(args))
    print(f"registered {user['email']} (id {user['id']})")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    client = _client(args, logged_in=False)
    session = client.http.login(args.email, _password(args))
    save_session({"token": session["token"], "user": session["user"], "expires_at": session.get("expires_at"),
                  "http_api": client.endpoints["http_api"]})
    print(f"logged in as {session['user']['email']} until {session.get('expires_at')}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    try:
        _client(args).http.logout()
    except ApiError as exc:
        if exc.code != "unauthorized":  # an expired or revoked token: the session is over already
            raise
    SESSION_FILE.unlink(missing_ok=True)
    print("logged out")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    with _client(args).connect() as conn:
        for topic in args.topics:
            data = conn.request("subscribe", topic=topic)
            state = "created, yours" if data.get("created") else f"owner {data.get('owner')}"
            print(f"subscribed to {data['topic']} ({state}, last seq {data.get('last_seq')})")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"topic": args.topic, "message": args.message}
    if args.to:
        fields["to"] = args.to
    if args.idempotency_key:
        fields["idempotency_key"] = args.idempotency_key
    with _client(args).connect() as conn:
        data = conn.request("publish", **fields)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"published {data['notification_id']} as {args.topic} #{data['seq']} "
              f"to {data['recipients']} recipient(s)")
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    inbox = _client(args).http.inbox(args.topic, "unread" if args.unread else None, limit=args.limit)
    if args.json:
        print(json.dumps(inbox))
        return 0
    for note in inbox["notifications"]:
        print(_line(note, note.get("status")))
    print(f"{inbox['unread']} unread")
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    """Subscribe, print notifications; when the connection drops, reconnect and print what was missed."""
    client = _client(args)
    listener = Listener(client, args.topics)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    printed = 0
    for note in listener.notifications(deadline):
        print(json.dumps(note) if args.json else _line(note), flush=True)
        printed += 1
        if args.count and printed >= args.count:
            break
    listener.close()
    return 0


def _line(note: dict, status: str | None = None) -> str:
    mark = f" [{status}]" if status else ""
    return f"{note.get('topic')} #{note.get('seq')} from {note.get('from')}{mark}: {note.get('message')}"


def main(argv: list[str] | None = None) -> int:
    """`python -m client COMMAND ...`: the user commands alone, without the local cloud's."""
    parser = argparse.ArgumentParser(prog="notifyx", description="Notifyx user commands.")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))

