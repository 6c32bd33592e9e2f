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
import uuid
from pathlib import Path
from typing import Any

from envlens import paths
from envlens.envs.backend import BuildContext
from envlens.envs.interpreters import Interpreter, find_interpreter
from envlens.envs.inventory import installed
from envlens.envs.locate import locate
from envlens.envs.record import (
    EnvInfo,
    clean_stale,
    info_of,
    ready_record,
    remove_tree,
    reusable,
    write_ready,
)
from envlens.envs.runner import Progress, check_cancel, tool_env
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


class UvBackend:
    """Environments of PEP 723 blocks, nteract metadata, a pyproject.toml's dependencies and of
    nothing declared: built in `.build-<key>-<random>`, renamed into place, then `ready`."""

    def folder(self, resolution: Resolution) -> Path:
        return paths.env_dir(resolution.key)

    def lock_name(self, resolution: Resolution) -> str:
        return resolution.key

    def reuse(self, resolution: Resolution, start: float) -> EnvInfo | None:
        final = self.folder(resolution)
        record = reusable(final, resolution.key)
        if record is None:
            return None
        return info_of(final, resolution.key, record, reused=True, start=start)

    def build(self, resolution: Resolution, ctx: BuildContext) -> EnvInfo:
        key = resolution.key
        final = self.folder(resolution)
        clean_stale(key, final)
        check_cancel(ctx.cancel)
        where = locate(resolution, "requires-python")
        interpreter = find_interpreter(
            resolution.spec.requires_python,
            uv=ctx.uv.path,
            settings=ctx.settings,
            where=where.name,
            **where.kwargs(),
        )
        build_dir = paths.envs_dir() / f".build-{key}-{uuid.uuid4().hex[:8]}"
        try:
            build(
                resolution,
                build_dir,
                uv=ctx.uv,
                interpreter=interpreter,
                progress=ctx.progress,
                locked=ctx.from_lock,
            )
            check_cancel(ctx.cancel)
            os.rename(build_dir, final)
        except BaseException:
            remove_tree(build_dir)
            raise
        record = ready_record(
            resolution, python_version=str(interpreter.version), base_python=str(interpreter.path)
        )
        return finish(final, resolution, record, ctx)


def finish(
    final: Path, resolution: Resolution, record: dict[str, Any], ctx: BuildContext
) -> EnvInfo:
    """Write `ready` (last: from here on the environment is used), then compile bytecode."""
    try:
        write_ready(final, record)
    except BaseException:
        remove_tree(final)
        raise
    ctx.progress("Environment ready; compiling bytecode in the background")
    compile_bytecode_in_background(final, paths.ready_file(final))
    return info_of(final, resolution.key, record, reused=False, start=ctx.start)


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
