"""Build a Python environment with uv: exactly what the declaration means to `uv run --script`,
plus ipykernel for the kernel.

1. `uv venv` with the interpreter chosen for requires-python (relocatable: it is built in a temporary
   folder and renamed into place);
2. `uv sync --script` of the declaration (the PEP 723 block itself, `[tool.uv]` and all; from the lock,
   checked by uv, when the file has a fresh one), offline first;
3. ipykernel beside it, constrained to the versions just installed, so adding the kernel never changes
   what the declaration resolved to.
uv's own cache stays the user's: installs hardlink from it, so a warm build takes well under a second.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from envlens import paths
from envlens.envs.interpreters import Interpreter
from envlens.envs.inventory import installed
from envlens.envs.runner import Progress, tool_env
from envlens.envs.uv import Uv, script_workspace
from envlens.errors import BuildError, EnvlensError
from envlens.resolve import Resolution

# Always installed: the kernel is `python -m ipykernel_launcher`.
KERNEL_PACKAGE = "ipykernel"

_cache_lock = threading.Lock()


def install_kernel(uv: Uv, env: Path, resolution: Resolution) -> None:
    """ipykernel into a built environment without changing any version already there."""
    python = paths.env_python(env)
    pins = [f"{d.name}=={d.version}" for d in installed(env)]
    if not pins:
        uv.pip_install(python, [KERNEL_PACKAGE], resolution)
        return
    constraints = env / ".envlens-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    try:
        uv.pip_install(python, [KERNEL_PACKAGE], resolution, constraints=constraints)
    except EnvlensError as exc:
        if isinstance(exc, BuildError) and "cancelled" in exc.message:
            raise
        exc.message = (
            "ipykernel (which the kernel needs) cannot be installed beside the declared packages "
            f"without changing their versions: {exc.message}"
        )
        exc.hint = "Add ipykernel to the declaration, so uv resolves it together with the rest"
        raise
    finally:
        with contextlib.suppress(OSError):
            constraints.unlink()


def build(
    resolution: Resolution,
    dest: Path,
    *,
    uv: Uv,
    interpreter: Interpreter,
    progress: Progress,
    locked: bool,
) -> None:
    """Create the venv at `dest`, sync the declaration into it, then add ipykernel."""
    decl = resolution.declaration
    progress(f"Creating Python {interpreter.short} environment")
    uv.create_venv(interpreter.path, dest, resolution)
    n = len(decl.requirements)
    if locked:
        what = "the locked packages and ipykernel"
    else:
        what = f"{n} package{'s' if n != 1 else ''} and ipykernel" if n else "ipykernel"
    progress(f"Installing {what}...")
    if decl.requirements or decl.uv_settings or locked:
        lock_text = resolution.lock_text if locked else None
        with script_workspace(resolution, lock_text=lock_text) as ws:
            uv.sync_script(ws.script, dest, resolution, locked=locked)
    install_kernel(uv, dest, resolution)


# Background bytecode compiles, by environment folder (kept so they are reaped and can be awaited).
_compiles: dict[str, subprocess.Popen[bytes]] = {}

BYTECODE_MARKER = "envlens-bytecode"

# Compiles one top-level entry of site-packages at a time, and stops once the environment's ready
# record is gone (the environment is being removed), so it never re-creates folders of a removed env.
_COMPILE = """
import compileall, os, sys, pathlib
marker, ready, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
ok = True
for d in dirs:
    for entry in sorted(os.scandir(d), key=lambda e: e.name):
        if not os.path.exists(ready):
            sys.exit(1)
        if entry.is_dir() and not entry.name.endswith((".dist-info", "__pycache__")):
            ok = compileall.compile_dir(entry.path, quiet=1, workers=1) and ok
        elif entry.name.endswith(".py"):
            ok = compileall.compile_file(entry.path, quiet=1) and ok
pathlib.Path(marker).write_text("ok\\n" if ok else "partial\\n")
"""
BYTECODE_PID = "envlens-bytecode.pid"


def compile_bytecode_in_background(env: Path, ready: Path) -> subprocess.Popen[bytes] | None:
    """Write .pyc files for the environment's packages without making anyone wait.

    uv does not compile by default and these machines set PYTHONDONTWRITEBYTECODE, so without this
    every kernel start pays for compiling ipykernel's imports (1.4 s instead of 0.65 s). Runs at low
    priority in its own session, so it outlives a CLI run and never slows the first kernel much.
    """
    dirs = paths.site_packages_dirs(env)
    python = paths.env_python(env)
    if not dirs or not python.exists():
        return None
    nice = [n, "-n", "10"] if (n := shutil.which("nice")) and sys.platform != "win32" else []
    env_vars = tool_env()
    env_vars.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        proc = subprocess.Popen(
            [*nice, str(python), "-c", _COMPILE, str(env / BYTECODE_MARKER), str(ready)]
            + [str(d) for d in dirs],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env_vars,
            start_new_session=True,
        )
    except OSError:
        return None
    with contextlib.suppress(OSError):
        (env / BYTECODE_PID).write_text(f"{proc.pid}\n")
    with _cache_lock:
        for k, p in list(_compiles.items()):
            if p.poll() is not None:
                del _compiles[k]
        _compiles[str(env)] = proc
    return proc


def stop_bytecode(env: Path) -> None:
    """Stop a background compile of `env` (before removing it), whichever process started it."""
    with _cache_lock:
        proc = _compiles.pop(str(env), None)
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    try:
        pid = int((env / BYTECODE_PID).read_text().strip())
        # Only a process that still compiles this environment (pids are reused).
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if str(env / BYTECODE_MARKER).encode() in cmdline:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def wait_for_bytecode(env: Path, timeout: float = 120) -> bool:
    """Wait for this process's background compile of `env` (for tests and benchmarks)."""
    with _cache_lock:
        proc = _compiles.get(str(env))
    if proc is not None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
    return (env / BYTECODE_MARKER).exists()
