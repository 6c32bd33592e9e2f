"""The one entry point that builds (or reuses) what a file declares: `ensure_environment`.

It decides whether the environment comes from the file's lock (a lock that still belongs to the
declaration: locking.drift) and hands that to the store (envs.store), which reuses a built
environment by its key or builds it once, with the backend of the declaration's kind.
"""

from __future__ import annotations

import threading

from envlens.envs.runner import Progress
from envlens.envs.store import EnvInfo, build_or_reuse
from envlens.locking.drift import lock_state
from envlens.resolve import Resolution
from envlens.settings import Settings


def from_lock(resolution: Resolution, settings: Settings | None = None) -> bool:
    """Is the environment built from the file's lock? Only a lock that matches its declaration."""
    return resolution.lock_text is not None and lock_state(resolution, settings) == "fresh"


def ensure_environment(
    resolution: Resolution,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> EnvInfo:
    """The environment for a resolved file: reused when built, else built once (even if asked
    concurrently). Raises ResolutionError, PythonNotFoundError, BuildError (incl. cancelled)."""
    settings = settings or Settings.from_env()
    return build_or_reuse(
        resolution,
        from_lock=lambda: from_lock(resolution, settings),  # asked only when it builds
        settings=settings,
        progress=progress,
        cancel=cancel,
    )
