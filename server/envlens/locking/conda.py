"""Locking a conda declaration: solve every lock platform with rattler, pin the PyPI part with uv
against the environment's own Python, and compute the lock (rattler's format) and the file's new
text. Reading a conda lock and its drift are `envs/conda_lock.py`, below this layer."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name

from envlens.environment import ensure_environment
from envlens.envs import conda_rattler
from envlens.envs.conda_lock import (
    ENVIRONMENT,
    lock_platforms,
    lock_where,
    owned_platform,
    parse,
    temp_lock_file,
)
from envlens.envs.uv import Uv
from envlens.errors import LockError
from envlens.locking.result import LockResult
from envlens.resolve import Resolution
from envlens.settings import Settings
from envlens.sources import toml_read
from envlens.sources.conda_lockfile import NOTEBOOK_CONDA_LOCK_KEY
from envlens.sources.notebook import parse_notebook

if TYPE_CHECKING:
    from rattler import LockFile, RepoDataRecord


def _supported_tags(python_version: str) -> list[Tag]:
    major, minor = (int(x) for x in python_version.split(".")[:2])
    return [*cpython_tags((major, minor)), *compatible_tags((major, minor))]


def _artifact(package: dict[str, Any], supported: list[Tag]) -> str | None:
    """The URL uv would install for a pylock.toml package: the best wheel here, else the sdist."""
    rank = {t: i for i, t in enumerate(supported)}
    best: tuple[int, str] | None = None
    for wheel in package.get("wheels", []) or []:
        url = wheel.get("url") or wheel.get("path")
        if not isinstance(url, str):
            continue
        filename = url.rsplit("/", 1)[-1]
        parts = filename[: -len(".whl")].split("-")
        if len(parts) < 5:
            continue
        tags = parse_tag("-".join(parts[-3:]))
        score = min((rank[t] for t in tags if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, url)
    if best is not None:
        return best[1]
    sdist = package.get("sdist") or {}
    url = sdist.get("url") if isinstance(sdist, dict) else None
    return url if isinstance(url, str) else None


def pin_pypi(
    resolution: Resolution, python: Path, python_version: str, *, uv: Uv
) -> list[tuple[str, str, str]]:
    """(name, version, artifact URL) of everything the PyPI requirements install into `python`:
    uv resolves them (`uv pip compile --format pylock.toml`, offline first), so the versions are
    the ones a build installs."""
    reqs = list(resolution.spec.requirements)
    if not reqs:
        return []
    with tempfile.TemporaryDirectory(prefix="envlens-conda-lock-") as tmp:
        infile = Path(tmp) / "requirements.in"
        infile.write_text("\n".join(reqs) + "\n", encoding="utf-8")
        result = uv.require(
            [
                "pip",
                "compile",
                infile,
                "--format",
                "pylock.toml",
                "--python",
                python,
                "--no-header",
                "--quiet",
                "--no-python-downloads",
            ],
            resolution,
            cwd=Path(tmp),
            offline_first=True,
        )
    supported = _supported_tags(python_version)
    out: list[tuple[str, str, str]] = []
    for package in toml_read.loads(result.stdout).get("packages", []):
        url = _artifact(package, supported)
        if url is not None:
            out.append((str(package["name"]), str(package["version"]), url))
    return out


def _versions(lock: LockFile | None, subdir: str) -> dict[str, str]:

    if lock is None:
        return {}
    env = lock.environment(ENVIRONMENT)
    if env is None or subdir not in [p.name for p in env.platforms()]:
        return {}
    out: dict[str, str] = {}
    for p in env.packages(owned_platform(env.platforms(), subdir)) or []:
        version = getattr(p, "version", None)
        out[canonicalize_name(p.name)] = str(version) if version is not None else ""
    return out


def _previous_records(lock: LockFile | None, subdir: str) -> list[RepoDataRecord]:

    env = lock.environment(ENVIRONMENT) if lock is not None else None
    if env is None or subdir not in [p.name for p in env.platforms()]:
        return []
    return list(
        env.conda_repodata_records_for_platform(owned_platform(env.platforms(), subdir)) or []
    )


def plan_lock(
    resolution: Resolution,
    old_text: str,
    *,
    upgrade: bool,
    settings: Settings,
    cancel: threading.Event | None,
    start: float,
) -> LockResult:
    """Solve every lock platform, pin the PyPI part, and compute the lock and the file's new text;
    nothing of the user's is written (`lock.write_lock` does that)."""
    from rattler import LockChannel, LockFile, LockPlatform

    lock_path, where = lock_where(resolution)
    old_lock: LockFile | None = None
    if resolution.lock_text is not None:
        with contextlib.suppress(LockError):
            old_lock = parse(resolution.lock_text, where, lock_path)
    platforms = lock_platforms(resolution)
    current = conda_rattler.current_subdir()
    solved = {
        sub: conda_rattler.solve(
            resolution,
            sub,
            cancel=cancel,
            locked=None if upgrade else _previous_records(old_lock, sub),
        )
        for sub in platforms
    }
    pypi: list[tuple[str, str, str]] = []
    if resolution.spec.requirements and current in platforms:
        # The PyPI part resolves against the environment's own Python: build it (without a lock).
        unlocked = dataclasses.replace(
            resolution,
            lock_text=None,
            spec=dataclasses.replace(resolution.spec, lock_hash=None),
        )
        info = ensure_environment(unlocked, settings=settings, cancel=cancel)
        uv = Uv.find(settings, cancel=cancel)
        pypi = pin_pypi(resolution, info.python, info.python_version, uv=uv)
    lock = LockFile([LockPlatform(s) for s in platforms])
    owned = lock.platforms()
    channel_urls = conda_rattler.channel_urls(conda_rattler.channels_of(resolution))
    lock.set_channels(ENVIRONMENT, [LockChannel(u) for u in channel_urls])
    for sub, records in solved.items():
        for record in sorted(records, key=lambda r: r.name.normalized):
            lock.add_conda_package(ENVIRONMENT, owned_platform(owned, sub), record)
    for name, version, url in pypi:
        lock.add_pypi_package(ENVIRONMENT, owned_platform(owned, current), name, version, url)
    with temp_lock_file() as tmp:
        lock.to_path(tmp)
        lock_text = tmp.read_text(encoding="utf-8")
    new_lock = parse(lock_text, where)
    before, after = _versions(old_lock, current), _versions(new_lock, current)
    changes = {
        n: (before.get(n), after.get(n))
        for n in sorted(set(before) | set(after))
        if before.get(n) != after.get(n)
    }
    decl = resolution.declaration
    if decl.kind == "notebook-conda":
        nb = parse_notebook(old_text, resolution.path)
        nb.metadata[NOTEBOOK_CONDA_LOCK_KEY] = lock_text
        new_text = nb.dumps()
        file_path, target = resolution.path, resolution.path
    else:
        assert decl.path is not None and lock_path is not None
        file_path, target, new_text = decl.path, lock_path, old_text
    return LockResult(
        path=file_path,
        lock_path=target,
        lock_text=lock_text,
        new_text=new_text,
        old_text=old_text,
        pins={},
        versions=after,
        changes=changes,
        lock_changed=lock_text != (resolution.lock_text or ""),
        file_changed=new_text != old_text,
        seconds=time.monotonic() - start,
    )
