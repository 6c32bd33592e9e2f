"""Build a Python environment with uv: `uv venv`, then `uv pip install` (offline first).

uv's own cache stays the user's: installs hardlink from it, so a warm build takes well under a
second. An install first runs `--offline` (an online call revalidates the index, +0.3-0.7 s here) and
goes online only when the offline attempt failed because the cache lacks something. uv's stderr is
turned into typed errors that name the dependency and the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from envlens import paths, surface
from envlens.envs.interpreters import Interpreter
from envlens.envs.locate import locate
from envlens.envs.runner import Progress, RunResult, run, tool_env
from envlens.errors import BuildError, EnvlensError, PythonNotFoundError, ResolutionError
from envlens.resolve import Resolution
from envlens.spec import EnvSpec

# Always installed: the kernel is `python -m ipykernel_launcher`.
KERNEL_PACKAGE = "ipykernel"

# uv's hint when an --offline run needed something the cache lacks.
_OFFLINE_MISS = re.compile(
    r"network (connectivity )?(is|was) disabled|not found in the cache|needs to be downloaded",
    re.IGNORECASE,
)

_cache_dirs: dict[str, Path | None] = {}
_cache_lock = threading.Lock()


def uv_cache_dir(uv: Path) -> Path | None:
    """uv's cache folder (asked once per process: it costs a subprocess)."""
    with _cache_lock:
        if str(uv) in _cache_dirs:
            return _cache_dirs[str(uv)]
    try:
        out = subprocess.run(
            [str(uv), "cache", "dir"],
            capture_output=True,
            text=True,
            env=tool_env(),
            timeout=30,
            check=False,
        ).stdout.strip()
        found: Path | None = Path(out) if out else None
    except (OSError, subprocess.TimeoutExpired):
        found = None
    with _cache_lock:
        _cache_dirs[str(uv)] = found
    return found


def link_mode(uv: Path, target: Path) -> str:
    """`hardlink` when uv's cache and the environment share a filesystem (fast), else `copy`."""
    cache = uv_cache_dir(uv)
    try:
        probe = target if target.exists() else target.parent
        cache_probe = cache if cache is not None and cache.exists() else None
        if cache_probe is not None and os.stat(cache_probe).st_dev == os.stat(probe).st_dev:
            return "hardlink"
    except OSError:
        pass
    return "copy"


def index_args(spec: EnvSpec) -> list[str]:
    args: list[str] = []
    if spec.index_url:
        args += ["--index-url", spec.index_url]
    for url in spec.extra_index_urls:
        args += ["--extra-index-url", url]
    return args


def create_venv(
    uv: Path,
    interpreter: Interpreter,
    dest: Path,
    *,
    cancel: threading.Event | None,
    resolution: Resolution,
) -> RunResult:
    # --relocatable: the venv is built in a temporary folder and renamed into place, so its scripts
    # (ipython, jupyter) must not hard-code the temporary path.
    result = run(
        [
            uv,
            "venv",
            "--python",
            interpreter.path,
            "--relocatable",
            "--no-project",
            "--no-python-downloads",
            "--quiet",
            dest,
        ],
        cancel=cancel,
        cwd=dest.parent,
    )
    if not result.ok:
        raise classify_failure(result, resolution)
    return result


@dataclass
class InstallOutcome:
    results: list[RunResult]
    went_online: bool


def pip_install(
    uv: Path,
    python: Path,
    requirements: list[str],
    *,
    spec: EnvSpec,
    resolution: Resolution,
    cancel: threading.Event | None,
    progress: Progress,
    extra_args: list[str] | None = None,
) -> InstallOutcome:
    """`uv pip install` offline first, online only when the cache lacked something."""
    base: list[str | Path] = [
        uv,
        "pip",
        "install",
        "--python",
        python,
        "--link-mode",
        link_mode(uv, python.parent),
        "--no-python-downloads",
        *index_args(spec),
        *(extra_args or []),
        *requirements,
    ]
    cwd = python.parent.parent.parent  # never inside a user's project (its config would apply)
    first = run([*base, "--offline"], cancel=cancel, cwd=cwd)
    if first.ok:
        return InstallOutcome([first], went_online=False)
    if not _OFFLINE_MISS.search(first.stderr):
        raise classify_failure(first, resolution)
    progress("Some packages are not in uv's cache yet; downloading them")
    second = run(base, cancel=cancel, cwd=cwd)
    if not second.ok:
        raise classify_failure(second, resolution, earlier=[first])
    return InstallOutcome([first, second], went_online=True)


def _cause(stderr: str) -> str:
    """uv's explanation, on one line: the `cause:` paragraph (or the error line)."""
    lines = stderr.splitlines()
    out: list[str] = []
    capturing = False
    for line in lines:
        s = line.strip()
        if s.startswith(("cause:", "╰─▶", "Caused by:")):
            capturing = True
            s = s.split(":", 1)[1] if s.startswith(("cause:", "Caused by:")) else s[len("╰─▶") :]
        elif s.startswith("hint:"):
            capturing = False
            continue
        if capturing and s:
            out.append(s.strip())
    if not out:
        out = [
            s.strip().removeprefix("error:").strip()
            for s in lines
            if s.strip().startswith("error:")
        ]
    return " ".join(" ".join(out).split())


_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"


def classify_failure(
    result: RunResult, resolution: Resolution, *, earlier: list[RunResult] | None = None
) -> EnvlensError:
    """A typed error for a failed uv call, naming the dependency and the file."""
    err = result.stderr
    log = "".join(r.log() for r in [*(earlier or []), result])
    cause = _cause(err)
    where0 = locate(resolution, None)
    if m := re.search(
        _NAME + r" was not found in the (package registry|provided package locations|cache)", err
    ):
        name = m.group(1)
        where = locate(resolution, name)
        return ResolutionError(
            f"No version of '{name}' is available on the package index",
            hint=f"Check the spelling in {where.name}"
            + ("" if name != "ipykernel" else "; envlens needs ipykernel for the kernel"),
            log=log,
            **where.kwargs(),
        )
    if m := re.search(r"there is no version of " + _NAME + r"\s*([<>=!~][^\s,]*)", err):
        name, constraint = m.group(1), m.group(2)
        where = locate(resolution, name)
        return ResolutionError(
            f"No version of '{name}' matching '{constraint}' is available on the package index",
            hint=f"Change the version of {name} in {where.name}",
            log=log,
            **where.kwargs(),
        )
    if m := re.search(r"only " + _NAME + r"\s*[<>=!~]", err):
        name = m.group(1)
        where = locate(resolution, name)
        return ResolutionError(
            f"No version of '{name}' satisfies the declaration: {cause}",
            hint=f"Change the version of {name} in {where.name}",
            log=log,
            **where.kwargs(),
        )
    if (
        re.search(
            r"No (interpreter|Python) found|No Python at|python.*not found", err, re.IGNORECASE
        )
        and "No solution found" not in err
    ):
        return PythonNotFoundError(
            f"uv could not use the chosen Python: {cause}",
            available=[],
            log=log,
            hint="Check that the Python interpreter still exists, or choose another requires-python",
            **where0.kwargs(),
        )
    if "No solution found" in err or "unsatisfiable" in err:
        return ResolutionError(
            f"The declared dependencies cannot be installed together: {cause}",
            hint=f"Relax or change the conflicting versions in {where0.name}",
            log=log,
            **where0.kwargs(),
        )
    if m := re.search(r"Failed to (build|download|prepare distributions?)[^`]*`" + _NAME, err):
        name = m.group(2)
        where = locate(resolution, name)
        return BuildError(
            f"uv failed to {m.group(1)} '{name}': {cause}",
            hint=surface.sentence(surface.action("full-log"))
            + "; a package without a wheel for this platform needs its build tools, or another "
            "version with a wheel",
            log=log,
            **where.kwargs(),
        )
    if result.returncode < 0:
        return BuildError(
            f"uv was killed by signal {-result.returncode}",
            log=log,
            hint="Try again; " + surface.action("full-log"),
            **where0.kwargs(),
        )
    return BuildError(
        f"uv failed (exit code {result.returncode}): {cause or 'no message'}",
        hint=surface.sentence(surface.action("full-log")),
        log=log,
        **where0.kwargs(),
    )


def build(
    resolution: Resolution,
    dest: Path,
    *,
    uv: Path,
    interpreter: Interpreter,
    progress: Progress,
    cancel: threading.Event | None,
    requirements: list[str] | None = None,
) -> list[RunResult]:
    """Create the venv at `dest` and install the declaration and ipykernel into it."""
    spec = resolution.spec
    if requirements is None and spec.lock_hash:
        from envlens.envs.from_lock import lock_install_args  # a fresh lock: install it exactly

        requirements = lock_install_args(resolution, uv=uv)
    reqs = list(spec.requirements if requirements is None else requirements)
    progress(f"Creating Python {interpreter.short} environment")
    results = [create_venv(uv, interpreter, dest, cancel=cancel, resolution=resolution)]
    n = len(reqs)
    if "-r" in reqs:  # a requirements file exported from the lock
        what = "the locked packages and ipykernel"
    else:
        what = f"{n} package{'s' if n != 1 else ''} and ipykernel" if n else "ipykernel"
    progress(f"Installing {what}...")
    outcome = pip_install(
        uv,
        paths.env_python(dest),
        [*reqs, KERNEL_PACKAGE],
        spec=spec,
        resolution=resolution,
        cancel=cancel,
        progress=progress,
    )
    return results + outcome.results


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


def site_packages_dirs(env: Path) -> list[Path]:
    if os.name == "nt":
        return [p for p in [env / "Lib" / "site-packages"] if p.is_dir()]
    return sorted(p for p in (env / "lib").glob("python*/site-packages") if p.is_dir())


def compile_bytecode_in_background(env: Path, ready: Path) -> subprocess.Popen[bytes] | None:
    """Write .pyc files for the environment's packages without making anyone wait.

    uv does not compile by default and these machines set PYTHONDONTWRITEBYTECODE, so without this
    every kernel start pays for compiling ipykernel's imports (1.4 s instead of 0.65 s). Runs at low
    priority in its own session, so it outlives a CLI run and never slows the first kernel much.
    """
    dirs = site_packages_dirs(env)
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
