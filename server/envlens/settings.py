"""User settings shared by the CLI, the language server and the extension (which sends them over LSP)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Literal

NewDeclarationPlace = Literal["cell", "metadata"]


@dataclass(frozen=True)
class Settings:
    uv_path: str | None = None  # default: $ENVLENS_UV, else the uv that ships with envlens
    default_python: str | None = None  # e.g. "3.12": used when a declaration has no requires-python
    new_notebook_declaration: NewDeclarationPlace = (
        "cell"  # where `add` puts a notebook's first declaration
    )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            uv_path=os.environ.get("ENVLENS_UV") or None,
            default_python=os.environ.get("ENVLENS_PYTHON") or None,
        )

    @classmethod
    def from_mapping(
        cls, data: dict[str, Any], base: Settings | None = None
    ) -> tuple[Settings, list[str]]:
        """Settings from a client's configuration; invalid values keep the default and are reported."""
        base = base or cls.from_env()
        values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(cls)}
        problems: list[str] = []
        aliases = {
            "uvPath": "uv_path",
            "defaultPython": "default_python",
            "newNotebookDeclaration": "new_notebook_declaration",
        }
        for raw_key, value in data.items():
            key = aliases.get(raw_key, raw_key)
            if key not in values or value is None or value == "":
                continue
            if key == "new_notebook_declaration" and value not in ("cell", "metadata"):
                problems.append(
                    f"envlens.newNotebookDeclaration must be 'cell' or 'metadata', not {value!r}; using 'cell'"
                )
                continue
            if key == "default_python" and not (
                isinstance(value, str) and value.replace(".", "").isdigit()
            ):
                problems.append(
                    f"envlens.defaultPython must be a version like '3.12', not {value!r}; ignoring it"
                )
                continue
            if not isinstance(value, str):
                problems.append(
                    f"envlens.{raw_key} must be a string, not {value!r}; using the default"
                )
                continue
            values[key] = value
        return cls(**values), problems
