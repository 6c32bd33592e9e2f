"""Custom requests: `envlens/resolve` and `envlens/environment` (docs/protocol.md).

The extension asks these often (the environment view), so a failure is the request's error only, not
a message box; the diagnostics already show what is wrong with the declaration.
"""

from __future__ import annotations

from typing import Any, cast

from envlens import trust
from envlens.envs import jobs
from envlens.envs.inventory import quick_knowledge, resolution_json
from envlens.errors import EnvlensError
from envlens.locking import drift as lock
from envlens.lsp import protocol as P
from envlens.lsp.context import failure, request_uri, resolution, target
from envlens.lsp.server import EnvlensServer
from envlens.resolve import Resolution


def lock_state(res: Resolution, *, trusted: bool) -> lock.LockState:
    # Before approval only envlens's own reading answers: asking uv may run a source's build backend.
    return lock.lock_state(res, uv_check=trusted)


def environment_info(ls: EnvlensServer, key: str, res: Resolution) -> P.EnvironmentInfo:
    built = res.built
    knowledge = quick_knowledge(res.env_dir) if built else None
    is_trusted = trust.is_trusted(res)
    return {
        "key": res.key,
        "built": built,
        "envPath": str(res.env_dir),
        "pythonVersion": knowledge.python_version if knowledge else None,
        "packages": [
            {"name": n, "version": v} for n, v in (knowledge.packages if knowledge else ())
        ],
        "lockState": lock_state(res, trusted=is_trusted),
        "trusted": is_trusted,
        "operations": operations(ls, res),
    }


def operations(ls: EnvlensServer, res: Resolution) -> list[P.OperationInfo]:
    """The file's jobs (kept across restarts, envs/jobs.py), and this server's operations that
    have no job record (a kernel start), oldest first."""
    out = [job_info(job) for job in jobs.list_jobs(res.path, limit=20)]
    out += [op.to_json() for op in ls.operations if op.job is None and op.key == res.key]
    return out


def job_info(job: jobs.Job) -> P.OperationInfo:
    return {
        "id": job.id,
        "title": job.title,
        "kind": job.kind,
        "status": cast(P.OperationStatus, job.status),
        "log": job.read_log(),
        "started": job.started or job.created,
        "ended": job.ended,
        "error": job.error,
        "version": job.version,
    }


def register(server: EnvlensServer) -> None:
    @server.feature(P.RESOLVE)
    def resolve_request(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            key, path = target(ls, request_uri(params))
            return resolution_json(resolution(ls, key, path))
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None

    @server.feature(P.ENVIRONMENT)
    def environment_request(ls: EnvlensServer, params: Any) -> P.EnvironmentInfo:
        try:
            key, path = target(ls, request_uri(params))
            return environment_info(ls, key, resolution(ls, key, path))
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None
