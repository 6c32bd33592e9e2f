"""The Deno runtime: TypeScript notebooks run on `deno jupyter --kernel` (Deno brings its own
packages through `npm:` and `jsr:` imports, so there is no environment to build)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from envlens.errors import KernelError

INSTALL_HINT = (
    "Install Deno (https://docs.deno.com/runtime/getting_started/installation/, for example "
    "'curl -fsSL https://deno.land/install.sh | sh'), make sure 'deno' is on PATH or set "
    "ENVLENS_DENO to its path, then start the kernel again"
)


def find_deno() -> Path | None:
    explicit = os.environ.get("ENVLENS_DENO")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    found = shutil.which("deno")
    if found:
        return Path(found)
    default = Path.home() / ".deno" / "bin" / "deno"  # where Deno's installer puts it
    return default if default.exists() else None


def deno_kernel_argv(path: Path | str) -> list[str]:
    """The kernel command for a Deno notebook, or KernelError naming the notebook and the fix."""
    deno = find_deno()
    if deno is None:
        raise KernelError(
            "this notebook runs on Deno (TypeScript), and Deno is not installed",
            path=path,
            hint=INSTALL_HINT,
        )
    return [str(deno), "jupyter", "--kernel", "--conn", "{connection_file}"]
