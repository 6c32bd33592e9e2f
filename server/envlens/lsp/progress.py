"""Work-done progress for long operations: begin, report from any thread, end; cancellable.

`operation(...)` is the one way a handler runs something long (build, lock, check, kernel start):
it lists the operation in the Environment view, shows progress the user can cancel, and records
how it ended (succeeded, or failed with the one-line reason and the tool's log).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from lsprotocol import types

from envlens.errors import BuildCancelledError, EnvlensError
from envlens.lsp.server import EnvlensServer, Operation, client_answer

log = logging.getLogger("envlens.lsp")


async def begin(
    ls: EnvlensServer, op: Operation, message: str | None = None, *, cancellable: bool = True
) -> None:
    """Create a progress token (when the client supports it) and show the operation's title."""
    if not ls.supports("window", "work_done_progress"):
        return
    token = f"envlens-{uuid.uuid4().hex[:12]}"
    try:
        await client_answer(ls.work_done_progress.create_async(token))
    except Exception as exc:
        log.info("window/workDoneProgress/create failed: %s", exc)
        return
    op.token = token
    ls.work_done_progress.begin(
        token, types.WorkDoneProgressBegin(title=op.title, cancellable=cancellable, message=message)
    )


def report(ls: EnvlensServer, op: Operation, message: str) -> None:
    """Safe from a build thread."""
    op.note(message)

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
    kind: str | None = "sync",
    path: Path | None = None,
    op: Operation | None = None,
) -> AsyncIterator[Operation]:
    """Run the body as a listed, cancellable operation, recorded as a job of `kind` for the file at
    `path` (envs/jobs.py; `kind=None`: not a job, e.g. a kernel start), or as part of the job `op`
    already running (an add that then syncs).
    The body may set `op.done` (the progress's last word, e.g. "locked"); an EnvlensError marks it
    failed (cancelled: BuildCancelledError) with its one line and re-raises."""
    if op is None:
        op = ls.new_operation(title, key, count, kind=kind, path=path)
    else:
        op.key, op.count = key or op.key, count
    await begin(ls, op, first, cancellable=cancellable)
    try:
        yield op
    except EnvlensError as exc:
        reason = exc.message.split("\n")[0].rstrip(".")
        fail(ls, op, reason, exc.log, cancelled=isinstance(exc, BuildCancelledError))
        raise
    except BaseException as exc:  # cancelled (asyncio), or a bug: the operation still ends
        op.cancel.set()  # a build thread behind it stops too
        bug = isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError)
        fail(ls, op, (str(exc) or type(exc).__name__) if bug else "cancelled", cancelled=not bug)
        raise
    op.finish("succeeded")
    end(ls, op, op.done)


def fail(
    ls: EnvlensServer,
    op: Operation,
    reason: str,
    log_text: str | None = None,
    *,
    cancelled: bool = False,
) -> None:
    if op.status in ("succeeded", "failed", "cancelled"):
        return  # already ended (a joined build)
    if log_text:
        op.note(log_text)
    op.finish("cancelled" if cancelled else "failed", reason)
    end(ls, op, f"{'cancelled' if cancelled else 'failed'}: {reason}")


def register(server: EnvlensServer) -> None:
    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel(ls: EnvlensServer, params: types.WorkDoneProgressCancelParams) -> None:
        for op in ls.operations:
            if op.token == params.token and op.status in ("queued", "running"):
                log.info("cancelling %s", op.title)
                op.cancel.set()
