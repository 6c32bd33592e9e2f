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
from envlens.kernels.hotadd import plan_hot_add
from envlens.kernels.launch import KernelTarget, Progress, kernel_target
from envlens.kernels.session import ExecutionResult, InputCallback, KernelSession, OutputCallback
from envlens.resolve import Resolution, resolve
from envlens.settings import Settings
from envlens.sources.notebook import Notebook


@dataclass(frozen=True)
class UpdateResult:
    """`envlens/kernel/update`: what happened to a running kernel after its declaration changed."""

    status: str  # "current" | "added" | "restart"
    key: str  # the environment the kernel uses now
    new_key: str  # the declaration's environment
    added: tuple[str, ...] = ()  # "name version" of the distributions the kernel took
    reason: str = ""  # status "restart": why it cannot be done in place

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "key": self.key,
            "newKey": self.new_key,
            "added": list(self.added),
            "reason": self.reason,
        }


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
        on_input: InputCallback | None = None,
    ) -> ExecutionResult:
        return await self.get(session_id).session.execute(
            code, on_output=on_output, cell=cell, on_input=on_input
        )

    async def update(
        self,
        session_id: str,
        res: Resolution,
        *,
        settings: Settings | None = None,
        progress: Progress | None = None,
    ) -> UpdateResult:
        """Bring the kernel to the declaration `res`: build its environment if needed, then add its
        packages to the running kernel when nothing installed changes (envlens.kernels.hotadd), or
        say why a restart is needed. After an in-place update the kernel counts as running in the
        new environment (its restarts start there)."""
        managed = self.get(session_id)
        settings = settings or Settings.from_env()
        if res.key == managed.target.key:
            return UpdateResult("current", managed.target.key, res.key)
        target = await asyncio.to_thread(kernel_target, res, settings=settings, progress=progress)
        old_env = managed.target.env_dir
        if target.runtime != "python" or old_env is None or target.env_dir is None:
            return UpdateResult(
                "restart",
                managed.target.key,
                target.key,
                reason="the kernel is not a Python kernel",
            )
        plan = await asyncio.to_thread(plan_hot_add, old_env, target.env_dir)
        if not plan.possible:
            return UpdateResult("restart", managed.target.key, target.key, reason=plan.reason)
        result = await managed.session.execute(plan.kernel_code(), silent=True)
        if result.status != "ok":
            error = (result.error or {}).get("evalue", "") or result.status
            return UpdateResult(
                "restart",
                managed.target.key,
                target.key,
                reason=f"the kernel could not take the new packages ({error})",
            )
        managed.target = target
        managed.session.argv = list(target.argv)
        managed.session.extra_env = dict(target.env)
        return UpdateResult(
            "added",
            target.key,
            target.key,
            added=tuple(f"{d.name} {d.version}" for d in plan.added),
        )

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
