"""The one module that runs uv: which binary, offline first, failures as typed errors, progress and
cancellation, and the workspace that hands uv a declaration as uv reads it.

uv is the authority on what a declaration means. envlens never translates a PEP 723 block into
command-line flags: every build, lock, check and export writes the block itself into a script (beside
the declaring file, when the block names relative paths, so they resolve as `uv run --script` resolves
them) and lets uv read it, `[tool.uv]` settings and all.

Offline first: an online call revalidates the index (+0.3-0.7 s here), so each call that may need
the index runs `--offline` first and goes online only when uv says the cache lacked something.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envlens import paths, surface
from envlens.envs.locate import locate
from envlens.envs.runner import Progress, RunResult, run, tool_env
from envlens.errors import (
    BuildError,
    EnvlensError,
    PythonNotFoundError,
    ResolutionError,
    UvNotFoundError,
)
from envlens.resolve import Resolution
from envlens.settings import Settings
from envlens.sources import pep723

# uv's words when an --offline call needed something its cache lacks.
OFFLINE_MISS = re.compile(
    r"network (connectivity )?(is|was) disabled|not found in the cache|needs to be downloaded"
    r"|were unavailable because the network was disabled",
    re.IGNORECASE,
)


def _noop(_: str) -> None:
    pass


# --- the binary ------------------------------------------------------------------------------


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
    """The uv to run: envlens.uvPath, else $ENVLENS_UV, else the one the `uv` package ships, else
    `uv` on PATH. A missing binary raises UvNotFoundError saying how to fix it."""
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


_cache_dirs: dict[str, Path | None] = {}
_cache_lock = threading.Lock()


def cache_dir(uv: Path) -> Path | None:
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
    cache = cache_dir(uv)
    try:
        probe = target if target.exists() else target.parent
        cache_probe = cache if cache is not None and cache.exists() else None
        if cache_probe is not None and os.stat(cache_probe).st_dev == os.stat(probe).st_dev:
            return "hardlink"
    except OSError:
        pass
    return "copy"


def version(uv: Path) -> str | None:
    """uv's version ("0.13.9"), or None when it cannot be read."""
    res = run([uv, "--version"], env=tool_env())
    m = re.search(r"uv (\d+\.\d+\.\d+)", res.stdout)
    return m.group(1) if m else None


# --- calls -----------------------------------------------------------------------------------

# Who else hears each call's result (envs/history.py keeps every build's full log): set around a
# piece of work by `listening`, so the log need not be threaded through the store and its backends.
_listeners: contextvars.ContextVar[tuple[Callable[[RunResult], None], ...]] = (
    contextvars.ContextVar("envlens_uv_listeners", default=())
)


@contextlib.contextmanager
def listening(listener: Callable[[RunResult], None]) -> Iterator[None]:
    """Every uv call made in this context (this thread, or tasks it starts) is also given to
    `listener`."""
    token = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(token)


def _heard(result: RunResult) -> None:
    for listener in _listeners.get():
        listener(result)


@dataclass
class Uv:
    """One job's uv: the binary, its cancellation and progress, and the log of every call made."""

    path: Path
    cancel: threading.Event | None = None
    progress: Progress = _noop
    results: list[RunResult] = field(default_factory=list)

    @classmethod
    def find(
        cls,
        settings: Settings | None = None,
        *,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> Uv:
        return cls(find_uv(settings), cancel=cancel, progress=progress or _noop)

    def log(self) -> str:
        return "".join(r.log() for r in self.results)

    def call(
        self,
        args: Sequence[str | Path],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        offline_first: bool = False,
        downloading: str = "Some packages are not in uv's cache yet; downloading them",
    ) -> RunResult:
        """`uv <args>`: offline first when asked, online only when the cache lacked something.
        Returns the last result (check `.ok`); a cancelled call raises BuildCancelledError."""
        full_env = tool_env(env)
        if offline_first:
            first = run([self.path, *args, "--offline"], cwd=cwd, env=full_env, cancel=self.cancel)
            self.results.append(first)
            _heard(first)
            if first.ok or not OFFLINE_MISS.search(first.stderr):
                return first
            self.progress(downloading)
        res = run([self.path, *args], cwd=cwd, env=full_env, cancel=self.cancel)
        self.results.append(res)
        _heard(res)
        return res

    def require(
        self,
        args: Sequence[str | Path],
        resolution: Resolution,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        offline_first: bool = False,
    ) -> RunResult:
        """`call`, raising the typed error (naming the file and the dependency) when uv fails."""
        res = self.call(args, cwd=cwd, env=env, offline_first=offline_first)
        if not res.ok:
            raise classify_failure(res, resolution, log=self.log())
        return res

    # --- environments ----------------------------------------------------------------------

    def create_venv(self, python: Path, dest: Path, resolution: Resolution) -> None:
        # --relocatable: a venv is built in a temporary folder and renamed into place, so its scripts
        # (ipython, jupyter) must not hard-code the temporary path.
        self.require(
            [
                "venv",
                "--python",
                python,
                "--relocatable",
                "--no-project",
                "--no-python-downloads",
                "--quiet",
                dest,
            ],
            resolution,
            cwd=dest.parent,
        )

    def sync_script(
        self, script: Path, venv: Path, resolution: Resolution, *, locked: bool
    ) -> None:
        """Make `venv` exactly what the script declares (`uv sync --script`), or exactly its lock
        (`<script>.lock`) when `locked`. `--frozen`, not `--locked`: the caller has established
        that the lock belongs to the declaration (lock.drift, with `uv lock --check` where only uv
        can tell), and for a block without requires-python uv's check would compare the lock with
        the version of whichever Python runs the sync, not with the declaration."""
        args: list[str | Path] = [
            "sync",
            "--script",
            script,
            "--active",
            "--no-python-downloads",
            "--link-mode",
            link_mode(self.path, venv),
        ]
        if locked:
            args.append("--frozen")
        self.require(
            args,
            resolution,
            cwd=neutral_dir(),
            env={"VIRTUAL_ENV": str(venv)},
            offline_first=True,
        )

    def pip_install(
        self,
        python: Path,
        requirements: Sequence[str],
        resolution: Resolution,
        *,
        constraints: Path | None = None,
    ) -> None:
        """`uv pip install` into the environment of `python` (offline first)."""
        args: list[str | Path] = [
            "pip",
            "install",
            "--python",
            python,
            "--link-mode",
            link_mode(self.path, python.parent),
            "--no-python-downloads",
        ]
        if constraints is not None:
            args += ["--constraint", constraints]
        self.require([*args, *requirements], resolution, cwd=neutral_dir(), offline_first=True)

    # --- locks -----------------------------------------------------------------------------

    def lock_script(
        self,
        script: Path,
        *,
        python: Path | None = None,
        upgrade: bool = False,
        exclude_newer: str | None = None,
        offline_first: bool = True,
    ) -> RunResult:
        """`uv lock --script`: writes `<script>.lock`. Returns the result; the caller classifies."""
        args: list[str | Path] = ["lock", "--script", script, "--no-python-downloads"]
        if python is not None:
            args += ["--python", python]  # saves uv's own interpreter discovery (~0.4 s here)
        if upgrade:
            args.append("--upgrade")
        if exclude_newer:
            args += ["--exclude-newer", exclude_newer]
        return self.call(args, cwd=script.parent, offline_first=offline_first)

    def lock_is_current(self, script: Path, *, python: Path | None = None) -> bool:
        """`uv lock --script --check --offline`: does `<script>.lock` still belong to the script?"""
        args: list[str | Path] = ["lock", "--script", script, "--check", "--offline"]
        args.append("--no-python-downloads")
        if python is not None:
            args += ["--python", python]
        return self.call(args, cwd=script.parent).ok

    def export_script(
        self, script: Path, resolution: Resolution, *, fmt: str, hashes: bool = True
    ) -> str:
        """uv's export of `<script>.lock` as it is (`--frozen`), without uv's header."""
        args: list[str | Path] = [
            "export",
            "--script",
            script,
            "--frozen",
            "--no-header",
            "--format",
            fmt,
            "--no-python-downloads",
        ]
        if not hashes:
            args.append("--no-hashes")
        return self.require(args, resolution, cwd=script.parent).stdout


# --- handing uv the declaration ------------------------------------------------------------


def neutral_dir() -> Path:
    """A working folder outside any user project, so no pyproject.toml or uv.toml around the
    user's file changes what uv makes of the declaration (uv's user-level config still applies, as
    it does for `uv run --script`)."""
    d = paths.cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass(frozen=True)
class ScriptWorkspace:
    script: Path  # a script holding the declaration, where uv resolves its relative paths right
    lock: Path  # `<script>.lock`: the file's lock copied in (or where uv writes a new one)


def declaration_script(resolution: Resolution) -> str:
    """The script uv reads for this file: the PEP 723 block itself, or the declaration (nteract
    metadata, a pyproject's dependencies, nothing) written as one."""
    return pep723.uv_script(resolution.declaration)


@contextlib.contextmanager
def script_workspace(
    resolution: Resolution, script_text: str | None = None, lock_text: str | None = None
) -> Iterator[ScriptWorkspace]:
    """A temporary script of the declaration (and its lock) for uv to read.

    It sits beside the declaring file when the block names relative paths (sources, find-links,
    indexes), so they resolve as `uv run --script` resolves them; elsewhere it sits in envlens's own
    cache folder and the user's folder sees nothing.
    """
    if script_text is None:
        script_text = declaration_script(resolution)
    decl = resolution.declaration
    parent = Path(decl.anchor) if decl.anchor else None
    tmpdir: str | None = None
    fd: int | None = None
    name = ""
    if parent is not None:
        with contextlib.suppress(OSError):
            fd, name = tempfile.mkstemp(prefix=".envlens-", suffix=".py", dir=parent)
    if fd is None:
        # No relative paths, or a read-only folder (uv then names the path it could not find).
        tmpdir = tempfile.mkdtemp(prefix="envlens-script-", dir=neutral_dir())
        fd, name = tempfile.mkstemp(prefix="declaration-", suffix=".py", dir=tmpdir)
    script = Path(name)
    lock = script.with_name(script.name + ".lock")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(script_text)
        if lock_text is not None:
            lock.write_text(lock_text, encoding="utf-8")
        yield ScriptWorkspace(script, lock)
    finally:
        for p in (script, lock):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


# --- failures as typed errors ----------------------------------------------------------------


def cause(stderr: str) -> str:
    """uv's explanation, on one line: the `cause:` paragraph (or the error line), with its hint."""
    lines = stderr.splitlines()
    out: list[str] = []
    hints: list[str] = []
    capturing = False
    in_hint = False
    for line in lines:
        s = line.strip()
        if s.startswith(("cause:", "╰─▶", "Caused by:")):
            capturing, in_hint = True, False
            s = s.split(":", 1)[1] if s.startswith(("cause:", "Caused by:")) else s[len("╰─▶") :]
        elif s.startswith("hint:"):
            capturing, in_hint = False, True
            s = s[len("hint:") :]
        if capturing and s:
            out.append(s.strip())
        elif in_hint and s:
            hints.append(s.strip())
    if not out:
        out = [
            s.strip().removeprefix("error:").strip()
            for s in lines
            if s.strip().startswith("error:")
        ]
    return " ".join(" ".join(out).split())


def uv_hint(stderr: str) -> str | None:
    """uv's own `hint:` paragraph, on one line (it often says exactly what to change)."""
    m = re.search(r"^hint: (.*(?:\n(?!\S).*)*)", stderr, re.MULTILINE)
    if m is None:
        return None
    text = " ".join(m.group(1).split())
    # Offline-cache hints are about our first attempt, not the user's declaration.
    return None if "network was disabled" in text else text


_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"


def classify_failure(
    result: RunResult, resolution: Resolution, *, log: str | None = None
) -> EnvlensError:
    """A typed error for a failed uv call, naming the dependency and the file."""
    err = result.stderr
    log = log if log is not None else result.log()
    why = cause(err)
    hint = uv_hint(err)
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
    if "requires-python" in (hint or "") or re.search(r"depends on Python\s*[<>=!~]", err):
        return ResolutionError(
            f"The declared dependencies do not support every Python the declaration allows: {why}",
            hint=hint
            or f"Narrow requires-python in {where0.name} (for example '>=3.12') and try again",
            log=log,
            **locate(resolution, "requires-python").kwargs(),
        )
    if m := re.search(r"only " + _NAME + r"\s*[<>=!~]", err):
        name = m.group(1)
        where = locate(resolution, name)
        return ResolutionError(
            f"No version of '{name}' satisfies the declaration: {why}",
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
            f"uv could not use the chosen Python: {why}",
            available=[],
            log=log,
            hint="Check that the Python interpreter still exists, or choose another requires-python",
            **where0.kwargs(),
        )
    if "No solution found" in err or "unsatisfiable" in err:
        return ResolutionError(
            f"The declared dependencies cannot be installed together: {why}",
            hint=hint or f"Relax or change the conflicting versions in {where0.name}",
            log=log,
            **where0.kwargs(),
        )
    if m := re.search(r"Failed to (build|download|prepare distributions?)[^`]*`" + _NAME, err):
        name = m.group(2)
        where = locate(resolution, name)
        return BuildError(
            f"uv failed to {m.group(1)} '{name}': {why}",
            hint=surface.sentence(surface.action("full-log"))
            + "; a package without a wheel for this platform needs its "
            "build tools, or another version with a wheel",
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
        f"uv failed (exit code {result.returncode}): {why or 'no message'}",
        hint=hint or surface.sentence(surface.action("full-log")),
        log=log,
        **where0.kwargs(),
    )
