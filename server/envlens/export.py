"""Export a file's lock: requirements.txt with hashes, pylock.toml (PEP 751), an Apptainer definition.

All three come from the lock (a missing or out-of-date lock is an error naming the fix), so what is
exported is exactly what `envlens install` builds here. The Apptainer definition rebuilds the
environment on a cluster: it bootstraps uv from PyPI with pip and installs the exported
requirements with `--require-hashes`; ipykernel is locked together with the declaration (the
file's lock kept as the preference, so no locked version moves) so it is hash-checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envlens.envs.uv import Uv, declaration_script, find_uv, script_workspace
from envlens.envs.uv import version as uv_version
from envlens.errors import LockError
from envlens.locking.drift import require_fresh_lock
from envlens.locking.export import uv_export
from envlens.resolve import Resolution
from envlens.settings import Settings

Format = Literal["requirements", "pylock", "apptainer"]
FORMATS: tuple[Format, ...] = ("requirements", "pylock", "apptainer")
KERNEL_PACKAGE = "ipykernel"


def default_output(resolution: Resolution, fmt: Format) -> Path:
    stem = resolution.path.stem
    name = {
        "requirements": f"{stem}.requirements.txt",
        "pylock": f"pylock.{stem}.toml",  # PEP 751: pylock.<name>.toml
        "apptainer": f"{stem}.def",
    }[fmt]
    return resolution.path.with_name(name)


def _header(resolution: Resolution, what: str) -> str:
    from envlens.sources.lockfile import lock_hash

    h = lock_hash(resolution.lock_text or "")
    return f"# {what} of {resolution.path.name}, exported by envlens from its lock ({h})\n"


def export_requirements(resolution: Resolution, settings: Settings | None = None) -> str:
    return _header(resolution, "Pinned requirements with hashes") + uv_export(
        resolution, "requirements.txt", settings=settings
    )


def export_pylock(resolution: Resolution, settings: Settings | None = None) -> str:
    return _header(resolution, "PEP 751 lock") + uv_export(
        resolution, "pylock.toml", settings=settings
    )


def kernel_requirements(resolution: Resolution, settings: Settings | None = None) -> str:
    """The lock's requirements plus ipykernel, all hashed: the declaration and ipykernel are
    locked together, starting from the file's lock (offline first), so its versions stay."""
    from envlens.locking.read import parse_lock
    from envlens.locking.versions import lock_failure
    from envlens.sources import pep723

    lock_text = require_fresh_lock(resolution, settings)
    declared = {canonicalize_name(Requirement(r).name) for r in resolution.declaration.requirements}
    if KERNEL_PACKAGE in declared:
        return uv_export(resolution, settings=settings)
    script = pep723.edit_script_text(
        declaration_script(resolution), resolution.path, add=[KERNEL_PACKAGE]
    )
    uv = Uv.find(settings)
    with script_workspace(resolution, script, lock_text) as ws:
        res = uv.lock_script(ws.script, offline_first=True)
        if not res.ok:
            raise lock_failure(res, resolution, uv.log())
        before = parse_lock(lock_text).versions()
        after = parse_lock(ws.lock.read_text(encoding="utf-8")).versions()
        moved = [n for n, v in before.items() if after.get(n) not in (None, v)]
        if moved:
            raise LockError(
                f"ipykernel cannot be added without changing locked versions of {', '.join(moved)}",
                path=resolution.path,
                hint=f"Add ipykernel to the declaration and run `envlens lock {resolution.path.name}` again",
            )
        return uv.export_script(ws.script, resolution, fmt="requirements.txt")


def _uv_version(settings: Settings | None) -> str | None:
    return uv_version(find_uv(settings))


def _python_version(resolution: Resolution, settings: Settings | None) -> str:
    """The Python minor version the environment uses here (the container's base image)."""
    from envlens.envs.interpreters import find_interpreter

    try:
        return find_interpreter(
            resolution.spec.requires_python, uv=find_uv(settings), settings=settings
        ).short
    except Exception:
        return "3.12"


def export_apptainer(resolution: Resolution, settings: Settings | None = None) -> str:
    reqs = kernel_requirements(resolution, settings)
    python = _python_version(resolution, settings)
    uv_version = _uv_version(settings)
    uv_pin = f"uv=={uv_version}" if uv_version else "uv"
    body = reqs if reqs.endswith("\n") else reqs + "\n"
    if "ENVLENS_REQUIREMENTS" in body:  # cannot happen with pip syntax; keeps the heredoc sound
        raise LockError(
            "the exported requirements contain the heredoc marker", path=resolution.path
        )
    return f"""\
# Apptainer definition for {resolution.path.name}, exported by envlens from its lock.
# Build:  apptainer build {resolution.path.stem}.sif {resolution.path.stem}.def
# Run:    apptainer exec {resolution.path.stem}.sif python {resolution.path.name}
# Kernel: apptainer exec {resolution.path.stem}.sif python -m ipykernel_launcher -f CONNECTION_FILE
Bootstrap: docker
From: python:{python}-slim

%post
    set -eu
    mkdir -p /opt/envlens
    cat > /opt/envlens/requirements.txt <<'ENVLENS_REQUIREMENTS'
{body}ENVLENS_REQUIREMENTS
    # uv from PyPI, then the locked packages exactly: every file's hash is checked.
    python -m pip install --no-cache-dir --disable-pip-version-check "{uv_pin}"
    python -m uv venv /opt/envlens/env --python "$(command -v python)"
    python -m uv pip install --python /opt/envlens/env/bin/python --require-hashes \\
        --no-cache -r /opt/envlens/requirements.txt

%environment
    export VIRTUAL_ENV=/opt/envlens/env
    export PATH=/opt/envlens/env/bin:$PATH

%runscript
    exec /opt/envlens/env/bin/python "$@"

%labels
    envlens.source {resolution.path.name}
"""


def export(resolution: Resolution, fmt: Format, settings: Settings | None = None) -> str:
    if fmt == "requirements":
        return export_requirements(resolution, settings)
    if fmt == "pylock":
        return export_pylock(resolution, settings)
    return export_apptainer(resolution, settings)
