"""The store's folders: one per environment key under `paths.envs_dir()`, each complete only once
its `ready` record is written (last, atomically); a per-key file lock so a key is built once.

A folder without `ready` is never used: the next build for that key removes it (and any leftover
`.build-<key>-*` of a killed build) first. The lock (`.locks/<key>.lock`, released by the kernel if
the holder dies) makes concurrent requests, from threads or processes, build once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

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


@contextlib.contextmanager
def key_lock(name: str, *, cancel: threading.Event | None, progress: Progress) -> Iterator[None]:
    """Hold the per-key lock; wait (cancellably) while another thread or process holds it."""
    path = lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    told = False
    while True:
        try:
            lock.acquire(timeout=0.2)
            break
        except Timeout:
            if not told:
                progress("Waiting for another build of this environment to finish")
                told = True
            check_cancel(cancel)
    try:
        yield
    finally:
        lock.release()


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
