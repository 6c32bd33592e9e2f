"""Notebook files: read them fast, write them back byte for byte except what was asked to change.

The JSON is kept as the ordered dicts `json` gives, and written back in the style it was read in
(indentation, ASCII escaping, trailing newline), so key order and layout survive. `nbformat` itself
re-serialises and validates whole notebooks, which is slower and changes layout, so it is used where
outputs are made (kernels/), not here.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envlens.errors import NotebookFormatError
from envlens.fileio import atomic_write_text, parse_json, read_text

Json = dict[str, Any]


@dataclass
class JsonStyle:
    indent: int | str | None = 1
    ensure_ascii: bool = False
    trailing_newline: bool = True
    newline: str = "\n"  # a notebook saved on Windows keeps its CRLF line breaks

    def dumps(self, data: Any) -> str:
        text = json.dumps(data, indent=self.indent, ensure_ascii=self.ensure_ascii)
        text += "\n" if self.trailing_newline else ""
        # json.dumps writes no raw line break inside a string, so every one is the layout's.
        return text.replace("\n", self.newline) if self.newline != "\n" else text


@dataclass
class Notebook:
    path: Path
    data: Json
    style: JsonStyle = field(default_factory=JsonStyle)

    @property
    def cells(self) -> list[Json]:
        cells = self.data["cells"]
        assert isinstance(cells, list)
        return cells

    @property
    def metadata(self) -> Json:
        md = self.data.setdefault("metadata", {})
        assert isinstance(md, dict)
        return md

    def dumps(self) -> str:
        return self.style.dumps(self.data)

    def save(self, path: Path | None = None) -> None:
        atomic_write_text(path or self.path, self.dumps())


def _detect_style(text: str) -> JsonStyle:
    m = re.search(r"^\{\r?\n([ \t]+)\"", text)
    indent: int | str | None
    if m is None:
        indent = None
    elif m.group(1).startswith("\t"):
        indent = m.group(1)
    else:
        indent = len(m.group(1))
    ascii_only = text.isascii() and "\\u" in text
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    return JsonStyle(
        indent=indent,
        ensure_ascii=ascii_only,
        trailing_newline=text.endswith("\n"),
        newline=newline,
    )


def _check_version(data: Json, path: Path) -> None:
    """Format 4 only; anything else names the version found and how to get to 4."""
    major = data.get("nbformat")
    if major is None or major == 4:
        return
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookFormatError(
            f'the notebook\'s "nbformat" is {json.dumps(major)}, not a version number',
            path=path,
            line=1,
            hint='Write it as a number, "nbformat": 4, in a text editor',
        )
    if major > 4:
        raise NotebookFormatError(
            f"the notebook is in format version {major}, newer than envlens reads (version 4)",
            path=path,
            line=1,
            hint="Update envlens, or save the notebook as version 4 in the tool that wrote it",
        )
    raise NotebookFormatError(
        f"the notebook is in the old format version {major}; envlens reads version 4",
        path=path,
        line=1,
        hint=f"Upgrade it with `uvx --from nbconvert jupyter-nbconvert --to notebook "
        f"--nbformat 4 --inplace {shlex.quote(str(path))}` (or open and save it in Jupyter)",
    )


def parse_notebook(text: str, path: Path) -> Notebook:
    try:
        data = parse_json(text, path)
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(
            f"the notebook is not valid JSON: {exc.msg}",
            path=path,
            line=exc.lineno,
            column=exc.colno,
            hint="Open it in a text editor and fix the JSON, or restore it from version control",
        ) from None
    if not isinstance(data, dict):
        raise NotebookFormatError(
            "the file is not a Jupyter notebook: it is JSON but not an object",
            path=path,
            line=1,
            hint="Check that this is the notebook you meant to open",
        )
    _check_version(data, path)
    if not isinstance(data.get("cells"), list):
        raise NotebookFormatError(
            "the file is not a Jupyter notebook: it has no 'cells' list",
            path=path,
            line=1,
            hint="Check that this is the notebook you meant to open",
        )
    if not isinstance(data.get("metadata", {}), dict):
        raise NotebookFormatError(
            "the notebook's 'metadata' is not an object",
            path=path,
            line=1,
            hint="Fix the notebook JSON so that metadata is an object",
        )
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise NotebookFormatError(
                f"cell {i + 1} has no 'cell_type'",
                path=path,
                cell=i + 1,
                hint="Fix the notebook JSON",
            )
    return Notebook(path=path, data=data, style=_detect_style(text))


def load_notebook(path: Path) -> Notebook:
    return parse_notebook(read_text(path), path)


def cell_source(cell: Json) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def set_cell_source(cell: Json, text: str) -> None:
    """Keep the form the file used: a list of lines (Jupyter) or one string (some tools)."""
    if isinstance(cell.get("source"), list):
        cell["source"] = text.splitlines(keepends=True)
    else:
        cell["source"] = text


def first_code_cell(nb: Notebook) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code":
            return i
    return None


def new_code_cell(nb: Notebook, source: str, *, hidden: bool = False) -> Json:
    """A code cell in the notebook's own form: ids where the notebook uses them (nbformat >= 4.5)."""
    cell: Json = {"cell_type": "code", "execution_count": None}
    minor = nb.data.get("nbformat_minor", 5)
    if isinstance(minor, int) and minor >= 5:
        cell["id"] = uuid.uuid4().hex[:8]
    cell["metadata"] = {"jupyter": {"source_hidden": True}} if hidden else {}
    cell["outputs"] = []
    cell["source"] = source.splitlines(keepends=True)
    return cell


def nested(mapping: Json, *keys: str) -> Any:
    cur: Any = mapping
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def prune_metadata(metadata: Json, keys: list[str]) -> None:
    """Delete metadata[k1][k2]...[kn], then every parent left empty by it (never `metadata` itself)."""
    chain: list[Json] = [metadata]
    for k in keys[:-1]:
        child = chain[-1].get(k)
        if not isinstance(child, dict):
            return
        chain.append(child)
    chain[-1].pop(keys[-1], None)
    for parent, key in zip(reversed(chain[:-1]), reversed(keys[:-1]), strict=True):
        if parent.get(key) == {}:
            del parent[key]
