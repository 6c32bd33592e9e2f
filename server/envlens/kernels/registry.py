"""Kernel sessions by id, for the language server (`envlens/kernel/*` requests).

The registry is the decision logic; `envlens.lsp.kernels` only translates LSP messages to these
calls. Every session is shut down when the server exits, and killed at interpreter exit as a last
resort (PR_SET_PDEATHSIG covers the case where the server itself is killed).
"""

from __future__ import annotations

import asyncio
import atexit
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envlens.errors import KernelError
from envlens.kernels.launch import KernelTarget, Progress, kernel_target
from envlens.kernels.session import ExecutionResult, KernelSession, OutputCallback
from envlens.resolve import resolve
from envlens.settings import Settings
from envlens.sources.notebook import Notebook


@dataclass
class ManagedKernel:
    id: str
    path: Path
    target: KernelTarget
    session: KernelSession

    def to_json(self) -> dict[str, Any]:
        """The `envlens/kernel/start` result."""
        return {
            "sessionId": self.id,
            "key": self.target.key,
            "label": self.target.label,
            "pythonVersion": self.target.python_version,
            "note": self.target.note,
        }


_live_registries: weakref.WeakSet[KernelRegistry] = weakref.WeakSet()


@atexit.register
def _kill_everything() -> None:
    for registry in list(_live_registries):
        registry.kill_all()


class KernelRegistry:
    def __init__(self) -> None:
        self.sessions: dict[str, ManagedKernel] = {}
        _live_registries.add(self)

    async def start(
        self,
        path: Path,
        *,
        settings: Settings | None = None,
        text: str | None = None,
        notebook: Notebook | None = None,
        progress: Progress | None = None,
        cancel: Any = None,
    ) -> ManagedKernel:
        """Resolve the file, build its environment if needed (in a worker thread), start a kernel;
        in the file's last version that built when the declaration's environment fails to build
        (the editor's rule: `target.note` says so)."""
        settings = settings or Settings.from_env()
        path = Path(path).absolute()
        res = resolve(path, text=text, notebook=notebook, settings=settings)
        target = await asyncio.to_thread(
            kernel_target,
            res,
            settings=settings,
            progress=progress,
            cancel=cancel,
            keep_last_good=True,
        )
        # On this (the loop's) thread: the kernel's death signal is tied to the forking thread.
        session = target.session(path)
        await session.start()
        managed = ManagedKernel(id=uuid.uuid4().hex, path=path, target=target, session=session)
        self.sessions[managed.id] = managed
        return managed

    def get(self, session_id: str) -> ManagedKernel:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise KernelError(
                f"there is no kernel session {session_id!r} (it was shut down, or the server restarted)",
                hint="Start the kernel again",
            ) from None

    async def execute(
        self,
        session_id: str,
        code: str,
        *,
        on_output: OutputCallback | None = None,
        cell: int | None = None,
    ) -> ExecutionResult:
        return await self.get(session_id).session.execute(code, on_output=on_output, cell=cell)

    async def interrupt(self, session_id: str) -> None:
        await self.get(session_id).session.interrupt()

    async def restart(self, session_id: str) -> None:
        await self.get(session_id).session.restart()

    async def shutdown(self, session_id: str) -> None:
        managed = self.sessions.pop(session_id, None)
        if managed is not None:
            await managed.session.shutdown()

    async def shutdown_all(self) -> None:
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(m.session.shutdown() for m in sessions), return_exceptions=True)

    def kill_all(self) -> None:
        """Synchronous: for atexit and signal handlers, where no event loop runs any more."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        for m in sessions:
            m.session.kill_now()
