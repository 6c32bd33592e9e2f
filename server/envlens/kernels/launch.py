"""From a resolved file to the command that starts its kernel (building the environment if needed).

Shared by `envlens run` and the language server's `envlens/kernel/start`, so both start the same
kernel in the same environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envlens.errors import BuildCancelledError, BuildError, ResolutionError
from envlens.kernels.deno import LATE_OUTPUT_GRACE, deno_kernel_argv
from envlens.kernels.session import KernelSession, python_kernel_argv, python_kernel_env
from envlens.resolve import Resolution
from envlens.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class KernelTarget:
    argv: list[str]
    env: dict[str, str]
    key: str
    runtime: str
    python_version: str | None  # "3.12.1" for Python kernels
    env_dir: Path | None
    requirements: tuple[str, ...]
    transport: Literal["auto", "tcp"] = "auto"  # Deno's kernel takes TCP only
    late_output_grace: float = 0.0  # Deno sends a cell's last outputs after its idle status
    note: str | None = None  # why it is not the declaration's environment (the last good one)

    @property
    def label(self) -> str:
        """How a kernel picker shows it: `Python 3.12.1 (envlens: numpy, pandas)`."""
        if self.runtime == "deno":
            return "Deno (envlens)"
        names = [r.split(";")[0] for r in self.requirements[:3]]
        more = f" +{len(self.requirements) - 3}" if len(self.requirements) > 3 else ""
        deps = ", ".join(names) + more if names else "no dependencies"
        version = f" {self.python_version}" if self.python_version else ""
        return f"Python{version} (envlens: {deps})"

    def session(self, path: Path) -> KernelSession:
        """A session whose working folder is the file's own folder, as Jupyter does."""
        return KernelSession(
            self.argv,
            cwd=path.parent,
            label=str(path),
            env=self.env,
            transport=self.transport,
            late_output_grace=self.late_output_grace,
        )


def kernel_target(
    resolution: Resolution,
    *,
    settings: Settings,
    progress: Progress | None = None,
    cancel: Any = None,
    keep_last_good: bool = False,
) -> KernelTarget:
    """Blocking (it may build the environment with uv): call it from a worker thread in servers.

    `keep_last_good` (the editor): when the declaration's environment fails to build, the kernel
    starts in the file's last version that built, saying so in `note`. A headless run never
    does: it runs what the file declares or fails."""
    if resolution.spec.backend == "deno":
        return KernelTarget(
            argv=deno_kernel_argv(resolution.path),
            env={},
            key=resolution.key,
            runtime="deno",
            python_version=None,
            env_dir=None,
            requirements=(),
            transport="tcp",
            late_output_grace=LATE_OUTPUT_GRACE,
        )
    from envlens.environment import ensure_environment, last_good

    note = None
    try:
        info = ensure_environment(resolution, settings=settings, progress=progress, cancel=cancel)
    except (ResolutionError, BuildError) as exc:
        found = None if isinstance(exc, BuildCancelledError) else last_good(resolution)
        if not keep_last_good or found is None:
            raise
        version, info = found
        note = (
            f"{resolution.path.name}: its declaration did not build ({exc.message.rstrip('.')}); "
            f"the kernel runs in version {version.n}, the last that built. Fix the declaration, "
            "or Revert in the Environment view's History"
        )
    return KernelTarget(
        argv=python_kernel_argv(info.python),
        env=python_kernel_env(info.env_dir),
        key=info.key,
        runtime="python",
        python_version=info.python_version,
        env_dir=info.env_dir,
        requirements=resolution.spec.requirements,
        note=note,
    )
