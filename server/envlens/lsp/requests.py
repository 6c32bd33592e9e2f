"""Custom requests: `envlens/resolve` and `envlens/environment` (docs/protocol.md).

The extension asks these often (the environment view), so a failure is the request's error only, not
a message box; the diagnostics already show what is wrong with the declaration.
"""

from __future__ import annotations

from typing import Any

from envlens import trust
from envlens.envs import jobs
from envlens.envs.inventory import quick_knowledge
from envlens.errors import BadInputError, EnvlensError
from envlens.locking import drift as lock
from envlens.lsp import protocol as P
from envlens.lsp.commands import CommandFailed, resolution_of, target
from envlens.lsp.server import EnvlensServer
from envlens.resolve import Resolution


def uri_param(params: Any) -> str:
    uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    if not isinstance(uri, str):
        raise BadInputError("the request needs {uri}", hint="See docs/protocol.md")
    return uri


def lock_state(res: Resolution, *, trusted: bool) -> str:
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
        "lockState": lock_state(res, trusted=is_trusted),  # type: ignore[typeddict-item]
        "trusted": is_trusted,
        "operations": operations(ls, res),  # type: ignore[typeddict-item]
    }


def operations(ls: EnvlensServer, res: Resolution) -> list[dict[str, Any]]:
    """The file's jobs (kept across restarts, envs/jobs.py), and this server's operations that
    have no job record, oldest first."""
    out: list[dict[str, Any]] = []
    for job in jobs.list_jobs(res.path, limit=20):
        out.append(
            {
                "id": job.id,
                "title": job.title,
                "kind": job.kind,
                "status": job.status,
                "log": job.read_log(),
                "started": job.started or job.created,
                "ended": job.ended,
                "error": job.error,
                "version": job.version,
            }
        )
    out += [op.to_json() for op in ls.operations if op.job is None and op.key == res.key]
    return out


def register(server: EnvlensServer) -> None:
    @server.feature(P.RESOLVE)
    def resolve_request(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            key, path = target(ls, (uri_param(params),), P.RESOLVE)
            return resolution_of(ls, key, path).to_json()
        except EnvlensError as exc:
            raise CommandFailed(message=exc.one_line()) from None

    @server.feature(P.ENVIRONMENT)
    def environment_request(ls: EnvlensServer, params: Any) -> P.EnvironmentInfo:
        try:
            key, path = target(ls, (uri_param(params),), P.ENVIRONMENT)
            return environment_info(ls, key, resolution_of(ls, key, path))
        except EnvlensError as exc:
            raise CommandFailed(message=exc.one_line()) from None
