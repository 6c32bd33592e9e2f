"""Which uv binary to run: the user's setting, else $ENVLENS_UV, else the one the `uv` package ships."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from envlens.errors import UvNotFoundError
from envlens.settings import Settings


def _usable(path: str) -> Path | None:
    found = shutil.which(path)  # a bare name is looked up on PATH; a path must be executable
    return Path(found) if found else None


_bundled: list[Path | None] = []
_bundled_lock = threading.Lock()


def _bundled_uv() -> Path | None:
    """The binary of the `uv` package (a dependency of envlens), looked up once per process.

    Under a lock: uv.find_uv_bin() reads sysconfig, whose first use is not thread-safe.
    """
    with _bundled_lock:
        if not _bundled:
            try:
                import uv

                _bundled.append(Path(uv.find_uv_bin()))
            except (ImportError, FileNotFoundError):
                _bundled.append(None)
        return _bundled[0]


def find_uv(settings: Settings | None = None) -> Path:
    """The uv to run; a missing binary raises UvNotFoundError saying how to fix it."""
    if settings is not None and settings.uv_path:
        found = _usable(settings.uv_path)
        if found is None:
            raise UvNotFoundError(
                f"the uv binary set in envlens.uvPath ({settings.uv_path}) does not exist or is not executable",
                hint="Fix envlens.uvPath, or clear it to use the uv that comes with envlens",
            )
        return found
    env = os.environ.get("ENVLENS_UV")
    if env:
        found = _usable(env)
        if found is None:
            raise UvNotFoundError(
                f"the uv binary named by $ENVLENS_UV ({env}) does not exist or is not executable",
                hint="Point ENVLENS_UV at a uv binary, or unset it to use the uv that comes with envlens",
            )
        return found
    bundled = _bundled_uv()
    if bundled is not None:
        return bundled
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path)
    raise UvNotFoundError(
        "no uv binary was found (the `uv` package that envlens depends on is missing)",
        hint="Reinstall envlens (`pip install --force-reinstall envlens`), install uv, "
        "or set envlens.uvPath / $ENVLENS_UV to a uv binary",
    )
