"""The language server, assembled: one `EnvlensServer` with every feature registered on it.

Each feature module registers its handlers in `register(server)`. They are imported by name here,
not looked up at run time, so a missing or broken module fails at start (and in mypy), never later
in the middle of a user's request.
"""

from __future__ import annotations

from envlens.lsp import (
    code_actions,
    codelens,
    commands,
    diagnostics,
    documents,
    kernels,
    lifecycle,
    progress,
    requests,
    settings,
    trust,
)
from envlens.lsp.server import EnvlensServer

FEATURES = (
    documents,
    settings,
    diagnostics,
    codelens,
    code_actions,
    commands,
    requests,
    progress,
    trust,
    kernels,
    lifecycle,
)


def create_server() -> EnvlensServer:
    server = EnvlensServer()
    for feature in FEATURES:
        feature.register(server)
    return server
