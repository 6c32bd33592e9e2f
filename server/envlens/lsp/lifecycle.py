"""LSP side of the environment lifecycle (docs/protocol.md): add, remove and import as jobs (with
`{sync}`), revert, a file's history and its logs, jobs, prune; at start, the pool's replenisher
and the prune of unused environments.

The decisions live in `envlens.envs.history`, `envlens.envs.jobs`, `envlens.envs.prune`,
`envlens.envs.pool` and `envlens.revert`; this module translates. Builds go through
`envlens.lsp.commands.build` (one per key, one job per file at a time).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types

from envlens import paths, trust
from envlens.envs import history, jobs, pool, prune
from envlens.errors import BadInputError, BuildCancelledError, EnvlensError, UntrustedError
from envlens.lsp import protocol as P
from envlens.lsp import trust as lsp_trust
from envlens.lsp.apply import apply_planned, edit_declaration
from envlens.lsp.commands import build, envlens_command, file_of, string_list
from envlens.lsp.context import (
    failure,
    file_text,
    invalid,
    optional,
    request_uri,
    resolution,
    snapshot,
    target,
)
from envlens.lsp.server import EnvlensServer, Operation
from envlens.requirements import parse_requirement, requirement_name
from envlens.resolve import Resolution, resolve
from envlens.revert import plan_revert, write_lock_change
from envlens.sources.notebook import parse_notebook
from envlens.trust import questions

log = logging.getLogger("envlens.lsp")


# --- jobs --------------------------------------------------------------------------------------


def _fail(op: Operation, exc: BaseException) -> None:
    if op.status in jobs.DONE:
        return
    if isinstance(exc, EnvlensError):
        if exc.log:
            op.note(exc.log)
        op.finish("cancelled" if isinstance(exc, BuildCancelledError) else "failed", exc.one_line())
    else:
        op.finish("cancelled" if isinstance(exc, asyncio.CancelledError) else "failed", str(exc))


def planned_resolution(ls: EnvlensServer, path: Path, new_text: str) -> Resolution:
    """The file as an edit leaves it (the editor's didChange may still be on its way)."""
    if path.suffix == ".ipynb":
        return resolve(path, notebook=parse_notebook(new_text, path), settings=ls.settings)
    return resolve(path, text=new_text, settings=ls.settings)


async def edit_job(
    ls: EnvlensServer,
    key: str,
    path: Path,
    kind: str,
    title: str,
    opts: dict[str, Any],
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> dict[str, Any]:
    """An add, remove or import as a job: edit the declaration where it lives (through the editor
    when the file is open); with `{sync: true}`, then build the new declaration in the same job."""
    snap, _ = snapshot(ls, key, path)
    op = ls.new_operation(title, "", kind=kind, path=path)
    try:
        planned, changed = await edit_declaration(ls, key, path, snap, add=add, remove=remove)
        op.note(f"{'Changed' if changed else 'Nothing to change in'} {planned.path.name}")
        if not opts.get("sync"):
            op.finish("succeeded")
            return {"ok": True, "changed": changed, "job": op.to_json()["id"]}
        if planned.path == path:
            res = planned_resolution(ls, path, planned.new_text)
        else:  # a project file changed: the notebook or script itself did not
            res = resolution(ls, key, path)
        built = await build(ls, key, res, verb="Syncing", op=op)
    except BaseException as exc:
        _fail(op, exc)
        raise
    return {**built, "changed": changed, "job": op.to_json()["id"]}


# --- history and jobs as JSON ----------------------------------------------------------------


def history_json(path: Path, current_key: str | None) -> dict[str, Any]:
    h = history.load(path)
    in_use = h.in_use
    return {
        "path": str(path),
        "inUse": in_use.n if in_use else None,
        "inUseKey": in_use.key if in_use else None,
        # The declaration as it is now gives another environment than the one in use (a build
        # failed, or has not run yet): the kernel stays on the one in use.
        "currentKey": current_key,
        "versions": [
            {
                "n": v.n,
                "time": v.time,
                "status": v.status,
                "action": v.action,
                "key": v.key,
                "requirements": v.requirements,
                "requiresPython": v.requires_python,
                "lockHash": v.lock_hash,
                "pythonVersion": v.python_version,
                "packages": [{"name": n, "version": ver} for n, ver in v.packages],
                "duration": v.duration,
                "error": v.error,
                "revertedFrom": v.reverted_from,
                "attempts": v.attempts,
                "hasLog": v.log is not None and Path(v.log).exists(),
                "revertible": v.status == "ready" and v.declaration is not None,
                # Its environment is still in the store: going back to it builds nothing.
                "built": v.status == "ready" and (paths.env_dir(v.key) / "ready").exists(),
                "changes": history.changes(h, v).to_json(),
                "summary": history.changes(h, v).summary(),
            }
            for v in h.versions
        ],
    }


def file_jobs_json(path: Path | None, limit: int = 20) -> list[dict[str, Any]]:
    return [j.to_json(with_log=True) for j in jobs.list_jobs(path, limit=limit)]


# --- start and settings ----------------------------------------------------------------------


def on_initialized(ls: EnvlensServer) -> None:
    """At start, off the loop: settle jobs a previous server left running, prune what nobody
    used for envlens.pruneAfterDays, start keeping the pool full."""
    ls.__dict__["envlens_started"] = True
    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, _start_work, ls)


_pool_lock = threading.Lock()


def _keep_pool(ls: EnvlensServer) -> None:
    """Start the pool's replenisher, or tell it the settings changed (one per server)."""
    with _pool_lock:
        rep = ls.__dict__.get("envlens_pool")
        if isinstance(rep, pool.Replenisher):
            rep.update(ls.settings)
        elif ls.settings.pool_size > 0 and os.environ.get("ENVLENS_PREWARM", "1") != "0":
            ls.__dict__["envlens_pool"] = pool.start_replenisher(ls.settings)


def _start_work(ls: EnvlensServer) -> None:
    try:
        settled = [j for j in jobs.list_jobs() if j.status == "cancelled"]
        log.info("%d earlier job(s) listed", len(settled))
    except OSError as exc:
        log.warning("reading the job list failed: %s", exc)
    days = ls.settings.prune_after_days
    if days > 0:
        try:
            result = prune.prune(days, settings=ls.settings)
            freed = sum(e.size.own for e in result.remove if e.size)
            if result.remove:
                log.info(
                    "pruned %d environment(s) unused for %g days (%.1f MB)",
                    len(result.remove),
                    days,
                    freed / 1e6,
                )
        except (OSError, EnvlensError) as exc:
            log.warning("pruning unused environments failed: %s", exc)
    _keep_pool(ls)


def on_settings_changed(ls: EnvlensServer) -> None:
    if ls.__dict__.get("envlens_started"):  # before that, initialized starts what is needed
        _keep_pool(ls)


# --- registration ----------------------------------------------------------------------------


def register(server: EnvlensServer) -> None:
    @server.command(P.CMD_ADD)
    @envlens_command
    async def add(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_ADD)
        reqs = string_list(args[1] if len(args) > 1 else None, "the requirements")
        opts = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        result = await edit_job(
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
        key, path = file_of(ls, args, P.CMD_REMOVE)
        names = string_list(args[1] if len(args) > 1 else None, "the names to remove")
        opts = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        title = f"Remove {', '.join(names)} from {path.name}"
        result = await edit_job(ls, key, path, "remove", title, opts, remove=names)
        return {**result, "removed": names}

    @server.feature(P.HISTORY)
    def history_request(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            key, path = target(ls, request_uri(params))
            try:
                current = resolution(ls, key, path).key
            except EnvlensError:
                current = None  # a declaration that cannot be read has no environment
            return history_json(path, current)
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None

    @server.feature(P.HISTORY_LOG)
    def history_log(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            _, path = target(ls, request_uri(params))
            n = optional(params, "version")
            v = history.load(path).get(n) if isinstance(n, int) else None
            if v is None:
                raise BadInputError(f"{path.name} has no version {n}", path=path)
            text = history.read_log(v)
            return {
                "version": v.n,
                "log": text,
                "removed": text is None,  # gone with its environment (envs prune)
            }
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc) from None

    @server.feature(P.JOBS)
    def jobs_request(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            uri = optional(params, "uri")
            path = target(ls, uri)[1] if isinstance(uri, str) else None
            limit = optional(params, "limit")
            return {"jobs": file_jobs_json(path, limit if isinstance(limit, int) else 50)}
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None

    @server.feature(P.JOB_LOG)
    def job_log(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        job_id = optional(params, "id")
        job = jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise invalid(f"there is no job {job_id!r}")
        return {"id": job.id, "log": job.read_log()}

    @server.command(P.CMD_REVERT)
    @envlens_command
    async def revert_command(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_REVERT)
        n = args[1] if len(args) > 1 else None
        if not isinstance(n, int) or isinstance(n, bool):
            raise BadInputError(
                f"{P.CMD_REVERT} needs the version number as its second argument, not {n!r}",
                hint="Call it as [uri, version]; see docs/protocol.md",
            )
        snap, _ = snapshot(ls, key, path)
        plan = plan_revert(path, n, text=file_text(snap))
        op = ls.new_operation(
            f"envlens: reverting {path.name} to version {n}",
            plan.version.key,
            kind="revert",
            path=path,
        )
        try:
            before = lsp_trust.state_before(ls, key)
            if not before.trusted:
                after = trust.trust_state(plan.resolution(ls.settings), with_flags=False)
                if not after.trusted:
                    raise UntrustedError(
                        trust.untrusted_message(after),
                        path=path,
                        hint="Approve the file first (Trust This File's Dependencies), then revert",
                    )
            await asyncio.to_thread(write_lock_change, plan)
            await apply_planned(ls, key, snap, [plan.edit])
            res = planned_resolution(ls, path, plan.edit.new_text)
            latest = history.load(path).latest
            already = (
                not plan.changed
                and latest is not None
                and latest.status == "ready"
                and latest.key == res.key
            )
            op.note(
                f"Wrote version {n}'s declaration into {path.name}"
                if plan.changed
                else f"{path.name} already has version {n}'s declaration"
            )
            result = await build(
                ls,
                key,
                res,
                verb="Reverting",
                op=op,
                action="build" if already else "revert",
                reverted_from=None if already else n,
            )
        except BaseException as exc:
            _fail(op, exc)
            raise
        ls.touch(key)
        return {**result, "revertedTo": n, "built": not result.get("reused", False)}

    @server.command(P.CMD_IMPORT)
    @envlens_command
    async def import_command(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        key, path = file_of(ls, args, P.CMD_IMPORT)
        opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        add = [str(r) for r in opts.get("add") or [] if isinstance(r, str)]
        remove = [str(r) for r in opts.get("remove") or [] if isinstance(r, str)]
        if not add and not remove:
            raise BadInputError(
                "nothing to import: give {add: [...]} and/or {remove: [...]}",
                hint="See docs/protocol.md",
            )
        for r in add:
            parse_requirement(r, path=path)  # a bad line stops it here, before any job
        source = str(opts.get("source") or "requirements")
        name = Path(source).name
        return await edit_job(
            ls, key, path, "import", f"Import {name} into {path.name}", opts, add=add, remove=remove
        )

    @server.command(P.CMD_PRUNE)
    @envlens_command
    async def prune_command(ls: EnvlensServer, *args: Any) -> dict[str, Any]:
        opts = args[0] if args and isinstance(args[0], dict) else {}
        days = opts.get("olderThanDays", ls.settings.prune_after_days)
        if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
            raise BadInputError(f"olderThanDays must be 0 or more, not {days!r}")
        result = await asyncio.to_thread(
            prune.prune, float(days), dry_run=bool(opts.get("dryRun")), settings=ls.settings
        )
        return {"ok": True, **result.to_json()}
