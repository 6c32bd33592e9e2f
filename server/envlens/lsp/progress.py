"""Work-done progress for long operations: begin, report from any thread, end; cancellable."""

from __future__ import annotations

import logging
import uuid

from lsprotocol import types

from envlens.lsp.server import EnvlensServer, Operation

log = logging.getLogger("envlens.lsp")


async def begin(ls: EnvlensServer, op: Operation, message: str | None = None) -> None:
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
        token, types.WorkDoneProgressBegin(title=op.title, cancellable=True, message=message)
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


def register(server: EnvlensServer) -> None:
    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel(ls: EnvlensServer, params: types.WorkDoneProgressCancelParams) -> None:
        for op in ls.operations:
            if op.token == params.token and op.status in ("queued", "running"):
                log.info("cancelling %s", op.title)
                op.cancel.set()
