"""Where envlens keeps things: platformdirs folders, overridable for tests and clusters."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """`ENVLENS_CACHE_DIR`, else the platform's user cache folder (~/.cache/envlens on Linux)."""
    return Path(os.environ.get("ENVLENS_CACHE_DIR") or platformdirs.user_cache_dir("envlens"))


def config_dir() -> Path:
    return Path(os.environ.get("ENVLENS_CONFIG_DIR") or platformdirs.user_config_dir("envlens"))


def state_dir() -> Path:
    """`ENVLENS_STATE_DIR`, else the platform's user state folder (~/.local/state/envlens on
    Linux): what envlens remembers about files and work (history, build logs, jobs)."""
    return Path(os.environ.get("ENVLENS_STATE_DIR") or platformdirs.user_state_dir("envlens"))


def envs_dir() -> Path:
    return cache_dir() / "envs"


def env_dir(key: str) -> Path:
    return envs_dir() / key


def ready_file(env: Path) -> Path:
    """Written last by a build: a folder without it is never used."""
    return env / "ready"


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def site_packages_dirs(env: Path) -> list[Path]:
    """The environment's site-packages folders (one, in practice)."""
    if os.name == "nt":
        return [p for p in [env / "Lib" / "site-packages"] if p.is_dir()]
    return sorted(p for p in (env / "lib").glob("python*/site-packages") if p.is_dir())


def tools_dir() -> Path:
    """`ENVLENS_TOOLS_DIR`, else `<cache>/tools`: tools envlens acquires by itself (Deno)."""
    return Path(os.environ.get("ENVLENS_TOOLS_DIR") or cache_dir() / "tools")
