"""Where a file's lock lives: `<file>.py.lock` beside a script (uv's place), metadata["uv.lock"] in a notebook."""

from __future__ import annotations

import hashlib
from pathlib import Path

from envlens.fileio import read_text_if_exists
from envlens.sources.notebook import Notebook

NOTEBOOK_LOCK_KEY = "uv.lock"


def script_lock_path(script: Path) -> Path:
    return script.with_name(script.name + ".lock")


def read_lock_text(path: Path, nb: Notebook | None = None) -> str | None:
    if nb is not None:
        value = nb.metadata.get(NOTEBOOK_LOCK_KEY)
        return value if isinstance(value, str) and value.strip() else None
    # newline=None: the lock's hash (and so approvals) has always been taken with LF newlines.
    return read_text_if_exists(script_lock_path(path), newline=None)


def lock_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
