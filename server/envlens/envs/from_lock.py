"""Environments from a lock, exactly.

A file with a fresh lock builds with `uv sync --script --locked` (see uv_backend): uv installs every
locked package at its locked version and itself refuses a lock that does not belong to the
declaration. Exports (`envlens export`, the portability check) are uv's `export --frozen` of the same
lock. A stale lock is never used: the build then follows the declaration (the editor shows "Lock is
out of date"; `run --locked` refuses).
"""

from __future__ import annotations

from typing import Literal

from envlens.envs.uv import Uv, script_workspace
from envlens.resolve import Resolution
from envlens.settings import Settings

ExportFormat = Literal["requirements.txt", "pylock.toml"]


def checked_lock(resolution: Resolution, settings: Settings | None = None) -> str:
    """The file's lock text, when it exists, parses, and still belongs to the declaration."""
    from envlens.lock import require_fresh_lock

    return require_fresh_lock(resolution, settings)


def builds_from_lock(resolution: Resolution, settings: Settings | None = None) -> bool:
    """Does the environment come from the file's lock? Only a lock that matches its declaration."""
    from envlens.lock import lock_state

    return resolution.lock_text is not None and lock_state(resolution, settings) == "fresh"


def uv_export(
    resolution: Resolution,
    fmt: ExportFormat = "requirements.txt",
    *,
    settings: Settings | None = None,
    uv: Uv | None = None,
    hashes: bool = True,
) -> str:
    """uv's export of the file's (fresh) lock, without uv's header (it names a temporary file)."""
    lock_text = checked_lock(resolution, settings)
    uv = uv or Uv.find(settings)
    with script_workspace(resolution, lock_text=lock_text) as ws:
        return uv.export_script(ws.script, resolution, fmt=fmt, hashes=hashes)
