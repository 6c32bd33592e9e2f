"""Reading uv's lock: parse it (a corrupt one is a LockError naming its line), its locked versions,
and where a file's lock lives (`<file>.py.lock`, or a notebook's `metadata["uv.lock"]`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit.exceptions
from packaging.utils import canonicalize_name

from envlens import surface
from envlens.errors import (
    LockError,
)
from envlens.requirements import toml_reason
from envlens.resolve import Resolution
from envlens.sources import toml_read
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY, script_lock_path

# ---------------------------------------------------------------------------------------------
# Reading a lock


@dataclass(frozen=True)
class LockedPackage:
    name: str  # canonical
    version: str | None
    source: dict[str, Any]


@dataclass(frozen=True)
class ParsedLock:
    text: str
    requires_python: str | None
    requirements: tuple[dict[str, Any], ...]  # [manifest] requirements, as uv wrote them
    exclude_newer: str | None
    packages: tuple[LockedPackage, ...]

    def versions(self) -> dict[str, str]:
        """Canonical name -> version; a name locked at two versions (forked) keeps the highest."""
        from packaging.version import InvalidVersion, Version

        out: dict[str, str] = {}
        for p in self.packages:
            if p.version is None:
                continue
            old = out.get(p.name)
            try:
                if old is None or Version(p.version) > Version(old):
                    out[p.name] = p.version
            except InvalidVersion:
                out[p.name] = p.version
        return out


_PACKAGE_HEAD = re.compile(r'^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', re.M)


def locked_versions(text: str) -> dict[str, str]:
    """Canonical name -> version, read fast: uv writes each package's name and version first
    (a full TOML parse of a large lock costs ~50 ms); anything unexpected takes the full parse."""
    from packaging.version import InvalidVersion, Version

    found = _PACKAGE_HEAD.findall(text)
    if len(found) != text.count("[[package]]"):
        return parse_lock(text, where="uv's lock").versions()
    out: dict[str, str] = {}
    for name, version in found:
        n = canonicalize_name(name)
        try:
            if n not in out or Version(version) > Version(out[n]):
                out[n] = version
        except InvalidVersion:
            out[n] = version
    return out


def lock_location(resolution: Resolution) -> tuple[Path, str]:
    """Where the lock lives, for messages: (file, description)."""
    if resolution.path.suffix == ".ipynb":
        return resolution.path, f'metadata["{NOTEBOOK_LOCK_KEY}"] of {resolution.path.name}'
    lock = script_lock_path(resolution.path)
    return lock, lock.name


def parse_lock(text: str, *, path: Path | None = None, where: str = "the lock") -> ParsedLock:
    """uv's lock TOML; a corrupt one raises LockError naming the line."""
    try:
        data = toml_read.loads(text)  # tomllib (fast for large locks); tomlkit names the line
    except tomlkit.exceptions.ParseError as exc:
        raise LockError(
            f"{where} is not valid TOML: {toml_reason(exc)}",
            path=path,
            line=exc.line if path and path.suffix != ".ipynb" else None,
            hint="Delete the lock (or restore it from version control) and "
            + surface.action("lock", path)
            + " again",
        ) from None
    if not isinstance(data.get("version"), int) or not isinstance(data.get("package", []), list):
        raise LockError(
            f"{where} is not a uv lock (it has no 'version' number)",
            path=path,
            hint="Delete the lock (or restore it from version control) and "
            + surface.action("lock", path)
            + " again",
        )
    manifest = data.get("manifest", {})
    reqs = manifest.get("requirements", []) if isinstance(manifest, dict) else []
    options = data.get("options", {})
    packages: list[LockedPackage] = []
    for p in data.get("package", []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise LockError(
                f"{where} has a [[package]] entry without a name",
                path=path,
                hint=f"Delete the lock and {surface.action('lock', path)} again",
            )
        version = p.get("version")
        source = p.get("source", {})
        packages.append(
            LockedPackage(
                canonicalize_name(p["name"]),
                str(version) if version is not None else None,
                source if isinstance(source, dict) else {},
            )
        )
    rp = data.get("requires-python")
    en = options.get("exclude-newer") if isinstance(options, dict) else None
    return ParsedLock(
        text=text,
        requires_python=str(rp) if rp is not None else None,
        requirements=tuple(r for r in reqs if isinstance(r, dict)),
        exclude_newer=str(en) if en is not None else None,
        packages=tuple(packages),
    )
