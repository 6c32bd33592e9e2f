"""Run a coroutine (py-rattler's solve and install are async) to completion from blocking code.

The coroutine always runs on its own event loop in a short-lived thread: the CLI has no loop, the
language server calls builds from worker threads while its own loop runs on the main thread, and a
loop that is already running can never be re-entered. A `threading.Event` cancels it: the task is
cancelled and BuildCancelledError raised, as for a cancelled subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from envlens.errors import BuildCancelledError

T = TypeVar("T")


async def _watched(
    factory: Callable[[], Coroutine[Any, Any, T]], cancel: threading.Event | None
) -> T:
    task = asyncio.ensure_future(factory())
    while not task.done():
        await asyncio.wait({task}, timeout=0.1)
        if cancel is not None and cancel.is_set() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise BuildCancelledError("the build was cancelled")
    return task.result()


def run_coroutine(
    factory: Callable[[], Coroutine[Any, Any, T]], *, cancel: threading.Event | None = None
) -> T:
    """`factory()`'s result, computed on a fresh event loop in a helper thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_watched(factory, cancel))
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="envlens-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
