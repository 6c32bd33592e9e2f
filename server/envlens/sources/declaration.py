"""What a file declares, and where the declaration was found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DeclarationKind = Literal[
    "pep723",  # a `# /// script` block (script header, or a notebook's first code cell)
    "notebook-uv",  # nteract's metadata.runt.uv / metadata.uv
    "notebook-conda",  # nteract's metadata.runt.conda / metadata.conda
    "pyproject",  # [project].dependencies of a pyproject.toml that is not a uv project
    "uv-project",  # a pyproject.toml with [tool.uv] or a uv.lock: the project's own .venv
    "pixi",
    "environment-yml",
    "none",  # nothing declared: the shared environment with ipykernel only
]

KIND_LABELS: dict[str, str] = {
    "pep723": "inline script metadata (PEP 723)",
    "notebook-uv": "notebook metadata (uv)",
    "notebook-conda": "notebook metadata (conda)",
    "pyproject": "pyproject.toml",
    "uv-project": "uv project",
    "pixi": "pixi.toml",
    "environment-yml": "environment.yml",
    "none": "nothing declared",
}


@dataclass(frozen=True)
class Declaration:
    kind: DeclarationKind
    path: Path | None  # the file that holds the declaration (the notebook itself when inline)
    requirements: tuple[str, ...] = ()  # as written, validated
    requires_python: str | None = None
    channels: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()  # conda (non-PyPI) dependencies, as written
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    exclude_newer: str | None = None
    metadata_key: str | None = (
        None  # "runt.uv", "uv", "runt.conda" or "conda" for notebook metadata
    )
    cell: int | None = None  # 0-based index of the notebook cell holding a PEP 723 block
    start_line: int | None = None  # 0-based first line of the block (within the cell for notebooks)
    end_line: int | None = None  # 0-based last line of the block

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def inline(self) -> bool:
        return self.kind in ("pep723", "notebook-uv", "notebook-conda")
