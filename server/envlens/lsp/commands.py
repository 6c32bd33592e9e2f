"""`workspace/executeCommand`: install, sync, lock, add, remove, declare from imports, move pip installs.

Builds run in a thread (the server keeps answering), with work-done progress that the user can
cancel. An expected failure reaches the user as `window/showMessage` (one line: file, dependency, what
to do) with the tool's output in `window/logMessage`, and the command answers with an LSP error
carrying the same line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path

from envlens.edit import PlannedEdit, apply_edit, plan_edit
from envlens.environment import last_good_note
from envlens.errors import BadInputError, BuildCancelledError, EnvlensError, UntrustedError
from envlens.fileio import os_error
from envlens.imports import distribution_for
from envlens.lsp import lifecycle, progress
from envlens.lsp import protocol as P
from envlens.lsp import trust as lsp_trust
from envlens.lsp.analysis import Analysis, Snapshot
from envlens.lsp.edits import notebook_change, text_change
from envlens.lsp.server import EnvlensServer, Operation
from envlens.lsp.trust import approve_json
from envlens.pipinstall import plan_move_notebook, plan_move_script
from envlens.requirements import requirement_name
from envlens.resolve import Resolution, resolve
from envlens.sources.notebook import parse_notebook
from envlens.trust import questions, require_trusted

log = logging.getLogger("envlens.lsp")

REQUEST_FAILED = -32803  # LSP's RequestFailed

Handler = Callable[..., Awaitable[dict[str, Any]]]


class CommandFailed(JsonRpcException):
    CODE = REQUEST_FAILED


def report_failure(ls: EnvlensServer, exc: EnvlensError) -> CommandFailed:
    message = exc.one_line()
    ls.show(message, types.MessageType.Error)
    ls.log_message(message + (f"\n{exc.log}" if exc.log else ""), types.MessageType.Error)
    return CommandFailed(message=message)


def envlens_command(fn: Handler) -> Handler:
    """Expected failures and OS errors -> showMessage + logMessage + an LSP error with the same line."""

    @functools.wraps(fn)
    async def wrapper(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        try:
            return await fn(ls, *args)
        except EnvlensError as exc:
            raise report_failure(ls, exc) from None
        except OSError as exc:  # permissions, disk full...: the same one line as the CLI's
            raise report_failure(ls, os_error(exc)) from None

    return wrapper


# --- targets -------------------------------------------------------------------------------------


def target(ls: EnvlensServer, args: tuple[Any, ...], name: str) -> tuple[str, Path]:
    if not args or not isinstance(args[0], str):
        raise BadInputError(
            f"{name} needs the file's URI as its first argument",
            hint="Call it as [uri, ...]; see docs/protocol.md",
        )
    key = ls.doc_key(args[0])
    path = to_fs_path(key)
    if path is None:
        raise BadInputError(f"{args[0]!r} is not a file URI", hint="Save the file first")
    return key, Path(path)


def current(ls: EnvlensServer, key: str, path: Path) -> tuple[Snapshot, Analysis | None]:
    a = ls.analysis(key)
    if a is not None:
        return a.snapshot, a
    snap = ls.snapshot(key) or ls.disk_snapshot(path)
    if snap is None:
        raise BadInputError("envlens reads Python files and notebooks only", path=path)
    return snap, None


def resolution_of(ls: EnvlensServer, key: str, path: Path) -> Resolution:
    snap, a = current(ls, key, path)
    if a is not None and a.error is not None:
        raise a.error
    if a is not None and a.resolution is not None:
        return a.resolution
    if snap.is_notebook:
        return resolve(path, notebook=snap.notebook(), settings=ls.settings)
    return resolve(path, text=snap.text or "", settings=ls.settings)


def file_text(snap: Snapshot) -> str:
    return snap.notebook().dumps() if snap.is_notebook else snap.text or ""


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


# --- applying edits ------------------------------------------------------------------------------


async def apply_planned(
    ls: EnvlensServer, key: str, snap: Snapshot, planned: list[PlannedEdit]
) -> bool:
    """Apply edits through the editor for open files (buffer, undo, dirty state), else on disk."""
    changed = False
    for edit in planned:
        if not edit.changed:
            continue
        changed = True
        uri = from_fs_path(str(edit.path)) or ""
        # envlens's own edit of a trusted declaration keeps it trusted (docs/trust.md).
        before = lsp_trust.state_before(ls, key) if edit.path == snap.path else None
        if edit.path == snap.path and ls.is_open(key) and snap.is_notebook:
            await _apply_notebook(ls, key, snap, edit)
        elif edit.path == snap.path and ls.is_open(key):
            await _apply_text(
                ls, key, edit.old_text, edit.new_text, label="envlens: edit dependencies"
            )
        elif (doc := ls.text_document(uri)) is not None:
            await _apply_text(
                ls, uri, doc.source, _rebase(doc.source, edit), label="envlens: edit dependencies"
            )
        else:
            await asyncio.to_thread(apply_edit, edit)
        if before is not None:
            lsp_trust.keep_trusted_after_edit(ls, key, before, edit.new_text)
    return changed


async def edit_declaration(
    ls: EnvlensServer,
    key: str,
    path: Path,
    snap: Snapshot,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> tuple[PlannedEdit, bool]:
    """Add/remove on the editor's (maybe unsaved) text, applied through the editor when open."""
    planned = plan_edit(path, add=add, remove=remove, text=file_text(snap), settings=ls.settings)
    return planned, await apply_planned(ls, key, snap, [planned])


def _rebase(current_text: str, edit: PlannedEdit) -> str:
    """A project file open in the editor: apply the planned change to the editor's text."""
    if current_text == edit.old_text:
        return edit.new_text
    raise BadInputError(
        f"{edit.path.name} has unsaved changes",
        path=edit.path,
        hint=f"Save {edit.path.name} and try again",
    )


def _text_edit(old: str, new: str) -> types.TextEdit | None:
    tc = text_change(old, new)
    if tc is None:
        return None
    return types.TextEdit(
        range=types.Range(types.Position(*tc.start), types.Position(*tc.end)), new_text=tc.new_text
    )


def workspace_edit(
    ls: EnvlensServer, changes: dict[str, list[types.TextEdit]]
) -> types.WorkspaceEdit:
    if ls.supports("workspace", "workspace_edit", "document_changes"):
        doc_changes: list[Any] = []
        for uri, edits in changes.items():
            doc = ls.text_document(uri)
            doc_changes.append(
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=doc.version if doc is not None else None
                    ),
                    edits=list(edits),
                )
            )
        return types.WorkspaceEdit(document_changes=doc_changes)
    return types.WorkspaceEdit(changes=changes)


async def _send_workspace_edit(ls: EnvlensServer, edit: types.WorkspaceEdit, label: str) -> None:
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=label)
    )
    if not result.applied:
        raise EnvlensError(
            f"the editor did not apply the edit: {result.failure_reason or 'no reason given'}",
            hint="Save the file and try again",
        )


async def _apply_text(ls: EnvlensServer, uri: str, old: str, new: str, *, label: str) -> None:
    te = _text_edit(old, new)
    if te is not None:
        await _send_workspace_edit(ls, workspace_edit(ls, {uri: [te]}), label)


def notebook_edits(
    ls: EnvlensServer, key: str, snap: Snapshot, new_text: str
) -> tuple[dict[str, list[types.TextEdit]], list[dict[str, Any]]]:
    """Cell text edits (by cell URI) and the notebook operations the client applies itself."""
    cells = snap.cells or ()
    change = notebook_change([c.text for c in cells], dict(snap.metadata or {}), new_text)
    text_edits: dict[str, list[types.TextEdit]] = {}
    for idx, tc in change.cell_edits.items():
        text_edits[cells[idx].uri] = [
            types.TextEdit(
                range=types.Range(types.Position(*tc.start), types.Position(*tc.end)),
                new_text=tc.new_text,
            )
        ]
    return text_edits, change.operations


async def apply_notebook_operations(ls: EnvlensServer, key: str, ops: list[dict[str, Any]]) -> None:
    try:
        result = await ls.protocol.send_request_async(
            P.APPLY_NOTEBOOK_EDIT, {"uri": key, "edits": ops}
        )
    except Exception as exc:
        raise EnvlensError(
            f"the editor could not add, remove or re-describe notebook cells ({exc})",
            path=to_fs_path(key),
            hint="Save and close the notebook, run the command again, and reopen it",
        ) from None
    applied = (
        result.get("applied") if isinstance(result, dict) else getattr(result, "applied", None)
    )
    if not applied:
        raise EnvlensError(
            "the editor did not apply the notebook edit",
            path=to_fs_path(key),
            hint="Save the notebook and try again",
        )


async def _apply_notebook(ls: EnvlensServer, key: str, snap: Snapshot, edit: PlannedEdit) -> None:
    text_edits, ops = notebook_edits(ls, key, snap, edit.new_text)
    if text_edits:
        await _send_workspace_edit(ls, workspace_edit(ls, text_edits), "envlens: edit dependencies")
    if ops:
        await apply_notebook_operations(ls, key, ops)


# --- building ------------------------------------------------------------------------------------


def _one_line(exc: EnvlensError) -> str:
    return exc.message.split("\n")[0].rstrip(".")


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
    """Build (or reuse) the environment for a resolution; one build per env key at a time, one
    job per file at a time (a second one waits, queued). `op`: the job it belongs to (an add
    that syncs), else a sync job of its own."""
    if res.runtime != "python":
        raise BadInputError("a Deno notebook needs no Python environment", path=res.path)
    require_trusted(res)  # nothing is installed before the user approved it (UntrustedError)
    running = ls.running.get(res.key)
    if running is not None and running.future is not None and reverted_from is None:
        result = dict(await asyncio.shield(running.future))
        if op is not None:
            op.finish("succeeded")
        return result
    queue = lifecycle.file_queue(ls, res.path)
    count = len(res.spec.requirements) + len(res.spec.conda_packages)
    if op is None:
        op = ls.new_operation(
            f"envlens: {verb} {count} package{'s' if count != 1 else ''} for {res.path.name}",
            res.key,
            count,
            kind="sync",
            path=res.path,
        )
    if queue.locked() and op.status == "running":
        op.wait()  # another job of this file runs: this one waits its turn
    op.key, op.count = res.key, count
    op.future = asyncio.get_running_loop().create_future()
    ls.running[res.key] = op
    ls.failed.pop(res.key, None)
    ls.refresh_lenses()
    from envlens.environment import ensure_environment

    def on_version(version: Any) -> None:
        op.version = version.n

    try:
        async with queue:
            if op.status == "queued":
                op.begin()
            await progress.begin(ls, op, "resolving")
            info = await asyncio.to_thread(
                ensure_environment,
                res,
                settings=ls.settings,
                progress=lambda message: progress.report(ls, op, message),
                cancel=op.cancel,
                action=action,
                reverted_from=reverted_from,
                on_version=on_version,
            )
    except (EnvlensError, asyncio.CancelledError) as exc:
        cancelled = isinstance(exc, (asyncio.CancelledError, BuildCancelledError))
        if isinstance(exc, asyncio.CancelledError):
            op.cancel.set()  # the request was cancelled: stop the build thread too
            reason = "cancelled"
        else:
            reason = _one_line(exc)
            if exc.log:
                op.note(exc.log)
            if not cancelled and not isinstance(exc, (BadInputError, UntrustedError)):
                # The file keeps its last good version: say which, and how to go back.
                note = await asyncio.to_thread(last_good_note, res)
                if note is not None:
                    exc.hint = f"{exc.hint.rstrip('.')}. {note}" if exc.hint else note
        op.finish("cancelled" if cancelled else "failed", reason)
        ls.failed[res.key] = reason
        progress.end(ls, op, f"failed: {reason}")
        op.future.set_exception(exc if isinstance(exc, EnvlensError) else EnvlensError(reason))
        op.future.exception()  # retrieved: no "never retrieved" warning when nobody joined
        raise
    except Exception as exc:
        op.finish("failed", str(exc))
        ls.failed[res.key] = str(exc)
        progress.end(ls, op, "failed")
        op.future.set_exception(exc)
        op.future.exception()
        log.exception("building %s failed", res.path)
        raise
    finally:
        if ls.running.get(res.key) is op:
            ls.running.pop(res.key, None)
        ls.refresh_lenses()
    op.finish("succeeded")
    ls.forget_environment(info.env_dir)
    if ls.built_for is not None:
        ls.built_for[str(res.declaration.path or res.path)] = info.key
    progress.end(ls, op, "reused" if info.reused else f"built in {info.seconds:.1f} s")
    result = {"ok": True, **info.to_json(), "version": op.version}
    op.future.set_result(result)
    ls.touch_all()  # the environment now provides imports: diagnostics change
    ls.refresh_lenses()
    return result


def optional_module(name: str, feature: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise EnvlensError(
            f"{feature} is not available yet in this version of envlens", hint="Update envlens"
        ) from None


# --- the commands ----------------------------------------------------------------------------------


def register(server: EnvlensServer) -> None:
    @server.command(P.CMD_INSTALL)
    @envlens_command
    async def install(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_INSTALL)
        return await build(ls, key, resolution_of(ls, key, path))

    @server.command(P.CMD_SYNC)
    @envlens_command
    async def sync(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_SYNC)
        return await build(ls, key, resolution_of(ls, key, path), verb="Syncing")

    @server.command(P.CMD_LOCK)
    @envlens_command
    async def lock(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_LOCK)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        module = optional_module("envlens.locking.versions", "Lock Versions")
        res = resolution_of(ls, key, path)
        require_trusted(res)  # resolving may run an sdist's build backend: approval first
        op = ls.new_operation(f"envlens: locking {path.name}", res.key, kind="lock", path=path)
        await progress.begin(ls, op, "resolving versions")
        upgrade = bool(opts.get("upgrade"))
        try:
            if ls.is_open(key):
                # Lock what the editor shows; the pins reach the buffer through the editor.
                snap, _ = current(ls, key, path)
                trusted_before = lsp_trust.state_before(ls, key)  # before the lock file changes
                result = await asyncio.to_thread(
                    module.plan_lock,
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
                        module.write_lock,
                        dataclasses.replace(result, file_changed=False),
                    )
                planned = PlannedEdit(path, result.old_text, result.new_text)
                await apply_planned(ls, key, snap, [planned])
                lsp_trust.keep_trusted_after_edit(ls, key, trusted_before, result.new_text)
            else:
                before = lsp_trust.state_before(ls, key)
                result = await asyncio.to_thread(
                    module.lock_file,
                    path,
                    upgrade=upgrade,
                    settings=ls.settings,
                    cancel=op.cancel,
                    progress=lambda m: progress.report(ls, op, m),
                )
                lsp_trust.keep_trusted(ls, key, before)
        except EnvlensError as exc:
            if exc.log:
                op.note(exc.log)
            op.finish("failed", _one_line(exc))
            progress.end(ls, op, f"failed: {op.error}")
            raise
        op.finish("succeeded")
        progress.end(ls, op, "locked")
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

    @server.command(P.CMD_ADD)
    @envlens_command
    async def add(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_ADD)
        reqs = string_list(args[1] if len(args) > 1 else None, "the requirements")
        opts = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        result = await lifecycle.edit_job(
            ls, key, path, "add", f"Add {', '.join(reqs)} to {path.name}", opts, add=reqs
        )
        # A look-alike or a name not on PyPI is added but not approved along: say so now.
        asked = questions([requirement_name(r) for r in reqs])
        for f in asked:
            ls.show(
                f"{f.package}: {f.detail}. Added to {path.name} but not approved: envlens asks "
                "before installing it",
                types.MessageType.Warning,
            )
        return {**result, "added": reqs, "questioned": [f.to_json() for f in asked]}

    @server.command(P.CMD_REMOVE)
    @envlens_command
    async def remove(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_REMOVE)
        names = string_list(args[1] if len(args) > 1 else None, "the names to remove")
        opts = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        result = await lifecycle.edit_job(
            ls, key, path, "remove", f"Remove {', '.join(names)} from {path.name}", opts,
            remove=names,
        )  # fmt: skip
        return {**result, "removed": names}

    @server.command(P.CMD_DECLARE_FROM_IMPORTS)
    @envlens_command
    async def declare_from_imports(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = target(ls, args, P.CMD_DECLARE_FROM_IMPORTS)
        snap, a = current(ls, key, path)
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
        key, path = target(ls, args, P.CMD_MOVE_PIP_INSTALLS)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        snap, _ = current(ls, key, path)
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
        key, path = target(ls, args, P.CMD_INSTALL_AND_RERUN)
        if len(args) < 2 or not isinstance(args[1], str) or not args[1].strip():
            raise BadInputError(
                "envlens.installAndRerun needs the module name as its second argument"
            )
        module = args[1].strip()
        snap, a = current(ls, key, path)
        known = (
            ls.knowledge_for(a.resolution) if a is not None and a.resolution is not None else None
        )
        dist = distribution_for(module, known.import_map if known else None)
        # The edit exists to install: a file whose declaration is not approved is left untouched
        # (UntrustedError now, not after the notebook was rewritten). Approved stays approved.
        lsp_trust.require_trusted(ls, path, key)
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
        key, path = target(ls, args, P.CMD_CHECK_PORTABILITY)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        module = optional_module("envlens.portability", "Checking portability")
        res = resolution_of(ls, key, path)
        require_trusted(res)  # uv may run an sdist's build backend to read its metadata
        op = ls.new_operation(
            f"envlens: checking where {path.name} runs", res.key, kind="check", path=path
        )
        await progress.begin(ls, op, "asking uv for every platform and Python")
        try:
            verdicts = await asyncio.to_thread(
                module.check,
                res,
                opts.get("platforms"),
                opts.get("pythons"),
                settings=ls.settings,
                cancel=op.cancel,
            )
        except EnvlensError as exc:
            op.finish("failed", _one_line(exc))
            progress.end(ls, op, f"failed: {op.error}")
            raise
        op.finish("succeeded")
        progress.end(ls, op, "checked")
        return {"ok": True, "verdicts": [v.to_json() for v in verdicts]}

    @server.command(P.CMD_TRUST)
    @envlens_command
    async def trust(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, _path = target(ls, args, P.CMD_TRUST)
        result = approve_json(ls, key)  # the editor's buffer, not the file on disk
        ls.touch(key)
        ls.refresh_lenses()
        return result
