"""The Deno runtime: TypeScript notebooks run on `deno jupyter --kernel --conn <file>`.

Deno brings its own packages through `npm:` and `jsr:` imports, so there is no environment to build;
what a Deno notebook needs is Deno. It is found (ENVLENS_DENO, PATH, Deno's installer's folder, the
one envlens acquired before) or, with the user's consent, acquired from PyPI (`envs/tools.py`).

Configuration: Deno reads the `deno.json` / `deno.jsonc` closest to its working folder, walking up;
the kernel's working folder is the notebook's own folder, so the config beside or above the notebook
applies (import maps, compiler options, `nodeModulesDir`). `deno_config` names it for messages.

Deno's kernel listens on TCP only (it rejects an IPC address), and sends a cell's last outputs a
moment after its idle status; the session waits for those (`LATE_OUTPUT_GRACE`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from envlens.envs.tools import DENO_DOWNLOAD, DENO_VERSION, acquired_deno
from envlens.errors import ToolUnavailableError

CONFIG_NAMES = ("deno.json", "deno.jsonc")
# Seconds of iopub quiet after the idle status before a Deno cell counts as finished.
LATE_OUTPUT_GRACE = 0.25


def find_deno() -> Path | None:
    """A Deno to run: $ENVLENS_DENO, else `deno` on PATH, else ~/.deno/bin/deno, else the one
    envlens acquired."""
    explicit = os.environ.get("ENVLENS_DENO")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    found = shutil.which("deno")
    if found:
        return Path(found)
    default = Path.home() / ".deno" / "bin" / "deno"  # where Deno's installer puts it
    if default.exists():
        return default
    return acquired_deno()


def deno_config(notebook: Path | str) -> Path | None:
    """The deno.json / deno.jsonc Deno will read for this notebook (closest folder wins)."""
    folder = Path(notebook).absolute().parent
    for candidate in (folder, *folder.parents):
        for name in CONFIG_NAMES:
            if (candidate / name).is_file():
                return candidate / name
    return None


def download_prompt(path: Path | str) -> str:
    """What the editor asks before acquiring Deno."""
    return (
        f"{Path(path).name} runs on Deno (TypeScript), which is not installed. Download Deno "
        f"{DENO_VERSION} from PyPI ({DENO_DOWNLOAD}) into envlens's tool folder?"
    )


DOWNLOAD_ACTION = "Download Deno"


def deno_kernel_argv(path: Path | str) -> list[str]:
    """The kernel command for a Deno notebook, or ToolUnavailableError naming the notebook and the
    CLI command that acquires Deno (the editor asks before it gets here)."""
    deno = find_deno()
    if deno is None:
        name = Path(path).name
        raise ToolUnavailableError(
            "this notebook runs on Deno (TypeScript), and Deno is not installed",
            path=path,
            hint=f"Run `envlens install {name}` to download Deno {DENO_VERSION} from PyPI into "
            "envlens's tool folder, or install Deno and put `deno` on PATH (or set ENVLENS_DENO)",
        )
    return [str(deno), "jupyter", "--kernel", "--conn", "{connection_file}"]
