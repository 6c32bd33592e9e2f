"""Where a conda declaration's lock lives (the lock is rattler's format: pixi's `pixi.lock`).

- `pixi.toml`: `pixi.lock` beside it (pixi's own file and place, so pixi and envlens share it).
- `environment.yml`: `environment.yml.lock` beside it (as uv puts `<script>.py.lock` beside a script).
- a notebook's `metadata.conda` / `metadata.runt.conda`: the lock's text in `metadata["conda.lock"]`
  (as juv keeps uv's lock in `metadata["uv.lock"]`).
"""

from __future__ import annotations

from pathlib import Path

from envlens.sources.declaration import Declaration
from envlens.sources.notebook import Notebook

NOTEBOOK_CONDA_LOCK_KEY = "conda.lock"


def conda_lock_path(decl: Declaration) -> Path | None:
    """The lock file beside a project file; None for notebook metadata (the lock is inside)."""
    if decl.path is None or decl.kind == "notebook-conda":
        return None
    if decl.kind == "pixi":
        return decl.path.with_name("pixi.lock")
    return decl.path.with_name(decl.path.name + ".lock")


def read_conda_lock_text(decl: Declaration, nb: Notebook | None) -> str | None:
    if decl.kind == "notebook-conda":
        value = nb.metadata.get(NOTEBOOK_CONDA_LOCK_KEY) if nb is not None else None
        return value if isinstance(value, str) and value.strip() else None
    lock = conda_lock_path(decl)
    if lock is None:
        return None
    try:
        return lock.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
