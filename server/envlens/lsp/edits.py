"""From a planned file change (old text -> new text) to the smallest editor edits.

Plain Python, no LSP: positions are (line, UTF-16 column) as LSP counts them by default. A script's
change becomes one replacement (common prefix and suffix kept), so an edit to the declaration never
touches the rest of the file. A notebook's change becomes per-cell text edits plus, when cells are
added or removed or the metadata changes, notebook operations (which LSP's WorkspaceEdit cannot
express, so the client applies them: docs/protocol.md `envlens/applyNotebookEdit`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from envlens.sources.notebook import cell_source

Position = tuple[int, int]


@dataclass(frozen=True)
class TextChange:
    start: Position
    end: Position
    new_text: str


def utf16_col(line: str, col: int) -> int:
    if line.isascii():
        return col
    return len(line[:col].encode("utf-16-le")) // 2


def position_at(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", line_start)
    line_text = text[line_start : line_end if line_end >= 0 else len(text)]
    return line, utf16_col(line_text, offset - line_start)


def text_change(old: str, new: str) -> TextChange | None:
    """One replacement turning `old` into `new`, or None when they are equal."""
    if old == new:
        return None
    n = min(len(old), len(new))
    p = 0
    while p < n and old[p] == new[p]:
        p += 1
    s = 0
    while s < n - p and old[len(old) - 1 - s] == new[len(new) - 1 - s]:
        s += 1
    return TextChange(position_at(old, p), position_at(old, len(old) - s), new[p : len(new) - s])


@dataclass
class NotebookChange:
    """Cell text edits by cell index (of the notebook before the change) and structural operations."""

    cell_edits: dict[int, TextChange] = field(default_factory=dict)
    operations: list[dict[str, Any]] = field(default_factory=list)  # applied in order, as given

    @property
    def structural(self) -> bool:
        return bool(self.operations)


def _cell_json(cell: dict[str, Any]) -> dict[str, Any]:
    kind = "code" if cell.get("cell_type") == "code" else "markdown"
    out: dict[str, Any] = {"kind": kind, "source": cell_source(cell)}
    if cell.get("metadata"):
        out["metadata"] = cell["metadata"]
    return out


def notebook_change(
    old_cells: list[str], old_metadata: dict[str, Any], new_text: str
) -> NotebookChange:
    """Compare the editor's cells (their texts) with a planned notebook JSON."""
    data = json.loads(new_text)
    new_cells: list[dict[str, Any]] = data.get("cells", [])
    new_sources = [cell_source(c) for c in new_cells]
    change = NotebookChange()
    sm = difflib.SequenceMatcher(a=old_cells, b=new_sources, autojunk=False)
    ops: list[dict[str, Any]] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            tc = text_change(old_cells[i1 + k], new_sources[j1 + k])
            if tc is not None:
                change.cell_edits[i1 + k] = tc
        if i2 - i1 > pairs or j2 - j1 > pairs:
            ops.append(
                {
                    "kind": "replaceCells",
                    "start": i1 + pairs,
                    "deleteCount": (i2 - i1) - pairs,
                    "cells": [_cell_json(c) for c in new_cells[j1 + pairs : j2]],
                }
            )
    # From the end backwards, so each operation's indices are those of the notebook before it.
    change.operations = sorted(ops, key=lambda o: int(o["start"]), reverse=True)
    new_md = data.get("metadata", {})
    if new_md != old_metadata:
        change.operations.append({"kind": "metadata", "metadata": new_md})
    return change
