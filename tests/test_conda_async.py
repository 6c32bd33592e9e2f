"""py-rattler's coroutines run to completion from blocking code: from a plain thread (the CLI), and
from inside a running event loop (the language server calls builds while its loop runs)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from envlens.envs.aio import run_coroutine
from envlens.errors import BuildCancelledError


async def answer(delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    return 42


def test_from_blocking_code() -> None:
    assert run_coroutine(answer) == 42


def test_from_inside_a_running_loop() -> None:
    async def server() -> int:
        return run_coroutine(answer)  # a loop is running in this thread

    assert asyncio.run(server()) == 42


def test_errors_reach_the_caller() -> None:
    async def fails() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_coroutine(fails)


def test_cancel_stops_it_promptly() -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(BuildCancelledError):
        run_coroutine(lambda: answer(30), cancel=cancel)
    assert time.monotonic() - start < 5
