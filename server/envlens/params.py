"""Papermill-compatible parameters for headless runs.

The cell tagged `parameters` (cell `metadata.tags`; in a percent script `# %% tags=["parameters"]`,
jupytext's syntax) holds the defaults. Given values go into a new cell injected right after it,
tagged `injected-parameters`, as papermill does, so the defaults stay visible and the output
notebook shows what was changed. A file without a `parameters` cell gets the injected cell before
its first code cell that has code (after the declaration cell, which is comments only).

Values on the command line (`-p name=value`) are Python literals (`ast.literal_eval`: `0.1`,
`True`, `[1, 2]`, `'a'`), and anything else is a string (`-p dataset=cifar`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envlens.errors import BadInputError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def parse_value(text: str) -> object:
    """A Python literal, else the text itself as a string."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _check_name(name: str, item: str, option: str) -> str:
    name = name.strip()
    if not name.isidentifier():
        raise BadInputError(
            f"{option} {item!r}: {name!r} is not a Python variable name",
            hint=f"Write it as {option} name=value, for example {option} alpha=0.1",
        )
    return name


def parse_assignment(item: str, option: str = "-p") -> tuple[str, object]:
    """`alpha=0.1` -> ("alpha", 0.1)."""
    name, sep, value = item.partition("=")
    if not sep:
        raise BadInputError(
            f"{option} {item!r} has no value",
            hint=f"Write it as {option} name=value, for example {option} alpha=0.1",
        )
    return _check_name(name, item, option), parse_value(value)


def parse_params(items: Sequence[str] | None, option: str = "-p") -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items or ():
        name, value = parse_assignment(item, option)
        if name in params:
            raise BadInputError(f"{option} {name} is given twice", hint="Give each parameter once")
        params[name] = value
    return params


def literal(value: object) -> str:
    """Python source for a value that reads back as the same value (for cells and -p arguments)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def check_literal(name: str, value: object) -> None:
    """Only values that survive a round trip through Python source can be passed on."""
    ok = isinstance(value, (str, int, float, bool, type(None)))
    if isinstance(value, float) and not math.isfinite(value):
        ok = False  # `-p x=inf` would read back as the string 'inf'
    if isinstance(value, (list, tuple, dict)):
        try:
            ok = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError):
            ok = False
    if not ok:
        raise BadInputError(
            f"parameter {name}: {type(value).__name__} values cannot be passed to a notebook",
            hint="Use numbers, strings, booleans, None, or lists/dicts of them",
        )


# --- the notebook side --------------------------------------------------------------------------


def _tags(cell: Mapping[str, Any]) -> list[str]:
    md = cell.get("metadata")
    tags = md.get("tags") if isinstance(md, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def find_tagged(cells: Sequence[Mapping[str, Any]], tag: str) -> int | None:
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and tag in _tags(cell):
            return i
    return None


def assigned_names(source: str) -> list[str] | None:
    """Top-level names the cell assigns (`a = 1`, `a: int = 1`, `a, b = 1, 2`); None if it does
    not parse as Python (magics), so nothing can be checked."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: list[str] = []

    def add(target: ast.expr) -> None:
        if isinstance(target, ast.Name) and target.id not in names:
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                add(t)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                add(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return names


def _has_code(source: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in source.splitlines())


@dataclass(frozen=True)
class Injection:
    index: int  # where the injected cell now is
    replaced: bool  # an earlier injected-parameters cell (a re-run output notebook) was replaced
    source: str


def injected_source(params: Mapping[str, object]) -> str:
    lines = ["# Parameters"] + [f"{name} = {literal(value)}" for name, value in params.items()]
    return "\n".join(lines) + "\n"


def check_names(
    cells: Sequence[Mapping[str, Any]],
    params: Mapping[str, object],
    path: Path,
    *,
    cell_lines: Sequence[int | None] | None = None,
) -> None:
    """An unknown name (not assigned in the `parameters` cell) is bad input, when that cell exists."""
    at = find_tagged(cells, PARAMETERS_TAG)
    if at is None or not params:
        return
    known = assigned_names(_source(cells[at]))
    if known is None:
        return
    unknown = [n for n in params if n not in known]
    if not unknown:
        return
    line = cell_lines[at] if cell_lines is not None else None
    where: dict[str, Any] = {"line": line} if line is not None else {"cell": at + 1}
    s = "s" if len(unknown) > 1 else ""
    raise BadInputError(
        f"unknown parameter{s} {', '.join(unknown)}: the parameters cell defines "
        + (", ".join(known) if known else "nothing"),
        path=path,
        hint="Pass one of those names, or add the name to the cell tagged 'parameters'",
        **where,
    )


def inject(cells: list[dict[str, Any]], params: Mapping[str, object], *, ids: bool) -> Injection:
    """Insert (or replace) the `injected-parameters` cell in `cells`, in place."""
    source = injected_source(params)
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None}
    if ids:
        import uuid

        cell["id"] = uuid.uuid4().hex[:8]
    cell["metadata"] = {"tags": [INJECTED_TAG]}
    cell["outputs"] = []
    cell["source"] = source.splitlines(keepends=True)
    old = find_tagged(cells, INJECTED_TAG)
    if old is not None:  # papermill replaces the cell of an earlier run
        cells[old] = cell
        return Injection(old, True, source)
    at = find_tagged(cells, PARAMETERS_TAG)
    if at is not None:
        index = at + 1
    else:
        index = next(
            (
                i
                for i, c in enumerate(cells)
                if c.get("cell_type") == "code" and _has_code(_source(c))
            ),
            len(cells),
        )
    cells.insert(index, cell)
    return Injection(index, False, source)


def describe(params: Mapping[str, object]) -> str:
    """`alpha=0.1 dataset='a'`: for tables and progress lines."""
    return " ".join(f"{k}={literal(v)}" for k, v in params.items())


def as_arguments(params: Mapping[str, object]) -> list[str]:
    """`-p name=<literal>` arguments that read back as exactly these values."""
    args: list[str] = []
    for name, value in params.items():
        check_literal(name, value)
        args += ["-p", f"{name}={literal(value)}"]
    return args
