"""What a built environment holds: Python version, installed distributions, import names, stdlib.

Plain functions (no LSP). The cheap part reads folder names (`*.dist-info`); the rest runs the
environment's own Python once (`importlib.metadata.packages_distributions()`, `sys.stdlib_module_names`),
so the answer is the target's and not the server's.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from envlens import paths

_DIST_INFO = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+)\.dist-info$")

_PROBE = (
    "import sys, json, importlib.metadata as m\n"
    "print(json.dumps({'stdlib': sorted(getattr(sys, 'stdlib_module_names', ())),"
    " 'map': {k: list(v) for k, v in m.packages_distributions().items()},"
    " 'version': '.'.join(map(str, sys.version_info[:3]))}))\n"
)


@dataclass(frozen=True)
class EnvKnowledge:
    env_dir: Path
    python_version: str | None
    packages: tuple[tuple[str, str], ...]  # (name, version), sorted by canonical name
    import_map: dict[str, list[str]] | None = None  # import name -> distributions
    stdlib: frozenset[str] | None = field(default=None)

    @property
    def complete(self) -> bool:
        return self.import_map is not None


def site_packages(env_dir: Path) -> list[Path]:
    found = sorted(env_dir.glob("lib/python*/site-packages")) + sorted(
        env_dir.glob("Lib/site-packages")
    )
    return [p for p in found if p.is_dir()]


def python_version(env_dir: Path) -> str | None:
    try:
        record = json.loads(paths.ready_file(env_dir).read_text(encoding="utf-8"))
        if isinstance(record, dict) and record.get("python_version"):
            return str(record["python_version"])
    except (OSError, ValueError):
        pass
    try:
        for line in (env_dir / "pyvenv.cfg").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version"):
                return value.strip()
    except OSError:
        pass
    return None


def installed_packages(env_dir: Path) -> tuple[tuple[str, str], ...]:
    out: dict[str, tuple[str, str]] = {}
    for sp in site_packages(env_dir):
        try:
            entries = list(sp.iterdir())
        except OSError:
            continue
        for entry in entries:
            m = _DIST_INFO.match(entry.name)
            if m:
                name = m.group("name")
                out[canonicalize_name(name)] = (name.replace("_", "-"), m.group("version"))
    return tuple(out[k] for k in sorted(out))


def quick_knowledge(env_dir: Path) -> EnvKnowledge:
    return EnvKnowledge(env_dir, python_version(env_dir), installed_packages(env_dir))


def full_knowledge(env_dir: Path, timeout: float = 30.0) -> EnvKnowledge:
    """Runs the environment's Python once; falls back to the quick answer if that fails."""
    quick = quick_knowledge(env_dir)
    import_map: dict[str, list[str]] | None = None
    try:  # the store's own inventory, when it has one
        from envlens.envs import inventory  # type: ignore[attr-defined,unused-ignore]

        found = inventory.packages_distributions(env_dir)
        import_map = {str(k): [str(d) for d in v] for k, v in dict(found).items()}
    except Exception:
        import_map = None
    stdlib: frozenset[str] | None = None
    python = paths.env_python(env_dir)
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        data = json.loads(proc.stdout)
        stdlib = frozenset(data["stdlib"]) or None
        if import_map is None:
            import_map = {str(k): [str(d) for d in v] for k, v in data["map"].items()}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        pass
    return EnvKnowledge(env_dir, quick.python_version, quick.packages, import_map or {}, stdlib)


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
