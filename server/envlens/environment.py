"""The one entry point that builds (or reuses) what a file declares: `ensure_environment`.

It decides whether the environment comes from the file's lock (a lock that still belongs to the
declaration: locking.drift), takes a prewarmed spare for a file that declares nothing (envs/pool.py),
and hands the rest to the store (envs.store), which reuses a built environment by its key or builds
it once, with the backend of the declaration's kind. Every outcome that changes the file's
environment becomes a version in the file's history (envs/history.py), with the build's full log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from envlens import paths, surface
from envlens.envs import history, pool, usage
from envlens.envs.inventory import installed
from envlens.envs.record import info_of, reusable
from envlens.envs.runner import Progress, RunResult
from envlens.envs.store import EnvInfo, build_or_reuse
from envlens.envs.uv import listening
from envlens.errors import BadInputError, BuildCancelledError, EnvlensError
from envlens.locking.drift import lock_state
from envlens.resolve import Resolution
from envlens.settings import Settings

logger = logging.getLogger("envlens.history")


def from_lock(resolution: Resolution, settings: Settings | None = None) -> bool:
    """Is the environment built from the file's lock? Only a lock that matches its declaration."""
    return resolution.lock_text is not None and lock_state(resolution, settings) == "fresh"


def ensure_environment(
    resolution: Resolution,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    action: str = "build",
    reverted_from: int | None = None,
    on_version: Callable[[history.Version], None] | None = None,
) -> EnvInfo:
    """The environment for a resolved file: reused when built, else built once (even if asked
    concurrently). Raises ResolutionError, PythonNotFoundError, BuildError (incl. cancelled).

    `action` / `reverted_from` say why it is asked (a revert records its version even when nothing
    is built); `on_version` hears the version recorded, if any."""
    settings = settings or Settings.from_env()
    if not history.recordable(resolution):
        return _ensure(resolution, settings, progress, cancel)
    if (
        reverted_from is None
        and resolution.built
        and history.latest_state(resolution.path) == (resolution.key, "ready")
    ):
        # The fast path: what the file's latest version already has (no history write).
        info = _ensure(resolution, settings, progress, cancel)
        usage.mark_used(info.key)
        return info
    build_log = BuildLog(resolution, progress)
    try:
        with listening(build_log.heard):
            info = _ensure(resolution, settings, build_log.progress, cancel)
    except BadInputError:
        raise  # nothing was attempted (a Deno notebook): not a version
    except EnvlensError as exc:
        status = "cancelled" if isinstance(exc, BuildCancelledError) else "failed"
        version = _record(
            resolution,
            history.Outcome(status, resolution.key, error=exc.one_line()),
            build_log.finish(exc, status),
            build_log.seconds(),
            action,
            reverted_from,
        )
        if version is not None and on_version is not None:
            on_version(version)
        raise
    usage.mark_used(info.key)
    outcome = history.Outcome(
        "ready",
        info.key,
        reused=info.reused,
        python_version=info.python_version,
        packages=[[d.name, d.version] for d in installed(info.env_dir)],
    )
    version = _record(
        resolution,
        outcome,
        build_log.finish(info),
        build_log.seconds(),
        "pool" if build_log.from_pool and action == "build" else action,
        reverted_from,
    )
    if version is not None and on_version is not None:
        on_version(version)
    return info


def last_good(resolution: Resolution) -> tuple[history.Version, EnvInfo] | None:
    """The file's last version that built, with its environment, when that is another environment
    than the declaration's and still in the store: after a failed build, the editor's kernel stays
    on it."""
    if not history.recordable(resolution):
        return None
    good = history.load(resolution.path).in_use
    if good is None or good.key == resolution.key:
        return None
    env_dir = paths.env_dir(good.key)
    record = reusable(env_dir, good.key)
    if record is None:
        return None
    usage.mark_used(good.key)
    return good, info_of(env_dir, good.key, record, reused=True, start=time.monotonic())


def last_good_note(resolution: Resolution) -> str | None:
    """After a failed build: which version the file keeps, and how to go back to it."""
    found = last_good(resolution)
    if found is None:
        return None
    n, path = found[0].n, resolution.path
    return surface.words(
        f"{path} keeps its declaration; its last good version is {n} "
        f"(`envlens revert {path} {n}` goes back to it)",
        f"Its kernel stays on version {n}, the last that built (Revert in the Environment "
        "view's History goes back to it)",
    )


def _ensure(
    resolution: Resolution,
    settings: Settings,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> EnvInfo:
    if not resolution.built:
        taken = pool.take(resolution, settings, time.monotonic())
        if taken is not None:
            if progress is not None:
                progress("Took a prewarmed environment from the pool: nothing to build")
            return taken
    return build_or_reuse(
        resolution,
        from_lock=lambda: from_lock(resolution, settings),  # asked only when it builds
        settings=settings,
        progress=progress,
        cancel=cancel,
    )


def _record(
    resolution: Resolution,
    outcome: history.Outcome,
    log: str,
    seconds: float,
    action: str,
    reverted_from: int | None,
) -> history.Version | None:
    try:
        return history.record(
            resolution,
            outcome,
            log=log,
            duration=seconds,
            action=action,
            reverted_from=reverted_from,
        )
    except OSError as exc:  # the history informs; it never costs the user their environment
        logger.warning("could not record the environment history of %s: %s", resolution.path, exc)
        return None


class BuildLog:
    """One build's log: its progress lines and every uv call's output, in the order they came."""

    def __init__(self, resolution: Resolution, progress: Progress | None) -> None:
        self.resolution = resolution
        self.outer = progress
        self.start = time.monotonic()
        self.from_pool = False
        res = resolution
        self.parts = [
            f"envlens: environment {res.key} for {res.path}\n"
            f"declared in: {res.declaration.label}"
            + (f" ({res.declaration.path})" if res.declaration.path else "")
            + "\n"
            f"requirements: {', '.join(res.declaration.requirements) or '(none)'}\n"
            f"started: {history.describe_time(time.time())}\n\n"
        ]

    def seconds(self) -> float:
        return time.monotonic() - self.start

    def progress(self, line: str) -> None:
        if line.startswith("Took a prewarmed environment"):
            self.from_pool = True
        self.parts.append(f"[{self.seconds():6.2f} s] {line}\n")
        if self.outer is not None:
            self.outer(line)

    def heard(self, result: RunResult) -> None:
        self.parts.append(result.log())

    def finish(self, outcome: EnvInfo | EnvlensError, status: str = "ready") -> str:
        if isinstance(outcome, EnvlensError):
            if isinstance(outcome, BuildCancelledError) and outcome.log:
                self.parts.append(outcome.log)  # the call that was running when it was cancelled
            self.parts.append(f"\n{status} after {self.seconds():.1f} s: {outcome.one_line()}\n")
        elif outcome.reused:
            self.parts.append(f"\nready: the environment was already built ({outcome.env_dir})\n")
        else:
            self.parts.append(f"\nready in {self.seconds():.1f} s: {outcome.env_dir}\n")
        return "".join(self.parts)
