"""Percent scripts (`# %%` cells) as cells, and as notebooks for `envlens run`.

Our own small parser rather than jupytext: jupytext is a large dependency (and pulls in its own
markdown and YAML stacks) for the thirty lines the percent format needs here, and it would be the
sidecar's slowest import.

Rules (those of jupytext's percent format, for what a headless run needs):
- A cell starts at a line `# %%` (or `#%%`), optionally followed by a title and a cell type:
  `# %% [markdown]` / `# %% [md]` is markdown, `# %% [raw]` raw, anything else code.
- Markdown and raw lines are comments: `# ` (or `#`) is stripped from each.
- Blank lines at both ends of a cell are dropped.
- Cell metadata after the marker, as jupytext writes it: `# %% tags=["parameters"]` (`key=<JSON>`
  pairs), goes into the notebook cell's metadata (papermill's `parameters` tag).
- What comes before the first marker (the header: shebang, PEP 723 `# /// script` block, module
  docstring, imports) becomes the first code cell, as jupytext does. So the notebook written by
  `envlens run` keeps the declaration in its first code cell, where juv and envlens read it, and
  resolves to the same environment as the script. A header of only comments and blank lines (the
  usual PEP 723 case) has nothing to run and is not executed (`Cell.executable` is False); a header
  with code runs like any cell.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from envlens.sources.notebook import JsonStyle, Notebook

CellType = Literal["code", "markdown", "raw"]

_MARKER = re.compile(r"^#\s?%%(?!%)(?P<rest>.*)$")
_TYPE = re.compile(r"\[(?P<type>markdown|md|raw)\]")
_META_KEY = re.compile(r"(?:^|\s)(?P<key>[A-Za-z_][\w.-]*)=")


@dataclass(frozen=True)
class Cell:
    cell_type: CellType
    source: str
    line: int  # 1-based line in the script where the cell's first source line is
    header: bool = False  # the part before the first `# %%`
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def executable(self) -> bool:
        if self.cell_type != "code":
            return False
        return not (self.header and is_comment_only(self.source))


def is_comment_only(source: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in source.splitlines())


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    return line


def _metadata(rest: str) -> dict[str, Any]:
    """jupytext's `key=<JSON value>` pairs after the marker; a value that is not JSON is skipped."""
    found: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    pos = 0
    while (m := _META_KEY.search(rest, pos)) is not None:
        try:
            value, end = decoder.raw_decode(rest, m.end())
        except json.JSONDecodeError:
            pos = m.end()
            continue
        found[m.group("key")] = value
        pos = end
    return found


def _finish(
    cell_type: CellType,
    lines: list[str],
    first_line: int,
    header: bool,
    metadata: dict[str, Any] | None = None,
) -> Cell | None:
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = len(lines)
    while end > start and not lines[end - 1].strip():
        end -= 1
    body = lines[start:end]
    if cell_type != "code":
        body = [_uncomment(ln) for ln in body]
    if header and not body:
        return None
    return Cell(cell_type, "\n".join(body), first_line + start, header, metadata or {})


def split_cells(text: str) -> list[Cell]:
    """The script's cells in order. A script without any `# %%` is one code cell."""
    cells: list[Cell] = []
    cell_type: CellType = "code"
    lines: list[str] = []
    first_line = 1
    header = True
    metadata: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        m = _MARKER.match(line)
        if m is None:
            lines.append(line)
            continue
        done = _finish(cell_type, lines, first_line, header, metadata)
        if done is not None:
            cells.append(done)
        t = _TYPE.search(m.group("rest"))
        kind = t.group("type") if t else "code"
        cell_type = "markdown" if kind in ("markdown", "md") else "raw" if kind == "raw" else "code"
        metadata = _metadata(m.group("rest"))
        lines = []
        first_line = number + 1
        header = False
    done = _finish(cell_type, lines, first_line, header, metadata)
    if done is not None:
        cells.append(done)
    return cells


def _source_lines(source: str) -> list[str]:
    return source.splitlines(keepends=True)


def script_to_notebook(text: str, path: Path, out_path: Path) -> Notebook:
    """An nbformat 4.5 notebook of the script's cells, in Jupyter's own JSON style."""
    nb_cells: list[dict[str, Any]] = []
    for cell in split_cells(text):
        nb_cell: dict[str, Any] = {"cell_type": cell.cell_type, "id": uuid.uuid4().hex[:8]}
        if cell.cell_type == "code":
            nb_cell["execution_count"] = None
            nb_cell["metadata"] = dict(cell.metadata)
            nb_cell["outputs"] = []
        else:
            nb_cell["metadata"] = dict(cell.metadata)
        nb_cell["source"] = _source_lines(cell.source)
        nb_cells.append(nb_cell)
    data: dict[str, Any] = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "envlens": {"source": path.name},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return Notebook(path=out_path, data=data, style=JsonStyle(indent=1, ensure_ascii=False))
