"""The store of built environments: one folder per spec key under `paths.envs_dir()`.

A build runs in `.build-<key>-<random>` next to the final folder, is renamed to `<key>` when it is
complete, and only then gets its `ready` record (written atomically, last). A folder without `ready`
is never used: the next build for that key removes it (and any leftover `.build-<key>-*` of a killed
build) first. A file lock per key (`.locks/<key>.lock`, fcntl, released by the kernel if the holder
dies) makes concurrent requests, from threads or processes, build once; the others wait and reuse.
A lock file lives as long as its environment: a failed build and `remove_environment` delete it.
A failed build leaves its error in `.locks/<key>.failed` for a short while, so those who waited for
that build get the same error at once instead of each building it again (a later request builds).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from envlens import __version__, errors, paths
from envlens.envs import conda_backend, uv_backend
from envlens.envs.from_lock import builds_from_lock
from envlens.envs.interpreters import find_interpreter
from envlens.envs.locate import locate
from envlens.envs.runner import BuildCancelledError, Progress, check_cancel
from envlens.envs.uv import Uv
from envlens.errors import BadInputError, BuildError, EnvlensError
from envlens.resolve import Resolution
from envlens.settings import Settings

_KEY = re.compile(r"[0-9a-f]{6,64}")
# How long a failed build's error answers those who were waiting for that build (not later asks).
FAILURE_MEMO_SECONDS = 120.0


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


class KeyLock:
    """The held lock of one key; `discard()` removes its file when the lock is released.

    Removing a lock file is safe because every acquirer checks, once it holds the lock, that the
    path still names the file it locked; one that locked a removed file lets go and tries again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._discard = False

    def discard(self) -> None:
        self._discard = True


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _lock_fd(path: Path, cancel: threading.Event | None, on_wait: Callable[[], None]) -> int:
    """flock(2) `path` exclusively, waiting cancellably; returns the descriptor that holds it."""
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
        if held._discard:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # before unlocking: a waiter then sees it locked a removed file
        os.close(fd)


def _sweep_lock_files() -> None:
    """Remove the lock files of keys without an environment that nobody holds (left by versions
    of envlens that kept them, or by a process killed while building)."""
    _expire_failure_memos()
    if fcntl is None:
        return
    for path in (paths.envs_dir() / ".locks").glob("*.lock"):
        name = path.name[: -len(".lock")]
        if not _KEY.fullmatch(name) or paths.env_dir(name).exists():
            continue  # project-<key> locks and those of built environments stay
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(path, fd) and not paths.env_dir(name).exists():
                    os.unlink(path)
            finally:
                os.close(fd)


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
    """Leftovers of killed builds for this key (we hold its lock, so none is live), and old
    failure memos of any key."""
    _expire_failure_memos()
    for stale in paths.envs_dir().glob(f".build-{key}-*"):
        _remove_tree(stale)
    _empty_trash()
    if final.exists() and read_ready(final) is None:
        _remove_tree(final)


def _failure_path(key: str) -> Path:
    return lock_path(key).with_suffix(".failed")


def _remember_failure(key: str, exc: EnvlensError) -> None:
    """Keep a failed build's error, so those waiting for this key get it instead of a rebuild."""
    attrs = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(exc).items()
        if isinstance(v, (str, int, float, bool, list, Path, type(None)))
    }
    record = {"time": time.time(), "type": type(exc).__name__, "attrs": attrs}
    target = _failure_path(key)
    with contextlib.suppress(OSError, TypeError, ValueError):  # a memo only saves time
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, target)


def _recent_failure(key: str, *, since: float) -> EnvlensError | None:
    """The error of a build of `key` that failed after `since` (while we waited), if any."""
    try:
        record = json.loads(_failure_path(key).read_text(encoding="utf-8"))
        when = float(record["time"])
        cls = getattr(errors, str(record["type"]), None)
        attrs = dict(record["attrs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (since <= when and time.time() - when < FAILURE_MEMO_SECONDS):
        return None
    if not (isinstance(cls, type) and issubclass(cls, EnvlensError)):
        cls = BuildError
    exc = cls.__new__(cls)
    Exception.__init__(exc, attrs.get("message", "the build failed"))
    exc.__dict__.update(attrs)
    exc.path = Path(attrs["path"]) if isinstance(attrs.get("path"), str) else None
    return exc


def _expire_failure_memos() -> None:
    for memo in (paths.envs_dir() / ".locks").glob("*.failed"):
        with contextlib.suppress(OSError):
            if time.time() - memo.stat().st_mtime > FAILURE_MEMO_SECONDS:
                memo.unlink()


def _forget_failure(key: str) -> None:
    with contextlib.suppress(OSError):
        _failure_path(key).unlink()


def _build_locked(
    resolution: Resolution,
    key: str,
    final: Path,
    uv: Uv,
    settings: Settings,
    progress: Progress,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    """Build `final` (the caller holds the key's lock and found nothing reusable); its record."""
    spec = resolution.spec
    _clean_stale(key, final)
    check_cancel(cancel)
    conda = spec.backend == "conda" and bool(spec.conda_packages)
    if conda:
        # Conda environments hard-code their prefix, so they are built in place (never renamed);
        # without `ready` the folder is still never used. Conda brings its own Python.
        try:
            python_version, base_python = conda_backend.build(
                resolution, final, uv=uv.path, progress=progress, cancel=cancel
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
    return record


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
    waiting_since = time.time()
    with key_lock(key, cancel=cancel, progress=progress) as held:
        record = _reusable(final, key)  # built by whoever held the lock before us
        if record is not None:
            return _info(final, key, record, reused=True, start=start)
        failed = _recent_failure(key, since=waiting_since)
        if failed is not None:  # the build we waited for failed: its error, not a rebuild
            held.discard()
            raise failed
        try:
            record = _build_locked(resolution, key, final, uv, settings, progress, cancel)
        except BaseException as exc:
            if isinstance(exc, EnvlensError) and not isinstance(exc, BuildCancelledError):
                _remember_failure(key, exc)
            held.discard()  # no environment: no lock file left behind either
            raise
        _forget_failure(key)
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
    with key_lock(key, cancel=cancel, progress=_noop) as held:
        # `ready` goes first, so a half-removed folder is never taken for a built one (and a
        # background bytecode compile stops).
        with contextlib.suppress(FileNotFoundError):
            paths.ready_file(final).unlink()
        uv_backend.stop_bytecode(final)
        _remove_tree(final)
        _forget_failure(key)
        held.discard()  # the lock file goes with its environment
    _sweep_lock_files()
    return True
