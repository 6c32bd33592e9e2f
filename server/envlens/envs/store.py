"""The store of built environments: one folder per key (see envs/record.py for how a folder
becomes complete), built by the backend of the declaration's kind (uv, conda, project), each behind
the same protocol (envs/backend.py). `build_or_reuse` is the store's one entry point;
`envlens.environment.ensure_environment` decides whether a lock is used and calls it.
A failed build's error answers those who waited for it (envs/failures.py); lock files go with their
environments (envs/record.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable

from envlens import paths
from envlens.envs import failures
from envlens.envs.backend import Backend, BuildContext
from envlens.envs.conda_backend import CondaBackend
from envlens.envs.project_backend import ProjectBackend
from envlens.envs.record import (
    EnvInfo,
    EnvRecord,
    key_lock,
    read_ready,
    remove_tree,
    sweep_lock_files,
)
from envlens.envs.runner import Progress
from envlens.envs.uv import Uv
from envlens.envs.uv_backend import UvBackend, stop_bytecode
from envlens.errors import BadInputError, BuildCancelledError, BuildError, EnvlensError
from envlens.resolve import Resolution
from envlens.settings import Settings

_KEY = re.compile(r"[0-9a-f]{6,64}")

_uv = UvBackend()
BACKENDS: dict[str, Backend] = {
    "uv": _uv,
    "conda": CondaBackend(_uv),
    "project": ProjectBackend(),
}

__all__ = ["EnvInfo", "EnvRecord", "build_or_reuse", "list_environments", "remove_environment"]


def _noop(_: str) -> None:
    pass


def build_or_reuse(
    resolution: Resolution,
    *,
    from_lock: Callable[[], bool],
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> EnvInfo:
    """The environment for a resolved file: reused when built (no lock, no subprocess), else built
    once even if asked concurrently; `from_lock` is asked only when a build is needed."""
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
    backend = BACKENDS[spec.backend]
    info = backend.reuse(resolution, start)
    if info is not None:  # the fast path
        return info
    uv = Uv.find(settings, cancel=cancel, progress=progress)
    for name in resolution.declaration.ignored:
        progress(f"Note: {name} is not a setting uv or nteract define; it is ignored")
    paths.envs_dir().mkdir(parents=True, exist_ok=True)
    name = backend.lock_name(resolution)
    waiting_since = time.time()
    with key_lock(name, cancel=cancel, progress=progress) as held:
        info = backend.reuse(resolution, start)  # built by whoever held the lock before us
        if info is not None:
            return info
        failed = failures.recent(name, since=waiting_since)
        if failed is not None:  # the build we waited for failed: its error, not a rebuild
            held.discard()
            raise failed
        failures.expire()
        try:
            ctx = BuildContext(uv, settings, progress, cancel, from_lock(), start)
            info = backend.build(resolution, ctx)
        except BaseException as exc:
            if isinstance(exc, EnvlensError) and not isinstance(exc, BuildCancelledError):
                failures.remember(name, exc)
            held.discard()  # no environment: no lock file left behind either
            raise
        failures.forget(name)
        return info


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
        stop_bytecode(final)
        remove_tree(final)
        failures.forget(key)
        held.discard()  # the lock file goes with its environment
    sweep_lock_files(lambda name: _KEY.fullmatch(name) is not None)
    failures.expire()
    return True
