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
import dataclasses
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name

from envlens.envs import conda_rattler
from envlens.envs.uv import Uv
from envlens.errors import LockError
from envlens.resolve import Resolution
from envlens.settings import Settings
from envlens.sources import toml_read
from envlens.sources.conda_lockfile import NOTEBOOK_CONDA_LOCK_KEY, conda_lock_path
from envlens.sources.notebook import parse_notebook

if TYPE_CHECKING:
    from rattler import LockFile, LockPlatform, RepoDataRecord

    from envlens.locking.versions import LockResult

ENVIRONMENT = "default"
State = Literal["none", "fresh", "stale"]


def lock_where(resolution: Resolution) -> tuple[Path, str]:
    """(file, description) of the lock, for messages."""
    lock = conda_lock_path(resolution.declaration)
    if lock is None:
        return resolution.path, f'metadata["{NOTEBOOK_CONDA_LOCK_KEY}"] of {resolution.path.name}'
    return lock, lock.name


@contextlib.contextmanager
def _temp_file(text: str | None = None) -> Iterator[Path]:
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

    with _temp_file(text) as tmp:
        try:
            return LockFile.from_path(tmp)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300]
            raise LockError(
                f"{where} is not a lock rattler can read: {reason}",
                path=path,
                hint="Delete it (or restore it from version control) and lock again",
            ) from None


def _owned(platforms: list[LockPlatform], name: str) -> LockPlatform:
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
    packages = env.packages(_owned(env.platforms(), subdir)) or []
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
            hint=f"Run `envlens lock {name}` first{tail}",
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
    platform = _owned(env.platforms(), conda_rattler.current_subdir())
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
    for p in env.packages(_owned(env.platforms(), subdir)) or []:
        version = getattr(p, "version", None)
        out[canonicalize_name(p.name)] = str(version) if version is not None else ""
    return out


def _previous_records(lock: LockFile | None, subdir: str) -> list[RepoDataRecord]:

    env = lock.environment(ENVIRONMENT) if lock is not None else None
    if env is None or subdir not in [p.name for p in env.platforms()]:
        return []
    return list(env.conda_repodata_records_for_platform(_owned(env.platforms(), subdir)) or [])


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

    from envlens.environment import ensure_environment
    from envlens.locking.versions import LockResult

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
            lock.add_conda_package(ENVIRONMENT, _owned(owned, sub), record)
    for name, version, url in pypi:
        lock.add_pypi_package(ENVIRONMENT, _owned(owned, current), name, version, url)
    with _temp_file() as tmp:
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
