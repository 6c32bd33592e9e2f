"""The environment store: interpreters, uv/project/conda backends, the cache of built environments.

`ensure_environment(resolution)` is the one entry point that builds (or reuses) what a file declares.
"""

from __future__ import annotations

from envlens.envs.runner import BuildCancelledError
from envlens.envs.store import (
    EnvInfo,
    EnvRecord,
    ensure_environment,
    list_environments,
    remove_environment,
)

__all__ = [
    "BuildCancelledError",
    "EnvInfo",
    "EnvRecord",
    "ensure_environment",
    "list_environments",
    "remove_environment",
]
