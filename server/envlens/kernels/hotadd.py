"""Bringing a running kernel up to date with a changed declaration, without losing its state.

When the new environment only adds distributions to the one the kernel runs in (every distribution
the kernel may have imported is there with the same version, and the Python is the same), the
kernel can use the new environment as it is: its site-packages folders are added to `sys.path`
*after* the old ones (so nothing already importable changes where it comes from), through
`site.addsitedir` so that their `.pth` files are processed (editable installs, namespace packages,
`distutils-precedence.pth`), and `importlib.invalidate_caches()` drops the path finders' directory
caches, which would otherwise still say that a module is missing. The new environment's `bin`
folder goes first on PATH and VIRTUAL_ENV names it, so `!command` lines use the new environment.

Anything else (a version changed, something removed, another Python) cannot be done in place:
the caller asks the user whether to restart into the new environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from envlens.envs.inventory import Distribution, installed, python_version
from envlens.paths import site_packages_dirs


@dataclass(frozen=True)
class HotAddPlan:
    possible: bool
    added: tuple[Distribution, ...] = ()
    reason: str = ""  # why it is not possible (one line), for the restart question
    site_dirs: tuple[Path, ...] = field(default_factory=tuple)
    bin_dir: Path | None = None
    env_dir: Path | None = None

    def kernel_code(self) -> str:
        """What the kernel runs (silently) to use the new environment."""
        dirs = json.dumps([str(d) for d in self.site_dirs])
        bin_dir = json.dumps(str(self.bin_dir) if self.bin_dir else "")
        env_dir = json.dumps(str(self.env_dir) if self.env_dir else "")
        return (
            "def __envlens_hot_add():\n"
            "    import importlib, os, site, sys\n"
            f"    for d in {dirs}:\n"
            "        if d not in sys.path:\n"
            "            site.addsitedir(d)\n"
            "    importlib.invalidate_caches()\n"
            f"    if {bin_dir}:\n"
            f"        os.environ['PATH'] = {bin_dir} + os.pathsep + os.environ.get('PATH', '')\n"
            f"        os.environ['VIRTUAL_ENV'] = {env_dir}\n"
            "__envlens_hot_add()\n"
            "del __envlens_hot_add\n"
        )


def _describe(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def plan_hot_add(old_env: Path, new_env: Path) -> HotAddPlan:
    """Whether a kernel running in `old_env` can take `new_env`'s packages without a restart."""
    old_py, new_py = python_version(old_env), python_version(new_env)
    if not old_py or not new_py:
        return HotAddPlan(False, reason="the environment's Python version is unknown")
    if old_py.split(".")[:2] != new_py.split(".")[:2]:
        return HotAddPlan(False, reason=f"the Python version changes ({old_py} -> {new_py})")
    old = {canonicalize_name(d.name): d for d in installed(old_env)}
    new = {canonicalize_name(d.name): d for d in installed(new_env)}
    changed = [
        f"{d.name} {d.version} -> {new[k].version}"
        for k, d in old.items()
        if k in new and new[k].version != d.version
    ]
    if changed:
        return HotAddPlan(False, reason=f"installed versions change: {_describe(changed)}")
    removed = [d.name for k, d in old.items() if k not in new]
    if removed:
        return HotAddPlan(False, reason=f"packages are removed: {_describe(removed)}")
    added = tuple(d for k, d in sorted(new.items()) if k not in old)
    bin_dir = new_env / ("Scripts" if os.name == "nt" else "bin")
    return HotAddPlan(
        True,
        added=added,
        site_dirs=tuple(site_packages_dirs(new_env)),
        bin_dir=bin_dir,
        env_dir=new_env,
    )
