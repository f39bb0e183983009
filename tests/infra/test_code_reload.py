"""Code reload (infra/code_watch.py): with `notifyx up` (reload on), a saved change to a function's code is what its
next invocation runs, cold, as Lambda runs new code after UpdateFunctionCode; the local cloud's own files and
bytecode in a code folder change nothing. Before 7 December a code change needed a restart of the cloud."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from http_calls import call
from racing import wait_for

from infra.cloud import LocalCloud
from infra.sandbox import SandboxPool

APP = Path(__file__).parent / "fixtures" / "apps" / "sam_hello"


def test_a_saved_change_is_what_the_next_invocation_runs(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    with LocalCloud(app / "template.yaml", static_dir=None, reload=True) as cloud:
        assert cloud.code_watch.wait_ready()
        url = cloud.endpoints["http_api"] + "/hello"

        def message() -> str:
            status, body = call(url)[:2]
            assert status == 200, body
            return body["message"]

        assert message() == "hello world"
        function = cloud.physical_id("HelloWorldFunction")
        # what is not code changes nothing: the local cloud's own files, bytecode
        (app / "hello_world" / ".notifyx").mkdir()
        (app / "hello_world" / ".notifyx" / "journal.log").write_text("x")
        (app / "hello_world" / "__pycache__").mkdir(exist_ok=True)
        (app / "hello_world" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
        time.sleep(1.0)
        assert cloud.code_watch.reloads == {} and message() == "hello world"

        source = app / "hello_world" / "app.py"
        source.write_text(source.read_text().replace('"hello world"', '"hello again"'))
        assert wait_for(lambda: message() == "hello again", timeout=10)
        assert cloud.code_watch.reloads == {function: 1}


def test_without_reload_nothing_watches():
    with LocalCloud(APP / "template.yaml", static_dir=None) as cloud:
        assert cloud.code_watch is None


class _Sandbox:
    killed = False

    def kill(self) -> None:
        self.killed = True


def test_a_sandbox_given_back_to_a_pool_closed_for_new_code_is_stopped():
    """A busy sandbox of a pool closed meanwhile (new code) joined the closed pool's idle list, which nobody takes
    from again: a process left running until the cloud stopped."""
    pool = SandboxPool({}, {})
    busy = _Sandbox()
    pool.close()
    pool.give_back(busy)
    assert busy.killed
    open_pool, idle = SandboxPool({}, {}), _Sandbox()
    open_pool.give_back(idle)
    assert not idle.killed
