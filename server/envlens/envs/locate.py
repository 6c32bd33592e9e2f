"""Where in the user's file a dependency (or requires-python) is declared, for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from envlens.errors import EnvlensError
from envlens.resolve import Resolution
from envlens.sources.notebook import cell_source, load_notebook


class WhereKwargs(TypedDict):
    path: Path | None
    line: int | None
    cell: int | None


@dataclass(frozen=True)
class Where:
    path: Path | None
    line: int | None = None  # 1-based
    cell: int | None = None  # 1-based

    @property
    def name(self) -> str:
        """The file's name, for a sentence ("Check the spelling in analysis.ipynb")."""
        return self.path.name if self.path else "the declaration"

    def kwargs(self) -> WhereKwargs:
        """`path`, `line`, `cell` for an EnvlensError."""
        return {"path": self.path, "line": self.line, "cell": self.cell}


def _name_pattern(needle: str) -> re.Pattern[str]:
    # Distribution names compare case-insensitively and with -, _ and . interchangeable.
    parts = [re.escape(p) for p in re.split(r"[-_.]+", needle) if p]
    return re.compile(r"(?<![\w.-])" + r"[-_.]+".join(parts) + r"(?![\w-])", re.IGNORECASE)


def locate(resolution: Resolution, needle: str | None) -> Where:
    """The declaration's file, and the line holding `needle` when it can be found (best effort)."""
    decl = resolution.declaration
    path = decl.path or (resolution.path if decl.kind != "none" else None)
    if path is None:
        return Where(resolution.path)
    try:
        if decl.cell is not None:
            nb = load_notebook(path)
            text = cell_source(nb.cells[decl.cell])
            cell: int | None = decl.cell + 1
        else:
            text = path.read_text(encoding="utf-8")
            cell = None
    except (OSError, UnicodeDecodeError, IndexError, EnvlensError):
        return Where(path)
    lines = text.splitlines()
    first = decl.start_line or 0
    last = decl.end_line if decl.end_line is not None else len(lines) - 1
    default_line = first + 1 if decl.start_line is not None else None
    if needle:
        pattern = (
            _name_pattern(needle) if needle != "requires-python" else re.compile("requires-python")
        )
        for i in range(first, min(last, len(lines) - 1) + 1):
            if pattern.search(lines[i]):
                return Where(path, i + 1, cell)
    return Where(path, default_line, cell)
