"""Run a tool (uv, conda) as a subprocess that a `threading.Event` can cancel.

The tool runs in its own process group, so cancelling kills it and anything it started (build
backends) at once. Output is collected for the error message and the "Show Logs" log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envlens.errors import BuildCancelledError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def log(self) -> str:
        return f"$ {' '.join(self.args)}\n{self.stdout}{self.stderr}(exit code {self.returncode})\n"


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a tool: ours, minus what would make uv act on the wrong environment."""
    env = dict(os.environ)
    # A venv we run inside (the sidecar's own) must never be what uv installs into.
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME"):
        env.pop(name, None)
    env.setdefault("UV_NO_PROGRESS", "1")  # progress bars are noise in a log
    env["NO_COLOR"] = "1"
    if extra:
        env.update(extra)
    return env


def run(
    args: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run to completion; if `cancel` is set meanwhile, kill the process group and raise."""
    argv = tuple(str(a) for a in args)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else tool_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    out = err = ""
    while True:
        try:
            out, err = proc.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                _kill_group(proc)
                proc.communicate()
                raise BuildCancelledError(
                    "the build was cancelled", log=f"$ {' '.join(argv)}\n"
                ) from None
        except BaseException:
            _kill_group(proc)  # KeyboardInterrupt or the like: never leave the tool running
            proc.communicate()
            raise
    return RunResult(argv, proc.returncode, out or "", err or "", time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise BuildCancelledError("the build was cancelled")
