"""uv's export of a file's lock (requirements.txt or pylock.toml), for `envlens export` and the
portability check: `uv export --script --frozen` of the lock beside the declaration."""

from __future__ import annotations

from typing import Literal

from envlens.envs.uv import Uv, script_workspace
from envlens.locking.drift import require_fresh_lock
from envlens.resolve import Resolution
from envlens.settings import Settings

ExportFormat = Literal["requirements.txt", "pylock.toml"]


def check_exportable(resolution: Resolution) -> None:
    """Exports are PyPI formats made from a uv lock: a conda declaration gets a BadInputError
    naming its own lock (pixi's format), which is the file to share instead."""
    if resolution.spec.backend == "conda":
        from envlens.envs.conda_lock import lock_where
        from envlens.errors import BadInputError

        raise BadInputError(
            f"{resolution.path.name} declares conda packages; exports are made from uv locks",
            path=resolution.path,
            hint=f"Share the conda lock itself ({lock_where(resolution)[1]}, pixi's lock format)",
        )


def uv_export(
    resolution: Resolution,
    fmt: ExportFormat = "requirements.txt",
    *,
    settings: Settings | None = None,
    uv: Uv | None = None,
    hashes: bool = True,
) -> str:
    """uv's export of the file's (fresh) lock, without uv's header (it names a temporary file)."""
    check_exportable(resolution)
    lock_text = require_fresh_lock(resolution, settings)
    uv = uv or Uv.find(settings)
    with script_workspace(resolution, lock_text=lock_text) as ws:
        return uv.export_script(ws.script, resolution, fmt=fmt, hashes=hashes)
