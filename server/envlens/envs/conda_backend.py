"""Conda environments (notebook metadata.conda, environment.yml, pixi.toml), built in process.

1. The conda packages are solved with py-rattler against the declared channels for this platform
   (or taken exactly from the file's conda lock, when it is fresh), then installed into the
   environment folder. No conda, mamba or pixi is needed.
2. Python: where the solve brings one (declared, or a dependency), it is the conda package's; else
   the environment gets a machine interpreter first (a uv venv in the same folder), as PyPI
   environments do, and the conda packages are linked beside it.
3. The PyPI part (environment.yml `pip:`, pixi `[pypi-dependencies]`) and ipykernel go in with uv,
   into that prefix.

Declarations without conda packages (only `python` and `pip:`) and no conda lock are built by the
uv backend like any other declaration.
"""

from __future__ import annotations

import threading
from pathlib import Path

from envlens import paths, surface
from envlens.envs import conda_lock, conda_rattler
from envlens.envs.backend import BuildContext
from envlens.envs.interpreters import find_interpreter
from envlens.envs.locate import locate
from envlens.envs.record import EnvInfo, clean_stale, ready_record, remove_tree
from envlens.envs.runner import Progress, check_cancel, run
from envlens.envs.uv import Uv
from envlens.envs.uv_backend import KERNEL_PACKAGE, UvBackend, finish
from envlens.errors import BuildError
from envlens.resolve import Resolution
from envlens.settings import Settings


class CondaBackend:
    """Conda declarations. Conda packages hard-code their prefix, so a conda environment is built
    in place (never renamed); without `ready` the folder is still never used, and a failed build
    removes it."""

    def __init__(self, uv_backend: UvBackend) -> None:
        self.uv_backend = uv_backend

    def folder(self, resolution: Resolution) -> Path:
        return paths.env_dir(resolution.key)

    def lock_name(self, resolution: Resolution) -> str:
        return resolution.key

    def reuse(self, resolution: Resolution, start: float) -> EnvInfo | None:
        return self.uv_backend.reuse(resolution, start)

    def build(self, resolution: Resolution, ctx: BuildContext) -> EnvInfo:
        if not resolution.spec.conda_packages and not ctx.from_lock:
            return self.uv_backend.build(resolution, ctx)
        final = self.folder(resolution)
        clean_stale(resolution.key, final)
        check_cancel(ctx.cancel)
        try:
            python_version, base_python = build(
                resolution,
                final,
                uv=ctx.uv,
                settings=ctx.settings,
                progress=ctx.progress,
                cancel=ctx.cancel,
                from_lock=ctx.from_lock,
            )
        except BaseException:
            remove_tree(final)
            raise
        record = ready_record(resolution, python_version=python_version, base_python=base_python)
        return finish(final, resolution, record, ctx)


def build(
    resolution: Resolution,
    dest: Path,
    *,
    uv: Uv,
    settings: Settings,
    progress: Progress,
    cancel: threading.Event | None,
    from_lock: bool = False,
) -> tuple[str, str]:
    """Create the conda environment at `dest`; returns (Python version, where Python came from)."""
    spec = resolution.spec
    locked = conda_lock.locked_install(resolution) if from_lock else None
    if locked is not None:
        records, pip_reqs = locked.records, locked.pypi_requirements
        progress(f"Installing {len(records)} conda packages exactly as locked")
    else:
        n = len(spec.conda_packages)
        progress(f"Solving {n} conda package{'s' if n != 1 else ''} with rattler")
        records = conda_rattler.solve(resolution, cancel=cancel)
        pip_reqs = list(spec.requirements)
    conda_python = any(r.name.normalized == "python" for r in records)
    if conda_python:
        base = "conda package python"
    else:
        where = locate(resolution, "requires-python")
        interpreter = find_interpreter(
            spec.requires_python, uv=uv.path, settings=settings, where=where.name, **where.kwargs()
        )
        progress(f"Creating Python {interpreter.short} environment (no conda Python declared)")
        uv.create_venv(interpreter.path, dest, resolution)
        base = str(interpreter.path)
    progress(f"Installing {len(records)} conda packages")
    conda_rattler.install(records, dest, resolution=resolution, progress=progress, cancel=cancel)
    python = paths.env_python(dest)
    if not python.exists():
        raise BuildError(
            "the conda package 'python' was installed but has no bin/python",
            hint="Declare another Python version, or check the channel's python package",
            **locate(resolution, "python").kwargs(),
        )
    n = len(pip_reqs)
    progress(
        f"Installing {n} PyPI package{'s' if n != 1 else ''} and ipykernel with uv"
        if n
        else "Installing ipykernel with uv"
    )
    uv.pip_install(python, [*pip_reqs, KERNEL_PACKAGE], resolution)
    result = run([python, "-c", "import platform; print(platform.python_version())"], cancel=cancel)
    if not result.ok:
        raise BuildError(
            f"the environment's Python does not run: {result.stderr.strip() or 'no message'}",
            hint=surface.sentence(surface.action("full-log")),
            log=result.log(),
            **locate(resolution, None).kwargs(),
        )
    return result.stdout.strip(), base
