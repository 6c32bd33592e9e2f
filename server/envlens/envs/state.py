"""envlens's own records under the state folder (`paths.state_dir()`): JSON files written whole and
atomically, under a file lock when several processes (the editor's sidecar, a terminal's `envlens`,
batch runs) may update the same one."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock

_Record = TypeVar("_Record")


def record_from_json(cls: type[_Record], data: Any) -> _Record | None:
    """A dataclass record read back from JSON: unknown keys (a newer envlens) are left out; a
    record that does not fit (an older or damaged file) is None."""
    if not isinstance(data, dict):
        return None
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or unreadable (a record, never user data: a
    damaged one counts as absent rather than stopping a build)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` (threads and processes) while reading and rewriting `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60):
        yield
