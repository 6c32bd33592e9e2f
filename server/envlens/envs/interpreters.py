"""The Python interpreters on this machine, and the choice of one for a requires-python.

Two sources: `uv python list --only-installed` (PATH, uv-managed, system) and pyenv's versions folder
(its shims only run whichever version is global, so they are skipped and the versions read directly).
Discovery costs a subprocess, so it is cached per process; `clear_cache()` forgets it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envlens.envs.runner import tool_env
from envlens.errors import PythonNotFoundError
from envlens.settings import Settings


@dataclass(frozen=True, order=True)
class Interpreter:
    version: Version
    path: Path  # an interpreter that runs as it is (never a shim)
    implementation: str = "cpython"

    @property
    def short(self) -> str:
        """'3.12' for messages."""
        return f"{self.version.major}.{self.version.minor}"


_cache: dict[tuple[str, str], list[Interpreter]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _is_shim(path: Path) -> bool:
    return path.parent.name == "shims"


def _env_without_shims() -> dict[str, str]:
    """PATH without pyenv's shim folders: uv would run every shim (about 0.5 s each, most of
    them failing) and we skip shims anyway, reading pyenv's versions folder directly. Here this
    takes `uv python list` from about 5 s to 0.03 s."""
    env = tool_env()
    parts = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in parts if Path(p).name != "shims")
    return env


def _from_uv(uv: Path) -> list[Interpreter]:
    try:
        proc = subprocess.run(
            [
                str(uv),
                "python",
                "list",
                "--only-installed",
                "--output-format",
                "json",
                "--no-python-downloads",
            ],
            capture_output=True,
            text=True,
            env=_env_without_shims(),
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    try:
        # stderr carries warnings about broken shims; stdout alone is the JSON answer.
        entries = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return []
    found: list[Interpreter] = []
    for e in entries if isinstance(entries, list) else []:
        try:
            path = Path(e["path"])
            version = Version(e["version"])
            impl = str(e.get("implementation") or "cpython")
        except (KeyError, TypeError, InvalidVersion):
            continue
        if not _is_shim(path) and path.exists():
            found.append(Interpreter(version, path, impl))
    return found


def _from_pyenv(root: Path) -> list[Interpreter]:
    found: list[Interpreter] = []
    versions = root / "versions"
    if not versions.is_dir():
        return found
    for folder in versions.iterdir():
        python = folder / "bin" / "python3"
        try:
            # pyenv names CPython folders by version; others (pypy, miniconda) are skipped.
            version = Version(folder.name)
        except InvalidVersion:
            continue
        if python.exists() and not version.is_prerelease:
            found.append(Interpreter(version, python))
    return found


def discover(uv: Path) -> list[Interpreter]:
    """Every usable Python 3 here, newest first, one entry per real interpreter."""
    root = pyenv_root()
    cache_key = (str(uv), str(root))
    with _cache_lock:
        if cache_key in _cache:
            return list(_cache[cache_key])
    seen: dict[str, Interpreter] = {}
    for interp in _from_pyenv(root) + _from_uv(uv):
        if interp.version.major != 3:
            continue
        try:
            real = os.path.realpath(interp.path)
        except OSError:
            continue
        seen.setdefault(real, interp)  # pyenv paths first: they are the stable names
    result = sorted(
        seen.values(), key=lambda i: (i.implementation == "cpython", i.version), reverse=True
    )
    with _cache_lock:
        _cache[cache_key] = result
    return list(result)


def choose(
    requires_python: str | None,
    interpreters: list[Interpreter],
    *,
    default_version: str | None = None,
    where: str | None = None,
    path: Path | None = None,
    line: int | None = None,
    cell: int | None = None,
) -> Interpreter:
    """The newest interpreter satisfying requires-python (and the default version when one is set)."""
    spec = SpecifierSet(requires_python or "")
    candidates = [i for i in interpreters if spec.contains(i.version, prereleases=True)]
    if default_version and candidates:
        try:
            wanted = SpecifierSet(f"=={default_version}.*")
            preferred = [i for i in candidates if wanted.contains(i.version, prereleases=True)]
            candidates = preferred or candidates
        except InvalidSpecifier:
            pass
    if candidates:
        return candidates[0]
    versions = sorted({str(i.version) for i in interpreters}, key=Version, reverse=True)
    available = ", ".join(versions) if versions else "none"
    declared = (
        f" (requires-python '{requires_python}'{f' in {where}' if where else ''})"
        if requires_python
        else ""
    )
    raise PythonNotFoundError(
        f"no Python on this machine satisfies the declared version{declared}; available: {available}",
        available=versions,
        path=path,
        line=line,
        cell=cell,
        hint="Change requires-python to match one of the available versions, or install a matching "
        "Python (for example with pyenv) and try again",
    )


def find_interpreter(
    requires_python: str | None,
    *,
    uv: Path,
    settings: Settings | None = None,
    where: str | None = None,
    path: Path | None = None,
    line: int | None = None,
    cell: int | None = None,
) -> Interpreter:
    default = settings.default_python if settings else None
    return choose(
        requires_python,
        discover(uv),
        default_version=default,
        where=where,
        path=path,
        line=line,
        cell=cell,
    )


def new_declaration_python(settings: Settings | None = None) -> str | None:
    """requires-python for a declaration envlens creates: '>=X.Y' of the Python it builds with
    (as `uv init --script` writes it), or None when no Python can be found (then uv decides)."""
    from envlens.envs.uv import find_uv
    from envlens.errors import EnvlensError

    try:
        chosen = find_interpreter(None, uv=find_uv(settings), settings=settings)
    except EnvlensError:
        return None
    return f">={chosen.short}"
