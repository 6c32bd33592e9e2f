"""Export a file's lock: requirements.txt with hashes, pylock.toml (PEP 751), an Apptainer definition.

All three come from the lock (a missing or out-of-date lock is an error naming the fix), so what is
exported is exactly what `envlens install` builds here. The Apptainer definition makes an image that
runs the notebook: the notebook goes in with `%files`, `%post` bootstraps uv from PyPI with pip and
installs the exported requirements with `--require-hashes`, and the runscript executes the notebook
headless with a small runner (data/apptainer_run.py, on nbclient) and writes the executed notebook.
ipykernel and nbclient (and jupytext for a percent script) are locked together with the declaration
(the file's lock kept as the preference, so no locked version moves), so they are hash-checked too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envlens import surface
from envlens.envs.uv import Uv, declaration_script, find_uv, script_workspace
from envlens.envs.uv import version as uv_version
from envlens.errors import BadInputError, LockError
from envlens.locking.drift import require_fresh_lock
from envlens.locking.export import uv_export
from envlens.resolve import Resolution
from envlens.settings import Settings

Format = Literal["requirements", "pylock", "apptainer"]
FORMATS: tuple[Format, ...] = ("requirements", "pylock", "apptainer")
KERNEL_PACKAGE = "ipykernel"
RUNNER_PACKAGES = ("ipykernel", "nbclient")


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


def runner_packages(resolution: Resolution) -> list[str]:
    """What the image needs besides the declaration to run the file headless: a kernel, nbclient
    (the Jupyter project's notebook executor), and jupytext to read a percent script."""
    return [*RUNNER_PACKAGES, "jupytext"] if resolution.path.suffix == ".py" else [*RUNNER_PACKAGES]


def kernel_requirements(
    resolution: Resolution,
    settings: Settings | None = None,
    packages: list[str] | None = None,
) -> str:
    """The lock's requirements plus `packages` (default: ipykernel), all hashed: the declaration and
    those are locked together, starting from the file's lock (offline first), so its versions stay."""
    from envlens.locking.read import parse_lock
    from envlens.locking.versions import lock_failure
    from envlens.sources import pep723

    lock_text = require_fresh_lock(resolution, settings)
    declared = {canonicalize_name(Requirement(r).name) for r in resolution.declaration.requirements}
    missing = [p for p in packages or [KERNEL_PACKAGE] if canonicalize_name(p) not in declared]
    if not missing:
        return uv_export(resolution, settings=settings)
    script = pep723.edit_script_text(declaration_script(resolution), resolution.path, add=missing)
    uv = Uv.find(settings)
    with script_workspace(resolution, script, lock_text) as ws:
        res = uv.lock_script(ws.script, offline_first=True)
        if not res.ok:
            raise lock_failure(res, resolution, uv.log())
        before = parse_lock(lock_text).versions()
        after = parse_lock(ws.lock.read_text(encoding="utf-8")).versions()
        moved = [n for n, v in before.items() if after.get(n) not in (None, v)]
        if moved:
            name = resolution.path.name
            raise LockError(
                f"{', '.join(missing)} cannot be added without changing the locked versions of "
                f"{', '.join(moved)}",
                path=resolution.path,
                hint=surface.words(
                    f"Declare them (`envlens add {name} {' '.join(missing)}`), then run "
                    f"`envlens lock {name}` and export again",
                    f"Add {' and '.join(missing)} to the declaration, run Lock Versions and "
                    "export again",
                ),
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


RUNNER = Path(__file__).parent / "data" / "apptainer_run.py"
_HEREDOC = ("ENVLENS_REQUIREMENTS", "ENVLENS_RUNNER")


def apptainer_definition(
    resolution: Resolution,
    requirements: str,
    *,
    python: str,
    uv_version: str | None,
    definition: Path,
) -> str:
    """The definition text: the file in `%files` (by its path from the definition's folder, where
    `apptainer build` runs), the locked requirements and the runner in `%post`, and a runscript that
    runs the file headless in the image's locked environment and writes the executed notebook."""
    from envlens.script_quote import apptainer_path, shell_word

    path = resolution.path
    source = os.path.relpath(path, definition.absolute().parent)
    quoted = apptainer_path(source)
    if quoted is None:
        raise BadInputError(
            f"Apptainer's %files cannot name {source!r}: it reads no quotes, `$`, `*`, `#` or line "
            "breaks in a path",
            path=path,
            hint="Rename the file (letters, digits, spaces, `.`, `_`, `-`) and export again",
        )
    inside = "/opt/envlens/" + re.sub(r"[^\w.-]", "_", path.name)  # a name Apptainer takes as is
    stem = re.sub(r"[^\w.-]", "_", path.stem)
    runner = RUNNER.read_text(encoding="utf-8")
    body = requirements if requirements.endswith("\n") else requirements + "\n"
    for marker in _HEREDOC:  # pip syntax and our runner never hold them; keeps the heredocs sound
        if marker in body or marker in runner:
            raise LockError(f"the exported text contains the heredoc marker {marker}", path=path)
    uv_pin = f"uv=={uv_version}" if uv_version else "uv"
    default_out = shell_word(f"{path.stem}.out.ipynb")
    imports = "nbclient, ipykernel" + (", jupytext" if path.suffix == ".py" else "")
    return f"""\
# Apptainer definition for {shell_word(path.name)}, exported by envlens from its lock.
# Build it in this folder (%files copies the notebook from here):
#   apptainer build {stem}.sif {shell_word(definition.name)}
# Run the notebook headless in the image's locked environment, in the current folder; the executed
# notebook is written there ({default_out} unless you name one), also when a cell fails (exit 1):
#   apptainer run {stem}.sif [OUTPUT.ipynb] [--timeout SECONDS]
# A kernel for an editor: apptainer exec {stem}.sif python -m ipykernel_launcher -f CONNECTION_FILE
Bootstrap: docker
From: python:{python}-slim

%files
    {quoted} {inside}

%post
    set -eu
    mkdir -p /opt/envlens
    cat > /opt/envlens/requirements.txt <<'ENVLENS_REQUIREMENTS'
{body}ENVLENS_REQUIREMENTS
    cat > /opt/envlens/run.py <<'ENVLENS_RUNNER'
{runner}ENVLENS_RUNNER
    # uv from PyPI, then the locked packages exactly: every file's hash is checked.
    python -m pip install --no-cache-dir --disable-pip-version-check "{uv_pin}"
    python -m uv venv /opt/envlens/env --python "$(command -v python)"
    python -m uv pip install --python /opt/envlens/env/bin/python --require-hashes \\
        --no-cache -r /opt/envlens/requirements.txt

%environment
    export VIRTUAL_ENV=/opt/envlens/env
    export PATH=/opt/envlens/env/bin:$PATH

%runscript
    # The kernel's runtime files go to a private temporary folder (the image is read-only).
    runtime="$(mktemp -d)"
    JUPYTER_RUNTIME_DIR="$runtime" IPYTHONDIR="$runtime/ipython" \\
        /opt/envlens/env/bin/python /opt/envlens/run.py {inside} {default_out} "$@"
    code=$?
    rm -rf "$runtime"
    exit "$code"

%test
    /opt/envlens/env/bin/python -c "import {imports}"

%labels
    envlens.source {stem}
"""


def export_apptainer(
    resolution: Resolution, settings: Settings | None = None, *, definition: Path | None = None
) -> str:
    if resolution.runtime != "python":
        raise BadInputError(
            "an Apptainer image runs Python notebooks; this one is Deno",
            path=resolution.path,
            hint="Export a Python notebook",
        )
    reqs = kernel_requirements(resolution, settings, runner_packages(resolution))
    return apptainer_definition(
        resolution,
        reqs,
        python=_python_version(resolution, settings),
        uv_version=_uv_version(settings),
        definition=definition or default_output(resolution, "apptainer"),
    )


def export(
    resolution: Resolution,
    fmt: Format,
    settings: Settings | None = None,
    *,
    output: Path | None = None,
) -> str:
    """The export's text; `output` is where it will be written (the Apptainer definition names the
    notebook by its path from there)."""
    if fmt == "requirements":
        return export_requirements(resolution, settings)
    if fmt == "pylock":
        return export_pylock(resolution, settings)
    return export_apptainer(resolution, settings, definition=output)
