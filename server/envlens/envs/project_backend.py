"""A uv project (pyproject.toml with [tool.uv] or a uv.lock): its own `.venv`, kept by `uv sync`.

ipykernel is then added with `uv pip install --python .venv/bin/python ipykernel`, so the project's
pyproject.toml and uv.lock are never touched for it. (`uv sync` is exact: a later sync run by the user
removes ipykernel again; envlens notices and puts it back before the next kernel start.)

`.venv/envlens-ready.json` records what the environment was synced from (a hash of pyproject.toml,
uv.lock and .python-version): when they are unchanged and ipykernel is there, it is reused with no
uv call.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from envlens import paths
from envlens.envs import uv_backend
from envlens.envs.backend import BuildContext
from envlens.envs.interpreters import find_interpreter
from envlens.envs.locate import locate
from envlens.envs.record import EnvInfo
from envlens.envs.runner import Progress
from envlens.envs.uv import Uv
from envlens.errors import BuildError
from envlens.resolve import Resolution
from envlens.settings import Settings

STAMP = "envlens-ready.json"
INPUTS = ("pyproject.toml", "uv.lock", ".python-version")


def inputs_hash(project: Path) -> str:
    h = hashlib.sha256()
    for name in INPUTS:
        p = project / name
        h.update(name.encode() + b"\0")
        h.update(p.read_bytes() if p.is_file() else b"<none>")
        h.update(b"\0")
    return h.hexdigest()


def has_ipykernel(venv: Path) -> bool:
    return any(
        (sp / "ipykernel" / "__init__.py").is_file() for sp in paths.site_packages_dirs(venv)
    )


def _python_version(venv: Path) -> str:
    try:
        for line in (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines():
            k, _, v = line.partition("=")
            if k.strip() in ("version_info", "version"):
                return v.strip()
    except OSError:
        pass
    return ""


def _read_stamp(venv: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((venv / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sync(
    resolution: Resolution,
    project: Path,
    *,
    uv: Uv,
    settings: Settings,
    progress: Progress,
) -> None:
    venv = project / ".venv"
    args: list[str | Path] = ["sync", "--project", project, "--no-python-downloads"]
    if not paths.env_python(venv).exists() and not (project / ".python-version").is_file():
        # No environment yet: pick an interpreter that exists here (uv could otherwise try a download).
        where = locate(resolution, "requires-python")
        interp = find_interpreter(
            resolution.spec.requires_python,
            uv=uv.path,
            settings=settings,
            where=where.name,
            **where.kwargs(),
        )
        args += ["--python", interp.path]
        progress(f"Creating the project's Python {interp.short} environment with uv sync")
    else:
        progress("Syncing the project's environment with uv sync")
    # In the project's folder: its own pyproject.toml and uv.toml are the declaration here.
    uv.require(args, resolution, cwd=project, offline_first=True)


class ProjectBackend:
    """A uv project's own `.venv`, kept by `uv sync` in the project's folder."""

    def folder(self, resolution: Resolution) -> Path:
        return _project(resolution) / ".venv"

    def lock_name(self, resolution: Resolution) -> str:
        return f"project-{resolution.key}"

    def reuse(self, resolution: Resolution, start: float) -> EnvInfo | None:
        project = _project(resolution)
        venv = project / ".venv"
        stamp = _read_stamp(venv)
        if (
            stamp is None
            or stamp.get("inputs") != inputs_hash(project)
            or not paths.env_python(venv).exists()
            or not has_ipykernel(venv)
        ):
            return None
        return _info(resolution, stamp, reused=True, start=start)

    def build(self, resolution: Resolution, ctx: BuildContext) -> EnvInfo:
        project = _project(resolution)
        venv = project / ".venv"
        (venv / STAMP).unlink(missing_ok=True)
        _sync(resolution, project, uv=ctx.uv, settings=ctx.settings, progress=ctx.progress)
        ctx.progress("Installing ipykernel into the project's environment")
        uv_backend.install_kernel(ctx.uv, venv, resolution)
        stamp = {
            "key": resolution.key,
            "inputs": inputs_hash(project),
            "created": time.time(),
            "python_version": _python_version(venv),
        }
        (venv / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        ctx.progress("Environment ready; compiling bytecode in the background")
        uv_backend.compile_bytecode_in_background(venv, venv / STAMP)
        return _info(resolution, stamp, reused=False, start=ctx.start)


def _project(resolution: Resolution) -> Path:
    if not resolution.spec.project_dir:
        raise BuildError("the uv project's folder is unknown", path=resolution.path)
    return Path(resolution.spec.project_dir)


def _info(resolution: Resolution, stamp: dict[str, Any], *, reused: bool, start: float) -> EnvInfo:
    venv = _project(resolution) / ".venv"
    return EnvInfo(
        key=resolution.key,
        env_dir=venv,
        python=paths.env_python(venv),
        python_version=str(stamp.get("python_version", "")),
        reused=reused,
        seconds=time.monotonic() - start,
        backend="project",
    )
