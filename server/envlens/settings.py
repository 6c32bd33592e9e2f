"""User settings shared by the CLI, the language server and the extension (which sends them over LSP)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from envlens.requirements import is_valid

NewDeclarationPlace = Literal["cell", "metadata"]

# Defaults of the environment lifecycle (docs/environments.md).
POOL_SIZE = 1
POOL_MAX_AGE_DAYS = 7.0
PRUNE_AFTER_DAYS = 30.0


@dataclass(frozen=True)
class Settings:
    uv_path: str | None = None  # default: $ENVLENS_UV, else the uv that ships with envlens
    default_python: str | None = None  # e.g. "3.12": used when a declaration has no requires-python
    new_notebook_declaration: NewDeclarationPlace = (
        "cell"  # where `add` puts a notebook's first declaration
    )
    # Packages the environment of a file that declares nothing gets besides ipykernel.
    default_packages: tuple[str, ...] = ()
    pool_size: int = POOL_SIZE  # prewarmed spare environments kept ready (0: none)
    pool_max_age_days: float = POOL_MAX_AGE_DAYS  # a spare older than this is rebuilt
    prune_after_days: float = PRUNE_AFTER_DAYS  # the sidecar prunes at start (0: never)

    @classmethod
    def from_env(cls) -> Settings:
        base = cls(
            uv_path=os.environ.get("ENVLENS_UV") or None,
            default_python=os.environ.get("ENVLENS_PYTHON") or None,
        )
        raw: dict[str, Any] = {}
        if packages := os.environ.get("ENVLENS_DEFAULT_PACKAGES"):
            raw["defaultPackages"] = [p for p in re.split(r"[\s,]+", packages) if p]
        for var, key in (
            ("ENVLENS_POOL_SIZE", "poolSize"),
            ("ENVLENS_POOL_MAX_AGE_DAYS", "poolMaxAgeDays"),
            ("ENVLENS_PRUNE_AFTER_DAYS", "pruneAfterDays"),
        ):
            value = os.environ.get(var)
            if value:
                try:
                    raw[key] = float(value)
                except ValueError:
                    raw[key] = value  # reported as invalid below, the default kept
        if not raw:
            return base
        settings, _ = cls.from_mapping(raw, base)
        return settings

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
            "defaultPackages": "default_packages",
            "poolSize": "pool_size",
            "poolMaxAgeDays": "pool_max_age_days",
            "pruneAfterDays": "prune_after_days",
        }
        for raw_key, value in data.items():
            key = aliases.get(raw_key, raw_key)
            if key not in values or value is None or value == "":
                continue
            if key == "default_packages":
                packages = _packages(value)
                if packages is None:
                    problems.append(
                        f"envlens.defaultPackages must be a list of requirements like "
                        f'["numpy", "pandas>=2"], not {value!r}; using none'
                    )
                    continue
                values[key] = packages
                continue
            if key in ("pool_size", "pool_max_age_days", "prune_after_days"):
                number = _number(value, integer=key == "pool_size")
                if number is None:
                    what = "a whole number" if key == "pool_size" else "a number of days"
                    problems.append(
                        f"envlens.{raw_key} must be {what} (0 or more), not {value!r}; "
                        f"using {values[key]:g}"
                    )
                    continue
                values[key] = number
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


def _packages(value: Any) -> tuple[str, ...] | None:
    """Valid requirements, or None (the whole setting is then ignored: half a list would build an
    environment nobody asked for)."""
    if not isinstance(value, (list, tuple)):
        return None
    out = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    if len(out) != len(value) or not all(is_valid(v) for v in out):
        return None
    return tuple(out)


def _number(value: Any, *, integer: bool) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    if integer:
        return int(value) if float(value).is_integer() else None
    return float(value)
