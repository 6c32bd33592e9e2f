"""uv's export of a file's lock (requirements.txt or pylock.toml), for `envlens export` and the
portability check: `uv export --script --frozen` of the lock beside the declaration."""

from __future__ import annotations

from typing import Literal

from envlens.envs.uv import Uv, script_workspace
from envlens.locking.drift import require_fresh_lock
from envlens.resolve import Resolution
from envlens.settings import Settings

ExportFormat = Literal["requirements.txt", "pylock.toml"]


def uv_export(
    resolution: Resolution,
    fmt: ExportFormat = "requirements.txt",
    *,
    settings: Settings | None = None,
    uv: Uv | None = None,
    hashes: bool = True,
) -> str:
    """uv's export of the file's (fresh) lock, without uv's header (it names a temporary file)."""
    lock_text = require_fresh_lock(resolution, settings)
    uv = uv or Uv.find(settings)
    with script_workspace(resolution, lock_text=lock_text) as ws:
        return uv.export_script(ws.script, resolution, fmt=fmt, hashes=hashes)
