"""LSP side of the kernel requests (docs/protocol.md): `envlens/kernel/start|execute|interrupt|
restart|shutdown|update|commSend|pipCell`, the `envlens/kernel/output` and `envlens/kernel/comm`
notifications, and the `envlens/kernel/input` request to the client (input() in a cell).

Only translation lives here; sessions and their lifecycle are `envlens.kernels.registry`.
`envlens.lsp.server` calls `register(server)` once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from envlens.errors import EnvlensError, ToolUnavailableError
from envlens.kernels.comms import FRONTEND_TYPES, decode_buffers
from envlens.kernels.deno import find_deno
from envlens.kernels.pipmagic import pip_cell
from envlens.lsp import progress
from envlens.lsp.context import (
    editor_content,
    failure,
    invalid,
    optional,
    param,
    plain,
    request_uri,
    target,
)
from envlens.lsp.protocol import (
    KERNEL_COMM,
    KERNEL_COMM_SEND,
    KERNEL_EXECUTE,
    KERNEL_INPUT,
    KERNEL_INTERRUPT,
    KERNEL_OUTPUT,
    KERNEL_PIP_CELL,
    KERNEL_RESTART,
    KERNEL_SHUTDOWN,
    KERNEL_START,
    KERNEL_UPDATE,
)
from envlens.lsp.server import EnvlensServer, client_answer
from envlens.resolve import resolve
from envlens.trust import require_trusted

log = logging.getLogger(__name__)


async def _acquire_deno(ls: EnvlensServer, path: Path, progress: Callable[[str], None]) -> None:
    """Deno is missing: ask the user (window/showMessageRequest), then download it with progress."""
    from envlens.envs.tools import acquire_deno
    from envlens.kernels import deno

    answer = await client_answer(
        ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=deno.download_prompt(path),
                actions=[
                    types.MessageActionItem(title=deno.DOWNLOAD_ACTION),
                    types.MessageActionItem(title="Not now"),
                ],
            )
        )
    )
    if answer is None or answer.title != deno.DOWNLOAD_ACTION:
        raise ToolUnavailableError(
            "this notebook runs on Deno, which is not installed, and its download was declined",
            path=path,
            hint=f"Start the kernel again and choose {deno.DOWNLOAD_ACTION}, or install Deno and "
            "put `deno` on PATH",
        )
    await asyncio.to_thread(acquire_deno, settings=ls.settings, progress=progress)


def register(server: EnvlensServer) -> None:
    @server.feature(types.SHUTDOWN)
    async def shutdown_kernels(ls: EnvlensServer, *args: Any) -> None:
        """LSP shutdown: every kernel is asked to stop (atexit and PR_SET_PDEATHSIG cover a server
        that exits without it)."""
        await ls.kernels.shutdown_all()

    @server.feature(KERNEL_START)
    async def kernel_start(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        key, path = target(ls, request_uri(params))
        text, notebook = editor_content(ls, key)
        try:
            # Nothing is installed or run before the user approved it (UntrustedError).
            res = resolve(path, text=text, notebook=notebook, settings=ls.settings)
            require_trusted(res, notebook=notebook)
            title = f"Starting the kernel for {path.name}"
            async with progress.operation(ls, title, res.key, kind=None) as op:
                op.done = "started"

                def report(message: str) -> None:  # from the environment builder's thread
                    progress.report(ls, op, message)

                if res.runtime == "deno" and find_deno() is None:
                    await _acquire_deno(ls, path, report)
                managed = await ls.kernels.start(
                    path,
                    settings=ls.settings,
                    text=text,
                    notebook=notebook,
                    progress=report,
                    cancel=op.cancel,
                )
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc) from None
        if managed.target.note:  # the last good version, not the declaration's: say so
            ls.show(managed.target.note, types.MessageType.Warning)
        session_id = managed.id

        def relay(wire: dict[str, Any]) -> None:  # widget messages, in the kernel's order
            ls.protocol.notify(KERNEL_COMM, {"sessionId": session_id, "msg": wire})

        managed.session.comm_listener = relay
        return managed.to_json()

    @server.feature(KERNEL_UPDATE)
    async def kernel_update(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        """The declaration changed: build, then add the packages to the running kernel or say why a
        restart is needed (envlens.kernels.hotadd)."""
        session_id = str(param(params, "sessionId"))
        key, path = target(ls, request_uri(params))
        text, notebook = editor_content(ls, key)
        try:
            res = resolve(path, text=text, notebook=notebook, settings=ls.settings)
            require_trusted(res, notebook=notebook)
            title = f"Updating the kernel of {path.name}"
            async with progress.operation(
                ls, title, res.key, cancellable=False, kind="sync", path=path
            ) as op:
                op.done = "updated"
                result = await ls.kernels.update(
                    session_id,
                    res,
                    settings=ls.settings,
                    progress=lambda message: progress.report(ls, op, message),
                )
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc) from None
        return result.to_json()

    @server.feature(KERNEL_COMM_SEND)
    async def kernel_comm_send(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        session_id = str(param(params, "sessionId"))
        msg_type = str(param(params, "msgType"))
        if msg_type not in FRONTEND_TYPES:
            raise invalid(f"a widget cannot send {msg_type!r} to the kernel")
        content = plain(param(params, "content"))
        metadata = plain(optional(params, "metadata") or {})
        msg_id = optional(params, "msgId")
        try:
            buffers = decode_buffers(plain(optional(params, "buffers") or []))
        except ValueError as exc:
            raise invalid(str(exc)) from None
        if not isinstance(content, dict) or not isinstance(metadata, dict):
            raise invalid("content and metadata must be objects")
        try:
            managed = ls.kernels.get(session_id)
            sent = managed.session.send_comm(
                msg_type,
                content,
                metadata=metadata,
                buffers=buffers,
                msg_id=str(msg_id) if msg_id else None,
            )
        except EnvlensError as exc:
            raise failure(ls, exc) from None
        return {"msgId": sent}

    @server.feature(KERNEL_PIP_CELL)
    def kernel_pip_cell(ls: EnvlensServer, params: Any) -> dict[str, Any] | None:
        """A cell's `%pip install` lines: what to declare instead (envlens.kernels.pipmagic)."""
        code = param(params, "code")
        if not isinstance(code, str):
            raise invalid("code must be a string")
        found = pip_cell(code)
        return found.to_json() if found is not None else None

    @server.feature(KERNEL_EXECUTE)
    async def kernel_execute(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        session_id = str(param(params, "sessionId"))
        code = str(param(params, "code"))
        execution_id = param(params, "executionId")

        def on_output(output: dict[str, Any]) -> None:
            ls.protocol.notify(
                KERNEL_OUTPUT,
                {
                    "sessionId": session_id,
                    "executionId": execution_id,
                    "output": output,
                },
            )

        async def on_input(prompt: str, password: bool) -> str | None:
            """input() / getpass(): the client asks the user (VS Code's input box)."""
            answer = await ls.ask_client(
                KERNEL_INPUT,
                {
                    "sessionId": session_id,
                    "executionId": execution_id,
                    "prompt": prompt,
                    "password": password,
                },
            )
            value = (
                answer.get("value") if isinstance(answer, dict) else getattr(answer, "value", None)
            )
            return value if isinstance(value, str) else None

        try:
            result = await ls.kernels.execute(
                session_id, code, on_output=on_output, on_input=on_input
            )
        except EnvlensError as exc:
            raise failure(ls, exc) from None
        return result.to_json()

    async def on_session(
        ls: EnvlensServer, params: Any, call: Callable[[str], Awaitable[Any]]
    ) -> None:
        try:
            await call(str(param(params, "sessionId")))
        except EnvlensError as exc:
            raise failure(ls, exc) from None

    @server.feature(KERNEL_INTERRUPT)
    async def kernel_interrupt(ls: EnvlensServer, params: Any) -> None:
        await on_session(ls, params, ls.kernels.interrupt)

    @server.feature(KERNEL_RESTART)
    async def kernel_restart(ls: EnvlensServer, params: Any) -> None:
        await on_session(ls, params, ls.kernels.restart)

    @server.feature(KERNEL_SHUTDOWN)
    async def kernel_shutdown(ls: EnvlensServer, params: Any) -> None:
        await on_session(ls, params, ls.kernels.shutdown)
