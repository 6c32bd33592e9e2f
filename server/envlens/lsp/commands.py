"""`workspace/executeCommand`: install, sync, lock, declare from imports, move pip installs, install
and re-run, check portability, trust. (Add, remove, import and revert: envlens.lsp.lifecycle.)

Builds run in a thread (the server keeps answering), with work-done progress that the user can
cancel. An expected failure reaches the user as `window/showMessage` (one line: file, dependency, what
to do) with the tool's output in `window/logMessage`, and the command answers with an LSP error
carrying the same line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from envlens import portability
from envlens.edit import PlannedEdit
from envlens.environment import ensure_environment, last_good_note
from envlens.envs.history import Version
from envlens.envs.record import EnvInfo
from envlens.errors import BadInputError, BuildCancelledError, EnvlensError, UntrustedError
from envlens.imports import distribution_for
from envlens.locking import versions as locking
from envlens.lsp import progress
from envlens.lsp import protocol as P
from envlens.lsp import trust as lsp_trust
from envlens.lsp.apply import apply_planned, edit_declaration
from envlens.lsp.context import (
    command_uri,
    failure,
    file_text,
    resolution,
    snapshot,
    target,
)
from envlens.lsp.server import EnvlensServer, Operation
from envlens.pipinstall import plan_move_notebook, plan_move_script
from envlens.resolve import Resolution, resolve
from envlens.sources.notebook import parse_notebook
from envlens.trust import require_trusted

log = logging.getLogger("envlens.lsp")

Handler = Callable[..., Awaitable[dict[str, Any]]]


def envlens_command(fn: Handler) -> Handler:
    """Expected failures and OS errors -> showMessage + logMessage + the one error reply
    (envlens.lsp.context.failure)."""

    @functools.wraps(fn)
    async def wrapper(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        try:
            return await fn(ls, *args)
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, show=True) from None

    return wrapper


def file_of(ls: EnvlensServer, args: tuple[Any, ...], command: str) -> tuple[str, Path]:
    return target(ls, command_uri(args, command))


def string_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise BadInputError(
            f"{what} must be a non-empty list of strings, not {value!r}",
            hint="Pass them as the command's second argument",
        )
    return [v.strip() for v in value]


# --- building ------------------------------------------------------------------------------------


async def build(
    ls: EnvlensServer,
    key: str,
    res: Resolution,
    *,
    verb: str = "Installing",
    op: Operation | None = None,
    action: str = "build",
    reverted_from: int | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the environment for a resolution, recorded as a version of the file's
    history: one build per env key at a time (a second request for the same key joins the first),
    one job per file at a time (a second waits, queued). `op`: the job it belongs to (an add that
    syncs, a revert), else a sync job of its own."""
    if res.runtime != "python":
        raise BadInputError("a Deno notebook needs no Python environment", path=res.path)
    require_trusted(res)  # nothing is installed before the user approved it (UntrustedError)
    running = ls.running.get(res.key)
    if running is not None and running.future is not None and reverted_from is None:
        result = dict(await asyncio.shield(running.future))
        if op is not None:
            op.finish("succeeded")
        return result
    count = len(res.spec.requirements) + len(res.spec.conda_packages)
    title = f"envlens: {verb} {count} package{'s' if count != 1 else ''} for {res.path.name}"
    joined: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    ls.failed.pop(res.key, None)
    queue = ls.file_queue(res.path)
    try:
        async with progress.operation(
            ls, title, res.key, "resolving", count=count, kind="sync", path=res.path, op=op
        ) as job:
            job.future = joined
            ls.running[res.key] = job
            ls.refresh_lenses()
            if queue.locked():
                job.wait()  # another job of this file runs: this one waits its turn
            async with queue:
                if job.status == "queued":
                    job.begin()
                info = await _ensure(ls, res, job, action, reverted_from)
            job.done = "reused" if info.reused else f"built in {info.seconds:.1f} s"
    except BaseException as exc:
        started = ls.running.get(res.key)  # the operation recorded why it ended
        reason = (started.error if started is not None else None) or "failed"
        ls.failed[res.key] = reason
        if not isinstance(exc, EnvlensError) and isinstance(exc, Exception):
            log.exception("building %s failed", res.path)
        joined.set_exception(exc if isinstance(exc, Exception) else EnvlensError(reason))
        joined.exception()  # retrieved: no "never retrieved" warning when nobody joined
        raise
    finally:
        ls.running.pop(res.key, None)
        ls.refresh_lenses()
    ls.forget_environment(info.env_dir)
    if ls.built_for is not None:
        ls.built_for[str(res.declaration.path or res.path)] = info.key
    result = {"ok": True, **info.to_json(), "version": job.version}
    joined.set_result(result)
    ls.touch_all()  # the environment now provides imports: diagnostics change
    return result


async def _ensure(
    ls: EnvlensServer, res: Resolution, job: Operation, action: str, reverted_from: int | None
) -> EnvInfo:
    def on_version(version: Version) -> None:
        job.version = version.n

    try:
        return await asyncio.to_thread(
            ensure_environment,
            res,
            settings=ls.settings,
            progress=lambda message: progress.report(ls, job, message),
            cancel=job.cancel,
            action=action,
            reverted_from=reverted_from,
            on_version=on_version,
        )
    except (BadInputError, UntrustedError, BuildCancelledError):
        raise
    except EnvlensError as exc:
        # The file keeps its last good version: say which, and how to go back.
        note = await asyncio.to_thread(last_good_note, res)
        if note is not None:
            exc.hint = f"{exc.hint.rstrip('.')}. {note}" if exc.hint else note
        raise


# --- the commands ----------------------------------------------------------------------------------


def register(server: EnvlensServer) -> None:
    @server.command(P.CMD_INSTALL)
    @envlens_command
    async def install(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_INSTALL)
        return await build(ls, key, resolution(ls, key, path))

    @server.command(P.CMD_SYNC)
    @envlens_command
    async def sync(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_SYNC)
        return await build(ls, key, resolution(ls, key, path), verb="Syncing")

    @server.command(P.CMD_LOCK)
    @envlens_command
    async def lock(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_LOCK)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        res = resolution(ls, key, path)
        require_trusted(res)  # resolving may run an sdist's build backend: approval first
        upgrade = bool(opts.get("upgrade"))
        title = f"envlens: locking {path.name}"
        async with progress.operation(
            ls, title, res.key, "resolving versions", kind="lock", path=path
        ) as op:
            op.done = "locked"
            if ls.is_open(key):
                # Lock what the editor shows; the pins reach the buffer through the editor.
                snap, _ = snapshot(ls, key, path)
                trusted_before = lsp_trust.state_before(ls, key)  # before the lock file changes
                result = await asyncio.to_thread(
                    locking.plan_lock,
                    path,
                    upgrade=upgrade,
                    settings=ls.settings,
                    text=file_text(snap),
                    cancel=op.cancel,
                    progress=lambda m: progress.report(ls, op, m),
                )
                # A lock in its own file (a script's, or a project file's conda lock) is written here.
                if (not snap.is_notebook or result.path != path) and result.lock_changed:
                    await asyncio.to_thread(
                        locking.write_lock,
                        dataclasses.replace(result, file_changed=False),
                    )
                planned = PlannedEdit(path, result.old_text, result.new_text)
                await apply_planned(ls, key, snap, [planned])
                lsp_trust.keep_trusted_after_edit(ls, key, trusted_before, result.new_text)
            else:
                before = lsp_trust.state_before(ls, key)
                result = await asyncio.to_thread(
                    locking.lock_file,
                    path,
                    upgrade=upgrade,
                    settings=ls.settings,
                    cancel=op.cancel,
                    progress=lambda m: progress.report(ls, op, m),
                )
                lsp_trust.keep_trusted(ls, key, before)
        if result.requires_python is not None:
            declared, locked_for = result.requires_python
            ls.show(
                f"{path.name}: locked for Python {locked_for}; the pinned versions do not support "
                f"every Python the declaration allowed ({declared or 'any'}), so requires-python "
                f"is now {locked_for}",
                types.MessageType.Info,
            )
        ls.touch(key)
        ls.refresh_lenses()
        out: dict[str, Any] = {"ok": True}
        if hasattr(result, "to_json"):
            out.update(result.to_json())
        return out

    @server.command(P.CMD_DECLARE_FROM_IMPORTS)
    @envlens_command
    async def declare_from_imports(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_DECLARE_FROM_IMPORTS)
        snap, a = snapshot(ls, key, path)
        if a is None:
            raise BadInputError("cannot read the file's imports", path=path)
        if a.error is not None:
            raise a.error
        dists = a.undeclared_distributions
        if not dists:
            return {"ok": True, "changed": False, "added": []}
        _, changed = await edit_declaration(ls, key, path, snap, add=dists)
        return {"ok": True, "changed": changed, "added": dists}

    @server.command(P.CMD_MOVE_PIP_INSTALLS)
    @envlens_command
    async def move_pip_installs(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_MOVE_PIP_INSTALLS)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        snap, _ = snapshot(ls, key, path)
        if snap.is_notebook:
            cells = set(opts["cells"]) if isinstance(opts.get("cells"), list) else None
            nb = parse_notebook(file_text(snap), path)
            planned = plan_move_notebook(nb, cells=cells, settings=ls.settings)
        else:
            lines = set(opts["lines"]) if isinstance(opts.get("lines"), list) else None
            planned = plan_move_script(path, snap.text or "", lines=lines, settings=ls.settings)
        changed = await apply_planned(ls, key, snap, planned)
        return {"ok": True, "changed": changed}

    @server.command(P.CMD_INSTALL_AND_RERUN)
    @envlens_command
    async def install_and_rerun(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_INSTALL_AND_RERUN)
        if len(args) < 2 or not isinstance(args[1], str) or not args[1].strip():
            raise BadInputError(
                "envlens.installAndRerun needs the module name as its second argument"
            )
        module = args[1].strip()
        snap, a = snapshot(ls, key, path)
        known = (
            ls.knowledge_for(a.resolution) if a is not None and a.resolution is not None else None
        )
        dist = distribution_for(module, known.import_map if known else None)
        # The edit exists to install: a file whose declaration is not approved is left untouched
        # (UntrustedError now, not after the notebook was rewritten). Approved stays approved.
        lsp_trust.require_trusted(ls, key)
        planned, _ = await edit_declaration(ls, key, path, snap, add=[dist])
        # Resolve from the planned text: the editor's didChange may still be on its way.
        if planned.path == path and snap.is_notebook:
            res = resolve(
                path, notebook=parse_notebook(planned.new_text, path), settings=ls.settings
            )
        elif planned.path == path:
            res = resolve(path, text=planned.new_text, settings=ls.settings)
        else:
            res = resolve(
                path,
                notebook=parse_notebook(file_text(snap), path) if snap.is_notebook else None,
                text=None if snap.is_notebook else snap.text,
                settings=ls.settings,
            )
        result = await build(ls, key, res, verb="Syncing")
        return {**result, "distribution": dist}

    @server.command(P.CMD_CHECK_PORTABILITY)
    @envlens_command
    async def check_portability(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_CHECK_PORTABILITY)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        res = resolution(ls, key, path)
        require_trusted(res)  # uv may run an sdist's build backend to read its metadata
        title = f"envlens: checking where {path.name} runs"
        first = "asking uv for every platform and Python"
        async with progress.operation(ls, title, res.key, first, kind="check", path=path) as op:
            op.done = "checked"
            verdicts = await asyncio.to_thread(
                portability.check,
                res,
                opts.get("platforms"),
                opts.get("pythons"),
                settings=ls.settings,
                cancel=op.cancel,
            )
        return {"ok": True, "verdicts": [v.to_json() for v in verdicts]}

    @server.command(P.CMD_TRUST)
    @envlens_command
    async def trust(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, _path = file_of(ls, args, P.CMD_TRUST)
        result = lsp_trust.approve_json(ls, key)  # the editor's buffer, not the file on disk
        ls.touch(key)
        ls.refresh_lenses()
        return result
