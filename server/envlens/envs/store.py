"""The store of built environments: one folder per spec key under `paths.envs_dir()`.

A build runs in `.build-<key>-<random>` next to the final folder, is renamed to `<key>` when it is
complete, and only then gets its `ready` record (written atomically, last). A folder without `ready`
is never used: the next build for that key removes it (and any leftover `.build-<key>-*` of a killed
build) first. A file lock per key (`.locks/<key>.lock`, fcntl, released by the kernel if the holder
dies) makes concurrent requests, from threads or processes, build once; the others wait and reuse.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
from envlens.envs import conda_backend, uv_backend
from envlens.envs.from_lock import builds_from_lock
from envlens.envs.interpreters import find_interpreter
from envlens.envs.locate import locate
from envlens.envs.runner import Progress, check_cancel
from envlens.envs.uv import Uv
from envlens.errors import BadInputError, BuildError
from envlens.resolve import Resolution
from envlens.settings import Settings

_KEY = re.compile(r"[0-9a-f]{6,64}")


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


def _noop(_: str) -> None:
    pass


def read_ready(env: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.ready_file(env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_ready(env: Path, record: dict[str, Any]) -> None:
    target = paths.ready_file(env)
    tmp = target.with_name(f".ready.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _reusable(env: Path, key: str) -> dict[str, Any] | None:
    record = read_ready(env)
    # The interpreter behind the venv may have been removed since (pyenv uninstall): then rebuild.
    if record is None or record.get("key") != key or not paths.env_python(env).exists():
        return None
    return record


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


def _remove_tree(path: Path) -> None:
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


def _empty_trash() -> None:
    for trash in paths.envs_dir().glob(".trash-*"):
        shutil.rmtree(trash, ignore_errors=True)


def _clean_stale(key: str, final: Path) -> None:
    """Leftovers of killed builds for this key (we hold its lock, so none is live)."""
    for stale in paths.envs_dir().glob(f".build-{key}-*"):
        _remove_tree(stale)
    _empty_trash()
    if final.exists() and read_ready(final) is None:
        _remove_tree(final)


def ensure_environment(
    resolution: Resolution,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> EnvInfo:
    """The environment for a resolved file: reused when built, else built once (even if asked
    concurrently). Raises ResolutionError, PythonNotFoundError, BuildError (incl. cancelled)."""
    start = time.monotonic()
    progress = progress or _noop
    settings = settings or Settings.from_env()
    spec = resolution.spec
    if spec.backend == "deno":
        raise BuildError(
            "a Deno notebook needs no Python environment",
            path=resolution.path,
            hint="Deno kernels run with `deno jupyter`",
        )
    if spec.backend == "project":
        from envlens.envs import project_backend  # it builds on this module's lock and records

        return project_backend.ensure_project(
            resolution, settings=settings, progress=progress, cancel=cancel, start=start
        )
    key = spec.key
    final = paths.env_dir(key)
    record = _reusable(final, key)
    if record is not None:  # the fast path: no lock, no subprocess
        return _info(final, key, record, reused=True, start=start)
    uv = Uv.find(settings, cancel=cancel, progress=progress)
    for name in resolution.declaration.ignored:
        progress(f"Note: {name} is not a setting uv or nteract define; it is ignored")
    paths.envs_dir().mkdir(parents=True, exist_ok=True)
    with key_lock(key, cancel=cancel, progress=progress):
        record = _reusable(final, key)  # built by whoever held the lock before us
        if record is not None:
            return _info(final, key, record, reused=True, start=start)
        _clean_stale(key, final)
        check_cancel(cancel)
        conda = spec.backend == "conda" and bool(spec.conda_packages or spec.lock_hash)
        if conda:
            # Conda environments hard-code their prefix, so they are built in place (never renamed);
            # without `ready` the folder is still never used. py-rattler installs them in process.
            try:
                python_version, base_python = conda_backend.build(
                    resolution, final, uv=uv, settings=settings, progress=progress, cancel=cancel
                )
            except BaseException:
                _remove_tree(final)
                raise
        else:
            where = locate(resolution, "requires-python")
            interpreter = find_interpreter(
                spec.requires_python,
                uv=uv.path,
                settings=settings,
                where=where.name,
                **where.kwargs(),
            )
            python_version, base_python = str(interpreter.version), str(interpreter.path)
            build_dir = paths.envs_dir() / f".build-{key}-{uuid.uuid4().hex[:8]}"
            try:
                uv_backend.build(
                    resolution,
                    build_dir,
                    uv=uv,
                    interpreter=interpreter,
                    progress=progress,
                    locked=builds_from_lock(resolution, settings),
                )
                check_cancel(cancel)
                os.rename(build_dir, final)
            except BaseException:
                _remove_tree(build_dir)
                raise
        try:
            record = {
                "key": key,
                "spec": json.loads(spec.canonical_json()),
                "python_version": python_version,
                "base_python": base_python,
                "created": time.time(),
                "envlens": __version__,
                "declared_in": str(resolution.declaration.path or resolution.path),
            }
            _write_ready(final, record)  # last: from here on the environment is used
        except BaseException:
            _remove_tree(final)
            raise
    progress("Environment ready; compiling bytecode in the background")
    uv_backend.compile_bytecode_in_background(final, paths.ready_file(final))
    return _info(final, key, record, reused=False, start=start)


def _info(env: Path, key: str, record: dict[str, Any], *, reused: bool, start: float) -> EnvInfo:
    return EnvInfo(
        key=key,
        env_dir=env,
        python=paths.env_python(env),
        python_version=str(record.get("python_version", "")),
        reused=reused,
        seconds=time.monotonic() - start,
        backend=str(record.get("spec", {}).get("backend", "uv")),
    )


def list_environments() -> list[EnvRecord]:
    """Built environments (those with `ready`), oldest first."""
    root = paths.envs_dir()
    out: list[EnvRecord] = []
    if not root.is_dir():
        return out
    for env in root.iterdir():
        if env.name.startswith(".") or not env.is_dir():
            continue
        record = read_ready(env)
        if record is None:
            continue
        out.append(
            EnvRecord(
                key=str(record.get("key", env.name)),
                env_dir=env,
                python_version=str(record.get("python_version", "")),
                created=float(record.get("created", 0)),
                spec=dict(record.get("spec") or {}),
            )
        )
    return sorted(out, key=lambda r: r.created)


def remove_environment(key: str, *, cancel: threading.Event | None = None) -> bool:
    """Remove one environment (waiting for a build of it to finish); False if there was none."""
    if not _KEY.fullmatch(key):
        raise BadInputError(
            f"{key!r} is not an environment key",
            hint="Use a key from `envlens envs list` (16 hex digits)",
        )
    final = paths.env_dir(key)
    if not final.exists():
        return False
    with key_lock(key, cancel=cancel, progress=_noop):
        # `ready` goes first, so a half-removed folder is never taken for a built one (and a
        # background bytecode compile stops).
        with contextlib.suppress(FileNotFoundError):
            paths.ready_file(final).unlink()
        uv_backend.stop_bytecode(final)
        _remove_tree(final)
    return True
