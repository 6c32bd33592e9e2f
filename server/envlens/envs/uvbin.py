"""Which uv binary to run: the user's setting, else $ENVLENS_UV, else the one the `uv` package ships."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from envlens.errors import UvNotFoundError
from envlens.settings import Settings


def _usable(path: str) -> Path | None:
    found = shutil.which(path)  # a bare name is looked up on PATH; a path must be executable
    return Path(found) if found else None


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
    try:
        import uv  # the `uv` PyPI package, a dependency of envlens

        return Path(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path)
    raise UvNotFoundError(
        "no uv binary was found (the `uv` package that envlens depends on is missing)",
        hint="Reinstall envlens (`pip install --force-reinstall envlens`), install uv, "
        "or set envlens.uvPath / $ENVLENS_UV to a uv binary",
    )
