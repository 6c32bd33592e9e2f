"""Work-done progress for long operations: begin, report from any thread, end; cancellable.

`operation(...)` is the one way a handler runs something long (build, lock, check, kernel start):
it lists the operation in the Environment view, shows progress the user can cancel, and records
how it ended (succeeded, or failed with the one-line reason and the tool's log).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lsprotocol import types

from envlens.errors import EnvlensError
from envlens.lsp.server import EnvlensServer, Operation

log = logging.getLogger("envlens.lsp")


async def begin(
    ls: EnvlensServer, op: Operation, message: str | None = None, *, cancellable: bool = True
) -> None:
    """Create a progress token (when the client supports it) and show the operation's title."""
    if not ls.supports("window", "work_done_progress"):
        return
    token = f"envlens-{uuid.uuid4().hex[:12]}"
    try:
        await ls.work_done_progress.create_async(token)
    except Exception as exc:
        log.info("window/workDoneProgress/create failed: %s", exc)
        return
    op.token = token
    ls.work_done_progress.begin(
        token, types.WorkDoneProgressBegin(title=op.title, cancellable=cancellable, message=message)
    )


def report(ls: EnvlensServer, op: Operation, message: str) -> None:
    """Safe from a build thread."""
    op.log.append(message)

    def send() -> None:
        if op.token is not None and op.status == "running":
            ls.work_done_progress.report(op.token, types.WorkDoneProgressReport(message=message))

    ls.call_soon(send)


def end(ls: EnvlensServer, op: Operation, message: str) -> None:
    if op.token is not None:
        ls.work_done_progress.end(op.token, types.WorkDoneProgressEnd(message=message))


@asynccontextmanager
async def operation(
    ls: EnvlensServer,
    title: str,
    key: str,
    first: str | None = None,
    *,
    count: int = 0,
    cancellable: bool = True,
) -> AsyncIterator[Operation]:
    """Run the body as a listed, cancellable operation. The body may set `op.done` (the progress's
    last word, e.g. "locked"); an EnvlensError marks it failed with its one line and re-raises."""
    op = ls.new_operation(title, key, count)
    await begin(ls, op, first, cancellable=cancellable)
    try:
        yield op
    except EnvlensError as exc:
        fail(ls, op, exc.message.split("\n")[0].rstrip("."), exc.log)
        raise
    except BaseException as exc:  # cancelled (asyncio), or a bug: the operation still ends
        op.cancel.set()  # a build thread behind it stops too
        fail(
            ls, op, (str(exc) or type(exc).__name__) if isinstance(exc, Exception) else "cancelled"
        )
        raise
    op.status, op.ended = "succeeded", time.time()
    end(ls, op, op.done)


def fail(ls: EnvlensServer, op: Operation, reason: str, log_text: str | None = None) -> None:
    op.status, op.ended, op.error = "failed", time.time(), reason
    if log_text:
        op.log.append(log_text)
    end(ls, op, f"failed: {reason}")


def register(server: EnvlensServer) -> None:
    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel(ls: EnvlensServer, params: types.WorkDoneProgressCancelParams) -> None:
        for op in ls.operations:
            if op.token == params.token and op.status == "running":
                log.info("cancelling %s", op.title)
                op.cancel.set()
