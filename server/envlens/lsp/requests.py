"""Custom requests: `envlens/resolve` and `envlens/environment` (docs/protocol.md).

The extension asks these often (the environment view), so a failure is the request's error only, not
a message box; the diagnostics already show what is wrong with the declaration.
"""

from __future__ import annotations

from typing import Any

from envlens import trust
from envlens.envs.inventory import quick_knowledge
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
        "operations": [op.to_json() for op in ls.operations if op.key == res.key],
    }


def register(server: EnvlensServer) -> None:
    @server.feature(P.RESOLVE)
    def resolve_request(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            key, path = target(ls, request_uri(params))
            return resolution(ls, key, path).to_json()
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None

    @server.feature(P.ENVIRONMENT)
    def environment_request(ls: EnvlensServer, params: Any) -> P.EnvironmentInfo:
        try:
            key, path = target(ls, request_uri(params))
            return environment_info(ls, key, resolution(ls, key, path))
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None
