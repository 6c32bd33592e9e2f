"""Conda locks: rattler's lock format (pixi's `pixi.lock`, version 6), written and read by py-rattler.

Where a lock lives is `sources/conda_lockfile.py`. A lock holds, in its `default` environment, the
channels, every conda package solved for each locked platform (URL and sha256), and for this
machine's platform the PyPI packages (resolved by uv for the environment's Python: the wheel's
URL). A build from a fresh lock installs exactly those records and PyPI artifacts (and ipykernel
around them), without solving.

Fresh means: the lock names the declared channels, has this platform, every declared conda spec is
satisfied by a locked package and every PyPI requirement by a locked PyPI package (the check pixi
makes). Anything else is stale, with reasons; a stale lock is never used for a build.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envlens import surface
from envlens.envs import conda_rattler
from envlens.errors import LockError
from envlens.resolve import Resolution
from envlens.sources import toml_read
from envlens.sources.conda_lockfile import NOTEBOOK_CONDA_LOCK_KEY, conda_lock_path

if TYPE_CHECKING:
    from rattler import LockFile, LockPlatform, RepoDataRecord

ENVIRONMENT = "default"
State = Literal["none", "fresh", "stale"]


def lock_where(resolution: Resolution) -> tuple[Path, str]:
    """(file, description) of the lock, for messages."""
    lock = conda_lock_path(resolution.declaration)
    if lock is None:
        return resolution.path, f'metadata["{NOTEBOOK_CONDA_LOCK_KEY}"] of {resolution.path.name}'
    return lock, lock.name


@contextlib.contextmanager
def temp_lock_file(text: str | None = None) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="envlens-conda-", suffix=".lock")
    os.close(fd)
    path = Path(name)
    try:
        if text is not None:
            path.write_text(text, encoding="utf-8")
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def parse(text: str, where: str, path: Path | None = None) -> LockFile:
    """rattler's reading of a lock's text; a lock it cannot read raises LockError."""
    from rattler import LockFile

    with temp_lock_file(text) as tmp:
        try:
            return LockFile.from_path(tmp)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300]
            raise LockError(
                f"{where} is not a lock rattler can read: {reason}",
                path=path,
                hint="Delete it (or restore it from version control) and lock again",
            ) from None


def owned_platform(platforms: list[LockPlatform], name: str) -> LockPlatform:
    """The lock's own platform object of that name (rattler refuses a stand-alone one)."""
    return next(p for p in platforms if p.name == name)


def _norm_url(url: str) -> str:
    return url.rstrip("/")


def _drift(resolution: Resolution) -> tuple[State, tuple[str, ...]]:
    from rattler import CondaLockedPackage, PypiLockedPackage

    if resolution.lock_text is None:
        return "none", ()
    lock_path, where = lock_where(resolution)
    try:
        lock = parse(resolution.lock_text, where, lock_path)
    except LockError as exc:
        return "stale", (exc.message,)
    env = lock.environment(ENVIRONMENT)
    if env is None:
        return "stale", (f"{where} has no '{ENVIRONMENT}' environment",)
    reasons: list[str] = []
    want = [_norm_url(u) for u in conda_rattler.channel_urls(conda_rattler.channels_of(resolution))]
    have = [_norm_url(str(c)) for c in env.channels()]
    if want != have:
        reasons.append(f"the channels changed (locked: {', '.join(have) or 'none'})")
    subdir = conda_rattler.current_subdir()
    if subdir not in [p.name for p in env.platforms()]:
        return "stale", (*reasons, f"the lock has no packages for this platform ({subdir})")
    packages = env.packages(owned_platform(env.platforms(), subdir)) or []
    conda = [p for p in packages if isinstance(p, CondaLockedPackage)]
    pypi = [p for p in packages if isinstance(p, PypiLockedPackage)]
    for spec in conda_rattler.match_specs(resolution):
        name = conda_rattler.spec_name(spec)
        same = [p for p in conda if p.name == name]
        if not same:
            reasons.append(f"{spec} is declared but not in the lock")
        elif not any(p.satisfies(spec) for p in same):
            versions = ", ".join(str(p.version) for p in same)
            reasons.append(f"{spec} is declared, the lock has {name} {versions}")
    for text in resolution.spec.requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        pname = canonicalize_name(req.name)
        found = [p for p in pypi if canonicalize_name(p.name) == pname]
        if not found:
            reasons.append(f"{text} is declared but not in the lock")
        elif not req.url and not any(p.satisfies(text) for p in found):
            reasons.append(f"{text} is declared, the lock has {pname} {found[0].version}")
    return ("stale", tuple(reasons)) if reasons else ("fresh", ())


_drift_cache: dict[tuple[str, str, tuple[str, ...]], tuple[State, tuple[str, ...]]] = {}


def drift(resolution: Resolution) -> tuple[State, tuple[str, ...]]:
    """("none" | "fresh" | "stale", reasons); cached by the spec key (it hashes the lock)."""
    key = (resolution.key, resolution.lock_text or "", resolution.declaration.requirements)
    if key not in _drift_cache:
        if len(_drift_cache) > 256:
            _drift_cache.clear()
        _drift_cache[key] = _drift(resolution)
    return _drift_cache[key]


def require_fresh(resolution: Resolution, *, alternative: str | None = None) -> str:
    """The lock's text when it is fresh; else LockError saying how to lock."""
    name = resolution.path.name
    tail = f", {alternative}" if alternative else ""
    if resolution.lock_text is None:
        raise LockError(
            f"{name} has no conda lock",
            path=resolution.path,
            hint=surface.sentence(surface.action("lock", name)) + f" first{tail}",
        )
    state, reasons = drift(resolution)
    if state != "fresh":
        lock_path, _ = lock_where(resolution)
        raise LockError(
            f"the conda lock is out of date: {'; '.join(reasons)}",
            path=resolution.declaration.path or lock_path,
            hint=f"Run `envlens lock {name}` to update it{tail}",
        )
    return resolution.lock_text


@dataclass(frozen=True)
class LockedInstall:
    records: list[RepoDataRecord]
    pypi_requirements: list[str]  # `name @ url` (the locked artifact), else `name==version`


def locked_install(resolution: Resolution) -> LockedInstall | None:
    """What a build installs from a fresh lock; None without one (a stale lock is not used: the
    editor and `run --locked` say it is stale)."""

    if resolution.lock_text is None or drift(resolution)[0] != "fresh":
        return None
    lock_path, where = lock_where(resolution)
    env = parse(resolution.lock_text, where, lock_path).environment(ENVIRONMENT)
    assert env is not None  # fresh implies it
    platform = owned_platform(env.platforms(), conda_rattler.current_subdir())
    records = env.conda_repodata_records_for_platform(platform) or []
    pypi = env.pypi_packages_for_platform(platform) or []
    reqs = [
        f"{p.name} @ {p.location}" if "://" in p.location else f"{p.name}=={p.version}"
        for p in pypi
    ]
    return LockedInstall(list(records), reqs)


# --- locking --------------------------------------------------------------------------------


def lock_platforms(resolution: Resolution) -> list[str]:
    """pixi.toml's `platforms` (pixi locks them all), else this machine's platform."""
    current = conda_rattler.current_subdir()
    decl = resolution.declaration
    if decl.kind == "pixi" and decl.path is not None:
        with contextlib.suppress(Exception):  # a broken pixi.toml was reported by resolve
            data = toml_read.loads(decl.path.read_text(encoding="utf-8"))
            ws = data.get("workspace") or data.get("project") or {}
            names = [p for p in ws.get("platforms", []) if isinstance(p, str)]
            if names:
                return list(dict.fromkeys([current, *names])) if current in names else names
    return [current]
