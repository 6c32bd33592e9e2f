"""Opening and writing a user's files: the one place that decides what envlens reads and how it writes.

Reads refuse anything that is not a regular file (a FIFO would block forever, a device would never
end) and JSON nested deeper than any notebook needs (deep nesting exhausts Python's stack).
Writes are atomic (a temporary file in the same folder, then rename, so a crash never leaves half a
file), go through a symlink to its target (the link stays a link), and refuse a read-only file.
An operating-system error becomes one `FileAccessError` naming the file, so each boundary (CLI, LSP)
prints one line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import stat
import tempfile
from pathlib import Path
from typing import Any

from envlens.errors import BadInputError, EnvlensError, FileAccessError

# Real notebooks nest about 7 levels (rich outputs a few dozen); every recursive step after parsing
# (copying, writing back) stays far below Python's recursion limit at this depth.
MAX_JSON_DEPTH = 200


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


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def os_error(
    exc: OSError, path: Path | str | None = None, *, writing: bool = False
) -> EnvlensError:
    """An OSError as the one-line error a user reads: which file, what the system said, what to do."""
    where = path if path is not None else exc.filename
    reason = (exc.strerror or str(exc)).rstrip(".")
    verb = "cannot write" if writing else "cannot read"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = (
            "Check the file's and its folder's permissions (`ls -ld`), whether it is immutable "
            "(`lsattr`), or whether the disk is mounted read-only"
        )
    elif exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        hint = "Free some disk space (or quota) and try again"
    elif exc.errno == errno.ENOENT:
        hint = "Check the path"
    else:
        hint = "Check the path and try again"
    return FileAccessError(f"{verb} the file: {reason}", path=where, hint=hint)


def _why_not_writable(mode: int, folder: Path | None = None) -> str:
    what = f"its folder {folder}" if folder is not None else "the file"
    if not mode & stat.S_IWUSR:
        return f"{what} is read-only"
    # Writable by its mode, yet refused: the immutable flag, or a read-only mount.
    return f"{what} does not accept changes (it is immutable, or on a read-only disk)"


def _unlock_hint(mode: int, path: Path) -> str:
    """What to do, as a clause: `Choose another path, or <this>`."""
    quoted = shlex.quote(str(path))
    if not mode & stat.S_IWUSR:
        return f"make it writable with `chmod u+w {quoted}` if you mean to change it"
    return f"`lsattr -d {quoted}` shows an 'i' if it is immutable (root lifts it: `chattr -i`)"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _write_refused(exc: OSError, path: Path, target: Path) -> EnvlensError:
    """A refused write, naming what refused it: the file's folder, or the system."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        folder = target.parent
        with contextlib.suppress(OSError):
            if not os.access(folder, os.W_OK | os.X_OK):
                mode = folder.stat().st_mode
                return FileAccessError(
                    f"cannot write the file: {_why_not_writable(mode, folder)}",
                    path=path,
                    hint=_capital(_unlock_hint(mode, folder)),
                )
    return os_error(exc, path, writing=True)


def _write_target(path: Path) -> Path:
    """Where a write lands: a symlink's final target (so the link stays a link), else the path."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, newlines untouched), keeping the file's permissions.

    A symlink is written through: its target is replaced atomically and the link is left as it is.
    A file that is read-only (or immutable) is refused with FileAccessError, and stays as it was.
    """
    path = Path(path)
    target = _write_target(path)
    try:
        st = target.stat()
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # a new file gets the mode open() would have given it
    except OSError as exc:
        raise os_error(exc, path, writing=True) from None
    else:
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError(
                f"this is {_kind(st.st_mode)}, not a file envlens can write", path=path
            )
        # Renaming over a read-only file would succeed; respect the read-only bit as editors do.
        if not os.access(target, os.W_OK):
            raise FileAccessError(
                f"cannot write the file: {_why_not_writable(st.st_mode)}",
                path=path,
                hint=_capital(_unlock_hint(st.st_mode, target)),
            )
        mode = st.st_mode & 0o7777
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _write_refused(exc, path, target) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_refused(exc, path, target) from None
        raise


def check_writable(path: Path, *, what: str = "the file") -> None:
    """Refuse early when `path` could not be written: its folder, or the first existing folder
    above a missing one (made when writing), must be a writable folder (else FileAccessError), and
    an existing `path` a writable regular file. For commands that work long before they write, or
    write two files that must change together."""
    path = Path(path)
    target = _write_target(path)  # a symlink is written through: its target's folder matters
    folder = target.parent
    while not folder.exists() and not folder.is_symlink():  # a dangling link cannot be made
        folder = folder.parent
    if not folder.is_dir():
        raise BadInputError(
            f"cannot write {what}: {folder} is not a folder", path=path, hint="Choose another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        mode = folder.stat().st_mode
        raise FileAccessError(
            f"cannot write {what}: {_why_not_writable(mode, folder)}",
            path=path,
            hint=f"Choose another path, or {_unlock_hint(mode, folder)}",
        )
    if target.exists() and not target.is_file():
        raise BadInputError(
            f"cannot write {what}: it exists and is not a file",
            path=path,
            hint="Choose another path",
        )
    if target.exists() and not os.access(target, os.W_OK):
        mode = target.stat().st_mode
        raise FileAccessError(
            f"cannot write {what}: {_why_not_writable(mode)}",
            path=path,
            hint=f"Choose another path, or {_unlock_hint(mode, target)}",
        )


def _open_regular(path: Path) -> int:
    """A read-only descriptor of a regular file; anything else is refused without blocking."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore the flag).
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadInputError(
            "no such file", path=path, hint="Check the path, or save the file first"
        ) from None
    except IsADirectoryError:
        raise BadInputError("this is a folder, not a notebook or script", path=path) from None
    except OSError as exc:
        raise os_error(exc, path) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = _kind(mode)
        if what == "a folder":
            raise BadInputError("this is a folder, not a notebook or script", path=path)
        raise BadInputError(
            f"this is {what}, not a file envlens can read",
            path=path,
            hint="Pass the notebook or script itself (envlens reads regular files only)",
        )
    return fd


def read_text(path: Path, *, newline: str | None = "") -> str:
    """Read a user's file as text, keeping its newlines exactly; a clear error when it cannot be.

    `newline=None` translates CRLF to LF (for files whose hash predates keeping them).
    """
    fd = _open_regular(Path(path))
    try:
        with open(fd, encoding="utf-8", newline=newline) as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"the file is not UTF-8 text (byte {exc.start})",
            path=path,
            hint="envlens reads notebooks and Python scripts; check that this is the file you meant",
        ) from None
    except OSError as exc:
        raise os_error(exc, path) from None


def read_text_if_exists(path: Path, *, newline: str | None = "") -> str | None:
    """`read_text`, or None when there is no such file (an optional companion such as a lock)."""
    if not os.path.lexists(path):
        return None
    return read_text(path, newline=newline)


def _too_deep(data: Any) -> bool:
    level = [data]
    for _ in range(MAX_JSON_DEPTH):
        nxt: list[Any] = []
        for node in level:
            values = node.values() if type(node) is dict else node
            nxt.extend([v for v in values if type(v) is dict or type(v) is list])
        if not nxt:
            return False
        level = nxt
    return True


def parse_json(text: str, path: Path | str | None = None) -> Any:
    """`json.loads` that refuses nesting deeper than MAX_JSON_DEPTH with a one-line error.

    json.JSONDecodeError passes through, so the caller can word it (it knows what the file is).
    """
    try:
        data = json.loads(text)
    except RecursionError:
        data = None
    else:
        if not isinstance(data, (dict, list)) or not _too_deep(data):
            return data
    raise BadInputError(
        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep, more than envlens reads",
        path=path,
        line=1,
        hint="Check that this is the file you meant (a notebook nests a few levels)",
    )
