"""When an environment was last used, and whether a process runs in it now (for `envs prune`).

Last use: the modification time of `<state>/used/<key>`, touched each time a file's environment is
asked for (a kernel start, a run, an install). It lives in the state folder beside the histories
(the store holds environments and their locks only); a mark whose environment is gone means
nothing and goes at the next prune.

In use: a process whose command line runs a program of the environment (a kernel is
`<env>/bin/python -m ipykernel_launcher`) or whose VIRTUAL_ENV is it (what a kernel's `!pip` or
`!python` start). Found from /proc, or `ps` where there is no /proc, so it covers every process of
this user: the editor's kernels, a terminal's `envlens run`, a batch run. envlens's own background
bytecode compile does not count (removing an environment stops it). When neither can be read the
answer is "in use": pruning must not guess.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from envlens import paths
from envlens.envs.uv_backend import BYTECODE_MARKER


def used_file(key: str) -> Path:
    return used_dir() / key


def used_dir() -> Path:
    return paths.state_dir() / "used"


def mark_used(key: str, when: float | None = None) -> None:
    target = used_file(key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        if when is not None:
            os.utime(target, (when, when))
    except OSError:
        pass  # a last-use mark only informs pruning: never fail the work for it


def last_used(key: str, fallback: float) -> float:
    """The last use; `fallback` (the environment's creation) when it was never marked."""
    try:
        return max(used_file(key).stat().st_mtime, fallback)
    except OSError:
        return fallback


def forget(key: str) -> None:
    with contextlib.suppress(OSError):
        used_file(key).unlink()


def marked() -> list[str]:
    """The keys with a last-use mark."""
    try:
        return [p.name for p in used_dir().iterdir()]
    except OSError:
        return []


def _proc_entries() -> list[tuple[list[str], str | None]] | None:
    """(argv, VIRTUAL_ENV) of every process we can read, from /proc; None without /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "cmdline").exists():
        return None
    out: list[tuple[list[str], str | None]] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        venv = None
        with contextlib.suppress(OSError):
            for item in (entry / "environ").read_bytes().split(b"\0"):
                if item.startswith(b"VIRTUAL_ENV="):
                    venv = item[len(b"VIRTUAL_ENV=") :].decode(errors="replace")
                    break
        out.append(([a for a in argv if a], venv))
    return out


def _ps_entries() -> list[tuple[list[str], str | None]] | None:
    try:
        text = subprocess.run(
            ["ps", "-A", "-ww", "-o", "args="],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [(line.split(), None) for line in text.splitlines() if line.strip()]


def running_in(env_dirs: list[Path]) -> set[Path] | None:
    """Which of these environments a process runs in now; None when that cannot be told."""
    entries = _proc_entries()
    if entries is None:
        entries = _ps_entries()
    if entries is None:
        return None
    prefixes = {d: str(d).rstrip(os.sep) + os.sep for d in env_dirs}
    found: set[Path] = set()
    for argv, venv in entries:
        if any(a.endswith(os.sep + BYTECODE_MARKER) for a in argv):
            continue  # envlens's own compile of the environment: stopped when it is removed
        for env, prefix in prefixes.items():
            if env in found:
                continue
            if (venv is not None and venv.rstrip(os.sep) == str(env).rstrip(os.sep)) or any(
                a.startswith(prefix) for a in argv
            ):
                found.add(env)
    return found
