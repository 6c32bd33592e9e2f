"""Conda declarations (notebook metadata.conda, environment.yml, pixi.toml).

Only PyPI packages (an environment.yml `pip:` section, nothing else)? Then uv builds it like any
other declaration (the store does that). With conda packages a conda-compatible tool is needed:
micromamba, mamba or conda creates the environment (conda's own Python), then uv installs the PyPI
part and ipykernel into it. Without such a tool the build fails with a message saying what to do.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from envlens import paths
from envlens.envs.backend import BuildContext
from envlens.envs.locate import locate
from envlens.envs.record import EnvInfo, clean_stale, ready_record, remove_tree
from envlens.envs.runner import Progress, check_cancel, run
from envlens.envs.uv import Uv
from envlens.envs.uv_backend import UvBackend, finish
from envlens.errors import BuildError
from envlens.resolve import Resolution

CONDA_TOOLS = ("micromamba", "mamba", "conda")


def find_conda_tool() -> Path | None:
    for name in CONDA_TOOLS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def conda_python_spec(requires_python: str | None) -> str:
    """A conda match spec for Python: '==3.12.*' -> 'python=3.12'; '>=3.10' -> 'python>=3.10'."""
    if not requires_python:
        return "python"
    m = re.fullmatch(r"\s*==\s*(\d+(?:\.\d+)*)\.\*\s*", requires_python)
    if m:
        return f"python={m.group(1)}"
    return "python" + requires_python.replace(" ", "")


class CondaBackend:
    """Conda declarations. Conda environments hard-code their prefix, so they are built in place
    (never renamed); without `ready` the folder is still never used. Only PyPI packages (an
    environment.yml `pip:` section, nothing else)? Then uv builds it like any other declaration."""

    def __init__(self, uv_backend: UvBackend) -> None:
        self.uv_backend = uv_backend

    def folder(self, resolution: Resolution) -> Path:
        return paths.env_dir(resolution.key)

    def lock_name(self, resolution: Resolution) -> str:
        return resolution.key

    def reuse(self, resolution: Resolution, start: float) -> EnvInfo | None:
        return self.uv_backend.reuse(resolution, start)

    def build(self, resolution: Resolution, ctx: BuildContext) -> EnvInfo:
        if not resolution.spec.conda_packages:
            return self.uv_backend.build(resolution, ctx)
        final = self.folder(resolution)
        clean_stale(resolution.key, final)
        check_cancel(ctx.cancel)
        try:
            python_version, tool = build(
                resolution, final, uv=ctx.uv.path, progress=ctx.progress, cancel=ctx.cancel
            )
        except BaseException:
            remove_tree(final)
            raise
        record = ready_record(resolution, python_version=python_version, base_python=tool)
        return finish(final, resolution, record, ctx)


def build(
    resolution: Resolution,
    dest: Path,
    *,
    uv: Path,
    progress: Progress,
    cancel: threading.Event | None,
) -> tuple[str, str]:
    """Create the conda environment at `dest`; returns (python version, conda tool)."""
    spec = resolution.spec
    where = locate(resolution, spec.conda_packages[0] if spec.conda_packages else None)
    tool = find_conda_tool()
    if tool is None:
        pixi = (
            " (pixi was found, but envlens builds conda environments with micromamba, mamba or conda)"
            if shutil.which("pixi")
            else ""
        )
        raise BuildError(
            f"{where.name} declares conda packages {', '.join(spec.conda_packages)}; "
            f"no conda, mamba or pixi was found on this machine{pixi}",
            hint="Install micromamba, mamba or conda and try again, or declare these as PyPI "
            "packages (a '# /// script' dependencies list) so uv can build the environment",
            **where.kwargs(),
        )
    progress(f"Creating conda environment with {tool.name}")
    args: list[str | Path] = [tool, "create", "--yes", "--prefix", dest]
    if spec.channels:
        args.append("--override-channels")
        for ch in spec.channels:
            args += ["-c", ch]
    args += [conda_python_spec(spec.requires_python), "ipykernel", *spec.conda_packages]
    result = run(args, cancel=cancel, cwd=dest.parent)
    if not result.ok:
        raise BuildError(
            f"{tool.name} could not create the environment declared in {where.name}: "
            f"{(result.stderr.strip().splitlines() or ['no message'])[-1]}",
            hint="Check the conda package names and channels; Show Logs has the full output",
            log=result.log(),
            **where.kwargs(),
        )
    python = paths.env_python(dest)
    if spec.requirements:
        progress(f"Installing {len(spec.requirements)} PyPI packages...")
        Uv(uv, cancel=cancel, progress=progress).pip_install(
            python, list(spec.requirements), resolution
        )
    version = run(
        [python, "-c", "import platform; print(platform.python_version())"], cancel=cancel
    ).stdout.strip()
    return version, str(tool)
