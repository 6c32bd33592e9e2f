"""The prewarmed pool: the ipykernel-only environment of files that declare nothing, built in the
background when the language server starts, so that opening such a notebook is instant."""

from __future__ import annotations

import logging

from envlens.envs.store import EnvInfo, build_or_reuse
from envlens.errors import EnvlensError
from envlens.resolve import pool_resolution
from envlens.settings import Settings

log = logging.getLogger("envlens.pool")


def prewarm(settings: Settings | None = None) -> EnvInfo | None:
    """Build (or find) the pool environment. A failure is logged, never raised: it only costs the
    first notebook the build it would have had anyway, where the error is then reported."""
    try:
        # Nothing declared, so no lock: the store builds it directly.
        info = build_or_reuse(pool_resolution(settings), from_lock=lambda: False, settings=settings)
    except EnvlensError as exc:
        log.info("prewarming the shared environment failed: %s", exc.one_line())
        return None
    log.info("shared environment %s ready (%s)", info.key, "reused" if info.reused else "built")
    return info
