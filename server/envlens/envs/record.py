"""The store's folders: one per environment key under `paths.envs_dir()`, each complete only once
its `ready` record is written (last, atomically); a per-key file lock so a key is built once.

A folder without `ready` is never used: the next build for that key removes it (and any leftover
`.build-<key>-*` of a killed build) first. The lock (`.locks/<key>.lock`, released by the kernel if
the holder dies) makes concurrent requests, from threads or processes, build once. A lock file
lives as long as its environment: a failed build and a removal delete it (safely, see KeyLock).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from envlens import __version__, paths
from envlens.envs.runner import Progress, check_cancel
from envlens.resolve import Resolution


@dataclass(frozen=True)
class EnvInfo:
    key: str
    env_dir: Path
    python: Path  # the environment's interpreter (bin/python)
    python_version: str  # "3.12.1"
    reused: bool  # True: an existing environment, no uv call
    seconds: float
    backend: str = "uv"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "envPath": str(self.env_dir),
            "python": str(self.python),
            "pythonVersion": self.python_version,
            "reused": self.reused,
            "seconds": round(self.seconds, 3),
            "backend": self.backend,
        }


@dataclass(frozen=True)
class EnvRecord:
    """A built environment, as its `ready` record describes it."""

    key: str
    env_dir: Path
    python_version: str
    created: float  # seconds since the epoch
    spec: dict[str, Any]

    @property
    def backend(self) -> str:
        return str(self.spec.get("backend", "uv"))


def read_ready(env: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.ready_file(env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_ready(env: Path, record: dict[str, Any]) -> None:
    target = paths.ready_file(env)
    tmp = target.with_name(f".ready.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def ready_record(
    resolution: Resolution, *, python_version: str, base_python: str
) -> dict[str, Any]:
    spec = resolution.spec
    return {
        "key": spec.key,
        "spec": json.loads(spec.canonical_json()),
        "python_version": python_version,
        "base_python": base_python,
        "created": time.time(),
        "envlens": __version__,
        "declared_in": str(resolution.declaration.path or resolution.path),
    }


def reusable(env: Path, key: str) -> dict[str, Any] | None:
    """The `ready` record of a complete environment for `key`, else None."""
    record = read_ready(env)
    # The interpreter behind the venv may have been removed since (pyenv uninstall): then rebuild.
    if record is None or record.get("key") != key or not paths.env_python(env).exists():
        return None
    return record


def info_of(env: Path, key: str, record: dict[str, Any], *, reused: bool, start: float) -> EnvInfo:
    return EnvInfo(
        key=key,
        env_dir=env,
        python=paths.env_python(env),
        python_version=str(record.get("python_version", "")),
        reused=reused,
        seconds=time.monotonic() - start,
        backend=str(record.get("spec", {}).get("backend", "uv")),
    )


def lock_path(name: str) -> Path:
    return paths.envs_dir() / ".locks" / f"{name}.lock"


class KeyLock:
    """The held lock of one key; `discard()` removes its file when the lock is released.

    Removing a lock file is safe because every acquirer checks, once it holds the lock, that the
    path still names the file it locked; one that locked a removed file lets go and tries again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.discarded = False

    def discard(self) -> None:
        self.discarded = True


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _lock_fd(path: Path, cancel: threading.Event | None, on_wait: Callable[[], None]) -> int:
    """flock(2) `path` exclusively, waiting cancellably; returns the descriptor that holds it."""
    assert fcntl is not None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    on_wait()
                    check_cancel(cancel)
                    time.sleep(0.05)
            if _same_file(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder we waited for removed the file: lock the current one


@contextlib.contextmanager
def key_lock(name: str, *, cancel: threading.Event | None, progress: Progress) -> Iterator[KeyLock]:
    """Hold the per-key lock; wait (cancellably) while another thread or process holds it."""
    path = lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    held = KeyLock(path)
    told = False

    def on_wait() -> None:
        nonlocal told
        if not told:
            progress("Waiting for another build of this environment to finish")
            told = True

    if fcntl is None:  # no flock (Windows): filelock, and its files stay
        lock = FileLock(str(path))
        while True:
            try:
                lock.acquire(timeout=0.2)
                break
            except Timeout:
                on_wait()
                check_cancel(cancel)
        try:
            yield held
        finally:
            lock.release()
        return
    fd = _lock_fd(path, cancel, on_wait)
    try:
        yield held
    finally:
        if held.discarded:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # before unlocking: a waiter then sees it locked a removed file
        os.close(fd)


def sweep_lock_files(is_key: Callable[[str], bool]) -> None:
    """Remove the lock files of keys without an environment that nobody holds (left by versions
    of envlens that kept them, or by a process killed while building)."""
    if fcntl is None:
        return
    for path in (paths.envs_dir() / ".locks").glob("*.lock"):
        name = path.name[: -len(".lock")]
        if not is_key(name) or paths.env_dir(name).exists():
            continue  # project-<key> locks and those of built environments stay
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(path, fd) and not paths.env_dir(name).exists():
                    os.unlink(path)
            finally:
                os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove a folder even while something still writes into it (an orphaned uv of a killed
    build, a bytecode compile): move it aside first, so its name is free at once."""
    if not path.exists():
        return
    trash = path.parent / f".trash-{path.name.lstrip('.')}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    for _ in range(3):
        shutil.rmtree(trash, ignore_errors=True)
        if not trash.exists():
            return
        time.sleep(0.1)


def empty_trash() -> None:
    for trash in paths.envs_dir().glob(".trash-*"):
        shutil.rmtree(trash, ignore_errors=True)


def clean_stale(key: str, final: Path) -> None:
    """Leftovers of killed builds for this key (the caller holds its lock, so none is live)."""
    for stale in paths.envs_dir().glob(f".build-{key}-*"):
        remove_tree(stale)
    empty_trash()
    if final.exists() and read_ready(final) is None:
        remove_tree(final)
