"""Atomic writes: a temporary file in the same folder, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from envlens.errors import BadInputError


def _umask() -> int:
    """The process umask without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, newlines untouched), keeping the file's permissions."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # a new file gets the mode open() would have given it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_text(path: Path) -> str:
    """Read a user's file as text, keeping its newlines exactly; a clear error when it cannot be."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise BadInputError(
            "no such file", path=path, hint="Check the path, or save the file first"
        ) from None
    except IsADirectoryError:
        raise BadInputError("this is a folder, not a notebook or script", path=path) from None
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"the file is not UTF-8 text (byte {exc.start})",
            path=path,
            hint="envlens reads notebooks and Python scripts; check that this is the file you meant",
        ) from None
