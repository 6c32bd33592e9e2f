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
import threading
import time
from pathlib import Path
from typing import Any

from envlens import paths
from envlens.envs import uv_backend
from envlens.envs.interpreters import find_interpreter
from envlens.envs.locate import locate
from envlens.envs.runner import Progress
from envlens.envs.store import EnvInfo, key_lock
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


def ensure_project(
    resolution: Resolution,
    *,
    settings: Settings,
    progress: Progress,
    cancel: threading.Event | None,
    start: float,
) -> EnvInfo:
    spec = resolution.spec
    if not spec.project_dir:
        raise BuildError("the uv project's folder is unknown", path=resolution.path)
    project = Path(spec.project_dir)
    venv = project / ".venv"
    key = spec.key

    def reusable() -> dict[str, Any] | None:
        stamp = _read_stamp(venv)
        if (
            stamp is not None
            and stamp.get("inputs") == inputs_hash(project)
            and paths.env_python(venv).exists()
            and has_ipykernel(venv)
        ):
            return stamp
        return None

    stamp = reusable()
    if stamp is None:
        uv = Uv.find(settings, cancel=cancel, progress=progress)
        paths.envs_dir().mkdir(parents=True, exist_ok=True)
        with key_lock(f"project-{key}", cancel=cancel, progress=progress):
            stamp = reusable()
            if stamp is None:
                (venv / STAMP).unlink(missing_ok=True)
                _sync(resolution, project, uv=uv, settings=settings, progress=progress)
                progress("Installing ipykernel into the project's environment")
                uv_backend.install_kernel(uv, venv, resolution)
                stamp = {
                    "key": key,
                    "inputs": inputs_hash(project),
                    "created": time.time(),
                    "python_version": _python_version(venv),
                }
                (venv / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
                progress("Environment ready; compiling bytecode in the background")
                uv_backend.compile_bytecode_in_background(venv, venv / STAMP)
                return EnvInfo(
                    key=key,
                    env_dir=venv,
                    python=paths.env_python(venv),
                    python_version=str(stamp["python_version"]),
                    reused=False,
                    seconds=time.monotonic() - start,
                    backend="project",
                )
    return EnvInfo(
        key=key,
        env_dir=venv,
        python=paths.env_python(venv),
        python_version=str(stamp.get("python_version", "")),
        reused=True,
        seconds=time.monotonic() - start,
        backend="project",
    )
