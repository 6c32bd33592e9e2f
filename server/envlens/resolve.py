"""From a file to what it needs: runtime, declaration (and where it came from), EnvSpec, key, env folder.

Nothing here builds or starts anything, so it is cheap enough to run on every keystroke.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envlens import paths
from envlens.fileio import read_text
from envlens.requirements import normalise_requirements
from envlens.settings import Settings
from envlens.sources import pep723
from envlens.sources.conda_lockfile import read_conda_lock_text
from envlens.sources.declaration import Declaration
from envlens.sources.lockfile import lock_hash, read_lock_text
from envlens.sources.notebook import Notebook, load_notebook
from envlens.sources.notebook_decl import read_notebook_declaration
from envlens.sources.project import find_project_file, read_project_file
from envlens.sources.runtime import notebook_runtime
from envlens.spec import EnvSpec, Runtime


@dataclass(frozen=True)
class Resolution:
    path: Path
    runtime: Runtime
    declaration: Declaration
    spec: EnvSpec
    lock_text: str | None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def env_dir(self) -> Path:
        if self.spec.backend == "project" and self.spec.project_dir:
            return Path(self.spec.project_dir) / ".venv"
        return paths.env_dir(self.key)

    @property
    def built(self) -> bool:
        if self.spec.backend == "deno":
            return True
        if self.spec.backend == "project":
            return paths.env_python(self.env_dir).exists()
        return paths.ready_file(self.env_dir).exists()

    def to_json(self) -> dict[str, Any]:
        d = self.declaration
        return {
            "path": str(self.path),
            "runtime": self.runtime,
            "source": {
                "kind": d.kind,
                "label": d.label,
                "path": str(d.path) if d.path else None,
                "cell": d.cell,
                "startLine": d.start_line,
                "endLine": d.end_line,
            },
            "backend": self.spec.backend,
            "requirements": list(self.spec.requirements),
            "declared": list(d.requirements),
            "condaPackages": list(self.spec.conda_packages),
            "channels": list(self.spec.channels),
            "requiresPython": self.spec.requires_python,
            "uvSettings": self.declaration.settings(),
            "ignored": list(self.declaration.ignored),
            "locked": self.lock_text is not None,
            "lockHash": self.spec.lock_hash,
            "key": self.key,
            "envPath": str(self.env_dir),
            "built": self.built,
        }


def spec_for(decl: Declaration, runtime: Runtime, lock_text: str | None) -> EnvSpec:
    if runtime == "deno":
        return EnvSpec(backend="deno", runtime="deno")
    reqs = normalise_requirements(decl.requirements, path=decl.path)
    if decl.kind == "uv-project":
        assert decl.path is not None
        return EnvSpec(
            backend="project",
            requirements=reqs,
            requires_python=decl.requires_python,
            project_dir=str(decl.path.parent),
        )
    return EnvSpec(
        backend="conda" if decl.conda else "uv",
        requirements=reqs,
        requires_python=decl.requires_python,
        channels=decl.channels,
        conda_packages=tuple(sorted(set(decl.conda_packages))),
        index_url=decl.index_url,
        extra_index_urls=decl.extra_index_urls,
        lock_hash=lock_hash(lock_text) if lock_text and (decl.inline or decl.conda) else None,
        uv_settings=decl.uv_settings,
        anchor=decl.anchor,
    )


def declaration_for(
    path: Path, *, text: str | None = None, notebook: Notebook | None = None
) -> tuple[Runtime, Declaration, Notebook | None]:
    """Runtime and declaration, first match wins: inline, then the closest project file, then none."""
    path = Path(path)
    runtime: Runtime = "python"
    decl: Declaration | None = None
    if path.suffix == ".ipynb":
        nb = notebook or load_notebook(path)
        runtime = notebook_runtime(nb.metadata, path)
        decl = read_notebook_declaration(nb)
    else:
        nb = None
        if text is None:
            text = read_text(path)
        decl = pep723.declaration(text, path)
    if decl is None and runtime == "python":
        project = find_project_file(path.parent)
        if project is not None:
            decl = read_project_file(project)
    return runtime, decl or Declaration(kind="none", path=None), nb


def resolve(
    path: Path,
    *,
    text: str | None = None,
    notebook: Notebook | None = None,
    settings: Settings | None = None,
) -> Resolution:
    path = Path(path).absolute()
    settings = settings or Settings.from_env()
    runtime, decl, nb = declaration_for(path, text=text, notebook=notebook)
    if decl.kind == "none" and runtime == "python":
        decl = default_declaration(settings)
    if decl.conda:  # a conda lock (rattler's format) beside the file or inside
        lock_text = read_conda_lock_text(decl, nb)
    else:
        lock_text = read_lock_text(path, nb) if decl.inline else None
    spec = with_settings(spec_for(decl, runtime, lock_text), settings)
    return Resolution(path=path, runtime=runtime, declaration=decl, spec=spec, lock_text=lock_text)


def with_settings(spec: EnvSpec, settings: Settings) -> EnvSpec:
    """The user's default Python applies where the declaration names none."""
    if spec.requires_python is None and settings.default_python and spec.backend in ("uv", "conda"):
        return dataclasses.replace(spec, requires_python=f"=={settings.default_python}.*")
    return spec


def default_declaration(settings: Settings) -> Declaration:
    """What a Python file that declares nothing gets: ipykernel (always) and the user's default
    packages (envlens.defaultPackages). Its environment is keyed by this declaration like any other,
    so a file that writes exactly these dependencies shares it."""
    return Declaration(kind="none", path=None, requirements=settings.default_packages)


def pool_resolution(settings: Settings | None = None) -> Resolution:
    """The shared environment of files that declare nothing: the same key that `resolve` gives
    such a file, so preparing it ahead of time (envs/pool.py) makes opening one instant."""
    settings = settings or Settings.from_env()
    decl = default_declaration(settings)
    spec = with_settings(spec_for(decl, "python", None), settings)
    return Resolution(
        path=paths.envs_dir(), runtime="python", declaration=decl, spec=spec, lock_text=None
    )
