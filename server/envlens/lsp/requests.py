"""Custom requests: `envlens/resolve` and `envlens/environment` (docs/protocol.md).

The extension asks these often (the environment view), so a failure is the request's error only, not
a message box; the diagnostics already show what is wrong with the declaration.
"""

from __future__ import annotations

import importlib
from typing import Any

from envlens.errors import BadInputError, EnvlensError
from envlens.lsp import protocol as P
from envlens.lsp.commands import CommandFailed, resolution_of, target
from envlens.lsp.envinfo import quick_knowledge
from envlens.lsp.server import EnvlensServer
from envlens.resolve import Resolution


def uri_param(params: Any) -> str:
    uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    if not isinstance(uri, str):
        raise BadInputError("the request needs {uri}", hint="See docs/protocol.md")
    return uri


def _optional(module: str, function: str) -> Any:
    try:
        return getattr(importlib.import_module(module), function, None)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def lock_state(res: Resolution) -> str:
    if res.lock_text is None:
        return "none"
    check = _optional("envlens.lock", "lock_state")
    if check is not None:
        return str(check(res))
    return "fresh"  # a lock whose freshness cannot be checked yet counts as the one in use


def trusted(res: Resolution) -> bool:
    check = _optional("envlens.trust", "is_trusted")
    return bool(check(res)) if check is not None else True


def environment_info(ls: EnvlensServer, key: str, res: Resolution) -> P.EnvironmentInfo:
    built = res.built
    knowledge = quick_knowledge(res.env_dir) if built else None
    return {
        "key": res.key,
        "built": built,
        "envPath": str(res.env_dir),
        "pythonVersion": knowledge.python_version if knowledge else None,
        "packages": [
            {"name": n, "version": v} for n, v in (knowledge.packages if knowledge else ())
        ],
        "lockState": lock_state(res),  # type: ignore[typeddict-item]
        "trusted": trusted(res),
        "operations": [op.to_json() for op in ls.operations if op.key == res.key],  # type: ignore[misc]
    }


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
