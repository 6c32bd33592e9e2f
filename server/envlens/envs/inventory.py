"""What is installed in an environment: distributions, Python version, import name -> distributions,
the standard library's module names. The one inventory: the CLI, Lock Versions and the editor all
read it here.

Distributions are read from the `*.dist-info` folders directly rather than with `uv pip list`: the
same answer (uv reads the same files) in about a millisecond instead of a subprocess (~30 ms), which
matters because the editor asks on every environment view refresh.
`packages_distributions` and `stdlib_names` run the environment's own Python (importlib.metadata's
rules, including namespace packages and top_level.txt; the target's standard library, not the
server's) and are cached per environment and build.
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envlens import paths
from envlens.envs.runner import tool_env
from envlens.errors import BuildError
from envlens.resolve import Resolution


@dataclass(frozen=True)
class Distribution:
    name: str  # as the distribution spells it (METADATA Name)
    version: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


def _headers(meta: Path) -> tuple[str | None, str | None]:
    name = version = None
    try:
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # headers end at the first blank line; the description follows
                key, _, value = line.partition(":")
                if key == "Name" and name is None:
                    name = value.strip()
                elif key == "Version" and version is None:
                    version = value.strip()
    except OSError:
        return None, None
    return name, version


def installed(env: Path) -> list[Distribution]:
    """Installed distributions, sorted by canonical name."""
    found: dict[str, Distribution] = {}
    for sp in paths.site_packages_dirs(env):
        for meta_dir in sp.iterdir():
            if meta_dir.suffix == ".dist-info":
                meta = meta_dir / "METADATA"
            elif meta_dir.suffix == ".egg-info":
                meta = meta_dir / "PKG-INFO" if meta_dir.is_dir() else meta_dir
            else:
                continue
            name, version = _headers(meta)
            if name and version:
                found.setdefault(canonicalize_name(name), Distribution(name, version))
    return [found[k] for k in sorted(found)]


def resolution_json(res: Resolution) -> dict[str, Any]:
    """What `envlens resolve --json` prints and `envlens/resolve` answers: the resolution, and the
    built environment's Python version (the editor's kernel label needs it at once)."""
    return {**res.to_json(), "pythonVersion": python_version(res.env_dir) if res.built else None}


def python_version(env: Path) -> str | None:
    """The `ready` record's version, else pyvenv.cfg's (uv writes version_info = 3.12.1; the venv
    module writes version = ...)."""
    try:
        record = json.loads(paths.ready_file(env).read_text(encoding="utf-8"))
        if isinstance(record, dict) and record.get("python_version"):
            return str(record["python_version"])
    except (OSError, ValueError):
        pass
    try:
        lines = (env / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in lines)}
    return values.get("version_info") or values.get("version")


_SCRIPT = (
    "import sys, json, importlib.metadata as m\n"
    "print(json.dumps({'map': {k: sorted(set(v)) for k, v in m.packages_distributions().items()},"
    " 'stdlib': sorted(getattr(sys, 'stdlib_module_names', ()))}))\n"
)

_pd_cache: dict[tuple[str, int, int], tuple[dict[str, list[str]], frozenset[str]]] = {}
_pd_lock = threading.Lock()


def _stamp(env: Path) -> tuple[int, int]:
    def mtime(p: Path) -> int:
        try:
            return p.stat().st_mtime_ns
        except OSError:
            return 0

    sp = paths.site_packages_dirs(env)
    return mtime(paths.ready_file(env)), max((mtime(p) for p in sp), default=0)


def _probe(env: Path) -> tuple[dict[str, list[str]], frozenset[str]]:
    """(import name -> distributions, standard library module names), from the env's own Python."""
    cache_key = (str(env), *_stamp(env))
    with _pd_lock:
        if cache_key in _pd_cache:
            return _pd_cache[cache_key]
    python = paths.env_python(env)
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _SCRIPT],
            capture_output=True,
            text=True,
            env=tool_env(),
            timeout=60,
            check=False,
        )
        data = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("map"), dict):
        raise BuildError(
            f"could not list the packages of the environment at {env}",
            hint="Rebuild the environment (envlens install)",
        )
    result = (
        {str(k): [str(d) for d in v] for k, v in data["map"].items()},
        frozenset(str(n) for n in data.get("stdlib") or ()),
    )
    with _pd_lock:
        _pd_cache[cache_key] = result
    return result


def packages_distributions(env: Path) -> dict[str, list[str]]:
    """Top-level import name -> the distributions providing it (e.g. 'yaml' -> ['PyYAML'])."""
    return dict(_probe(env)[0])


@dataclass(frozen=True)
class EnvKnowledge:
    """What the editor knows of a built environment: quick (folder reads), or complete (with the
    import map and standard library, from one run of the environment's Python)."""

    env_dir: Path
    python_version: str | None
    packages: tuple[tuple[str, str], ...]  # (name, version), sorted by canonical name
    import_map: dict[str, list[str]] | None = None  # import name -> distributions
    stdlib: frozenset[str] | None = field(default=None)

    @property
    def complete(self) -> bool:
        return self.import_map is not None


def quick_knowledge(env: Path) -> EnvKnowledge:
    packages = tuple((d.name, d.version) for d in installed(env))
    return EnvKnowledge(env, python_version(env), packages)


def full_knowledge(env: Path) -> EnvKnowledge:
    """Runs the environment's Python once; the quick answer (import map empty) if that fails."""
    quick = quick_knowledge(env)
    try:
        import_map, stdlib = _probe(env)
    except BuildError:
        return EnvKnowledge(env, quick.python_version, quick.packages, {}, None)
    return EnvKnowledge(env, quick.python_version, quick.packages, import_map, stdlib or None)


def builds_by_file() -> dict[str, str]:
    """The newest built environment's key for each file that declared one (from `ready` records)."""
    latest: dict[str, tuple[float, str]] = {}
    root = paths.envs_dir()
    try:
        envs = list(root.iterdir())
    except OSError:
        return {}
    for env in envs:
        if env.name.startswith("."):
            continue
        try:
            record = json.loads(paths.ready_file(env).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not record.get("declared_in"):
            continue
        where = str(record["declared_in"])
        created = float(record.get("created") or 0)
        if where not in latest or latest[where][0] < created:
            latest[where] = (created, str(record.get("key", env.name)))
    return {k: v[1] for k, v in latest.items()}
