"""What a file declares, and where the declaration was found."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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

# [tool.uv] keys whose values may be paths, relative to the declaring file's folder as uv reads them.
_PATH_KEYS = ("find-links", "index-url", "extra-index-url", "index", "sources")


def _json_value(value: Any) -> Any:
    """TOML values as JSON: dates and times (exclude-newer) as ISO text."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def canonical_settings(tool_uv: dict[str, Any]) -> str | None:
    """[tool.uv] as canonical JSON (for the environment key and approval), None when empty."""
    if not tool_uv:
        return None
    return json.dumps(_json_value(tool_uv), sort_keys=True, separators=(",", ":"))


def _relative(value: Any) -> bool:
    """Does a [tool.uv] value hold a relative path (as opposed to a URL or an absolute path)?"""
    if isinstance(value, dict):
        return any(_relative(v) for k, v in value.items() if k in ("path", "url", "editable"))
    if isinstance(value, list):
        return any(_relative(v) for v in value)
    if isinstance(value, str):
        return "://" not in value and not Path(value).is_absolute()
    return False


def has_relative_paths(tool_uv: dict[str, Any]) -> bool:
    """True when the settings name a path that uv resolves against the file's folder."""
    for key in _PATH_KEYS:
        value = tool_uv.get(key)
        if key == "sources" and isinstance(value, dict):
            if any(_relative(v) for v in value.values()):
                return True
        elif value is not None and _relative(value):
            return True
    return False


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
    # What uv reads: the PEP 723 block itself (a script of that block alone), and its [tool.uv]
    # table as canonical JSON (None when it has none). uv gives the block its meaning; envlens only
    # needs the settings to name the environment and to show what approval covers.
    script: str | None = None
    uv_settings: str | None = None
    # The folder the block's relative paths resolve against, when it has any (else None, so that
    # identical declarations in different folders share an environment).
    anchor: str | None = None
    # Settings written in the file that nothing honours (named in messages, never dropped silently).
    ignored: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def inline(self) -> bool:
        """Declared in the file itself (a lock can then live beside it or in it)."""
        return self.kind in ("pep723", "notebook-uv", "notebook-conda")

    @property
    def lockable(self) -> bool:
        """envlens locks it with `uv lock --script` (an inline PyPI declaration)."""
        return self.kind in ("pep723", "notebook-uv")

    @property
    def conda(self) -> bool:
        return self.kind in ("notebook-conda", "pixi", "environment-yml")

    @property
    def python_project(self) -> bool:
        """A pyproject.toml (uv's project or plain PEP 621): envlens edits it with tomlkit."""
        return self.kind in ("pyproject", "uv-project")

    @property
    def from_project(self) -> bool:
        """Read from a project file in the user's folder (not from the notebook or script)."""
        return self.kind in ("pyproject", "uv-project", "pixi", "environment-yml")

    def settings(self) -> dict[str, Any]:
        """The [tool.uv] settings as plain data ({} when there are none)."""
        if not self.uv_settings:
            return {}
        data = json.loads(self.uv_settings)
        return data if isinstance(data, dict) else {}
