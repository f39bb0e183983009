"""Code reload: a running local cloud's functions run the code as it is on disk.

On Lambda, new code (UpdateFunctionCode, `sam deploy`) is run by the function's next invocations, which start
cold. `notifyx up` does the same when a developer saves a file: it watches each function's code folder and layers
(watchfiles, which inotify drives: no scanning of big trees) and, when a file in one of them changes, retires the
warm sandboxes of the functions that run from it (infra.runtime.LambdaRuntime.update_code); the next invocation
of each starts cold with the code as it is now. An invocation running at that moment finishes with the code it
started with. The template is read at start only: a new function, resource or setting needs a restart.

Not watched: `__pycache__`, `.git`, `node_modules` and the other folders watchfiles' DefaultFilter leaves out, and
the local cloud's own `.notifyx` and SAM's `.aws-sam` (a template whose CodeUri is the project's folder would
otherwise reload on every write of the durable state's journal).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger("notifyx.reload")

#: folders never watched, besides watchfiles.DefaultFilter's
IGNORED = (".notifyx", ".aws-sam")


class CodeWatcher:
    """Watches the code folders of a runtime's functions; `start()`, `stop()`; `reloads` counts what it did."""

    def __init__(self, runtime: Any, folders: dict[Path, set[str]]) -> None:
        #: a folder -> the functions whose code or layers are in it
        self.folders = {Path(folder).resolve(): set(names) for folder, names in folders.items()}
        self._runtime = runtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        #: function name -> how many times its sandboxes were retired for new code
        self.reloads: dict[str, int] = {}

    def start(self) -> CodeWatcher:
        """Start watching, in the background (wait_ready: until a change would be seen)."""
        folders = [folder for folder in self.folders if folder.is_dir()]
        if not folders:
            self._ready.set()
            return self
        self._thread = threading.Thread(target=self._watch, args=(folders,), name="notifyx-code-watch", daemon=True)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Whether the watch is set up (a change made from now on is seen), waiting up to `timeout` seconds."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self, folders: list[Path]) -> None:
        from watchfiles import DefaultFilter, watch

        class Code(DefaultFilter):
            ignore_dirs = (*DefaultFilter.ignore_dirs, *IGNORED)

        changes = watch(*folders, watch_filter=Code(), stop_event=self._stop, debounce=200, step=50,
                        yield_on_timeout=True, rust_timeout=500, raise_interrupt=False)
        try:
            for batch in changes:
                self._ready.set()  # the first (empty) yield comes once the watch is set up
                if batch:
                    self.changed({Path(path) for _, path in batch})
        except Exception:  # noqa: BLE001 - no reload is not a reason to stop the cloud
            logger.exception("watching the functions' code failed: code changes need a restart")
        finally:
            self._ready.set()

    def changed(self, paths: set[Path]) -> set[str]:
        """Retire the warm sandboxes of the functions whose folders hold these paths; their names."""
        names = {name for folder, owners in self.folders.items() for path in paths if path.is_relative_to(folder)
                 for name in owners}
        for name in sorted(names):
            try:
                self._runtime.update_code(name, self._runtime.code_dir(name))
            except Exception:  # noqa: BLE001 - a function gone meanwhile
                logger.debug("reloading %s failed", name, exc_info=True)
                continue
            self.reloads[name] = self.reloads.get(name, 0) + 1
        if names:
            shown = sorted(str(p) for p in paths)[:3]
            logger.info("code changed (%s%s): the next invocation of %s starts cold with it", ", ".join(shown),
                        ", ..." if len(paths) > 3 else "", ", ".join(sorted(names)))
        return names
