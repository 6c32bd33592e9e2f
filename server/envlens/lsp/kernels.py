"""LSP side of the kernel requests (docs/protocol.md): `envlens/kernel/start|execute|interrupt|
restart|shutdown` and the `envlens/kernel/output` notification.

Only translation lives here; sessions and their lifecycle are `envlens.kernels.registry`.
`envlens.lsp.server` calls `register(server)` once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcServerError
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from envlens.errors import EnvlensError, ToolUnavailableError
from envlens.kernels.deno import find_deno
from envlens.kernels.registry import KernelRegistry
from envlens.resolve import resolve
from envlens.settings import Settings
from envlens.sources.notebook import Notebook
from envlens.trust import require_trusted

log = logging.getLogger(__name__)

KERNEL_START = "envlens/kernel/start"
KERNEL_EXECUTE = "envlens/kernel/execute"
KERNEL_INTERRUPT = "envlens/kernel/interrupt"
KERNEL_RESTART = "envlens/kernel/restart"
KERNEL_SHUTDOWN = "envlens/kernel/shutdown"
KERNEL_OUTPUT = "envlens/kernel/output"

ENVLENS_ERROR_CODE = -32001  # in JSON-RPC's server-error range


def registry_for(server: LanguageServer) -> KernelRegistry:
    """The server's registry (one per server), created on first use."""
    registry = getattr(server, "envlens_kernels", None)
    if not isinstance(registry, KernelRegistry):
        registry = KernelRegistry()
        server.envlens_kernels = registry  # type: ignore[attr-defined]
    return registry


def _error(message: str, data: Any = None) -> JsonRpcServerError:
    return JsonRpcServerError(message, ENVLENS_ERROR_CODE, data)  # type: ignore[no-untyped-call]


def _param(params: Any, name: str) -> Any:
    """Custom requests arrive as pygls `Object` namedtuples (or dicts, when called directly)."""
    value = params.get(name) if isinstance(params, dict) else getattr(params, name, None)
    if value is None:
        raise _error(f"missing parameter {name!r}")
    return value


def _settings(server: LanguageServer) -> Settings:
    settings = getattr(server, "settings", None)
    return settings if isinstance(settings, Settings) else Settings.from_env()


def _failure(server: LanguageServer, exc: EnvlensError) -> JsonRpcServerError:
    """The client shows the message; the full log goes to window/logMessage."""
    text = exc.one_line()
    detail = f"{text}\n{exc.log}" if exc.log else text
    server.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=detail))
    return _error(text, {"error": type(exc).__name__, "hint": exc.hint, "cell": exc.cell})


def _path(params: Any) -> Path:
    uri = str(_param(params, "uri"))
    path = to_fs_path(uri)
    if path is None:
        raise _error(f"not a file URI: {uri}")
    return Path(path)


def _editor_content(server: LanguageServer, uri: str) -> tuple[str | None, Notebook | None]:
    """The file as the editor holds it (unsaved declaration edits count), else None: from disk."""
    snapshot_of = getattr(server, "snapshot", None)
    if snapshot_of is None:
        return None, None
    try:
        snap = snapshot_of(uri)
    except EnvlensError:
        return None, None
    if snap is None:
        return None, None
    if getattr(snap, "is_notebook", False):
        nb = snap.notebook()
        return None, nb if isinstance(nb, Notebook) else None
    text = getattr(snap, "text", None)
    return (text if isinstance(text, str) else None), None


def _supports_progress(server: LanguageServer) -> bool:
    caps = server.client_capabilities
    return bool(caps and caps.window and caps.window.work_done_progress)


async def _acquire_deno(ls: LanguageServer, path: Path, progress: Callable[[str], None]) -> None:
    """Deno is missing: ask the user (window/showMessageRequest), then download it with progress."""
    from envlens.envs.tools import acquire_deno
    from envlens.kernels import deno

    answer = await ls.window_show_message_request_async(
        types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=deno.download_prompt(path),
            actions=[
                types.MessageActionItem(title=deno.DOWNLOAD_ACTION),
                types.MessageActionItem(title="Not now"),
            ],
        )
    )
    if answer is None or answer.title != deno.DOWNLOAD_ACTION:
        raise ToolUnavailableError(
            "this notebook runs on Deno, which is not installed, and its download was declined",
            path=path,
            hint=f"Start the kernel again and choose {deno.DOWNLOAD_ACTION}, or install Deno and "
            "put `deno` on PATH",
        )
    await asyncio.to_thread(acquire_deno, settings=_settings(ls), progress=progress)


def register(server: LanguageServer) -> None:
    @server.feature(types.SHUTDOWN)
    async def shutdown_kernels(ls: LanguageServer, *args: Any) -> None:
        """LSP shutdown: every kernel is asked to stop (atexit and PR_SET_PDEATHSIG cover a server
        that exits without it)."""
        await registry_for(ls).shutdown_all()

    @server.feature(KERNEL_START)
    async def kernel_start(ls: LanguageServer, params: Any) -> dict[str, Any]:
        path = _path(params)
        token: str | None = None
        loop = asyncio.get_running_loop()
        if _supports_progress(ls):
            token = f"envlens-kernel-{uuid.uuid4().hex}"
            try:
                await ls.work_done_progress.create_async(token)
                ls.work_done_progress.begin(
                    token,
                    types.WorkDoneProgressBegin(
                        title=f"Starting the kernel for {path.name}", cancellable=False
                    ),
                )
            except Exception:  # a client that refuses progress still gets its kernel
                token = None

        def progress(message: str) -> None:  # called from the environment builder's thread
            if token is not None:
                loop.call_soon_threadsafe(
                    ls.work_done_progress.report,
                    token,
                    types.WorkDoneProgressReport(message=message),
                )

        text, notebook = _editor_content(ls, str(_param(params, "uri")))
        try:
            # Nothing is installed or run before the user approved it (UntrustedError).
            res = resolve(path, text=text, notebook=notebook, settings=_settings(ls))
            require_trusted(res, notebook=notebook)
            if res.runtime == "deno" and find_deno() is None:
                await _acquire_deno(ls, path, progress)
            managed = await registry_for(ls).start(
                path, settings=_settings(ls), text=text, notebook=notebook, progress=progress
            )
        except EnvlensError as exc:
            raise _failure(ls, exc) from None
        finally:
            if token is not None:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
        if managed.target.note:  # the last good version, not the declaration's: say so
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=managed.target.note)
            )
        return managed.to_json()

    @server.feature(KERNEL_EXECUTE)
    async def kernel_execute(ls: LanguageServer, params: Any) -> dict[str, Any]:
        session_id = str(_param(params, "sessionId"))
        code = str(_param(params, "code"))
        execution_id = _param(params, "executionId")

        def on_output(output: dict[str, Any]) -> None:
            ls.protocol.notify(
                KERNEL_OUTPUT,
                {
                    "sessionId": session_id,
                    "executionId": execution_id,
                    "output": output,
                },
            )

        try:
            result = await registry_for(ls).execute(session_id, code, on_output=on_output)
        except EnvlensError as exc:
            raise _failure(ls, exc) from None
        return result.to_json()

    async def on_session(
        ls: LanguageServer, params: Any, call: Callable[[str], Awaitable[Any]]
    ) -> None:
        try:
            await call(str(_param(params, "sessionId")))
        except EnvlensError as exc:
            raise _failure(ls, exc) from None

    @server.feature(KERNEL_INTERRUPT)
    async def kernel_interrupt(ls: LanguageServer, params: Any) -> None:
        await on_session(ls, params, registry_for(ls).interrupt)

    @server.feature(KERNEL_RESTART)
    async def kernel_restart(ls: LanguageServer, params: Any) -> None:
        await on_session(ls, params, registry_for(ls).restart)

    @server.feature(KERNEL_SHUTDOWN)
    async def kernel_shutdown(ls: LanguageServer, params: Any) -> None:
        await on_session(ls, params, registry_for(ls).shutdown)
