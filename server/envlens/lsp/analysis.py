"""One document's state, worked out from its (maybe unsaved) text: declaration, imports, findings.

Plain Python, no LSP: the server turns `Finding`s into diagnostics and code actions and `Analysis`
into code lenses. Positions are (cell, line, start, end) in code points; `cell` is the index among
the notebook's cells (markdown included, as the editor numbers them) or None for a script.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envlens.errors import EnvlensError, InvalidRequirementError
from envlens.imports import ImportRef, distribution_for, scan_chunk, scan_imports, third_party
from envlens.lsp.envinfo import EnvKnowledge
from envlens.pipinstall import PipInstall, find_pip_installs
from envlens.resolve import Resolution, resolve
from envlens.settings import Settings
from envlens.sources.notebook import JsonStyle, Notebook

log = logging.getLogger("envlens.lsp")

Severity = Literal["error", "warning", "information", "hint"]
FindingKind = Literal["undeclared-import", "declaration-error", "pip-install", "unused-dependency"]

# Distributions people declare without importing them: kernels, plugins, build tools.
NOT_IMPORTED = frozenset(
    {
        "ipykernel",
        "jupyter",
        "notebook",
        "jupyterlab",
        "pip",
        "setuptools",
        "wheel",
        "uv",
        "openpyxl",
        "pyarrow",
        "fastparquet",
        "xlrd",
        "tabulate",
        "ipympl",
        "kaleido",
        "nbformat",
        "ipywidgets",
        "tqdm",
        "lxml",
        "html5lib",
        "sqlalchemy",
        "numexpr",
        "bottleneck",
        "scipy",
    }
)
# Cell magics whose body is not Python.
_NON_PYTHON_CELL = (
    "%%bash",
    "%%sh",
    "%%html",
    "%%javascript",
    "%%js",
    "%%latex",
    "%%markdown",
    "%%svg",
    "%%writefile",
    "%%script",
    "%%perl",
    "%%ruby",
    "%%R",
    "%%sql",
)


@dataclass(frozen=True)
class Span:
    cell: int | None
    line: int
    start: int
    end_line: int
    end: int


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    severity: Severity
    message: str
    span: Span
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CellText:
    kind: Literal["code", "markdown"]
    uri: str
    text: str


@dataclass(frozen=True)
class Snapshot:
    """What the editor holds: a script's text, or a notebook's cells and (Jupyter) metadata."""

    path: Path
    text: str | None = None
    cells: tuple[CellText, ...] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def is_notebook(self) -> bool:
        return self.cells is not None

    def notebook(self) -> Notebook:
        cells: list[dict[str, Any]] = [
            {
                "cell_type": c.kind,
                "metadata": {},
                "source": c.text,
                **({"outputs": [], "execution_count": None} if c.kind == "code" else {}),
            }
            for c in self.cells or ()
        ]
        data = {
            "cells": cells,
            "metadata": dict(self.metadata or {}),
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        return Notebook(path=self.path, data=data, style=JsonStyle())


@dataclass(frozen=True)
class CellImport:
    cell: int | None
    ref: ImportRef
    distribution: str


@dataclass
class Analysis:
    snapshot: Snapshot
    resolution: Resolution | None
    error: EnvlensError | None
    imports: list[CellImport]  # third-party imports with their distributions
    pip_installs: list[tuple[int | None, PipInstall]]
    findings: list[Finding]
    anchor: Span  # where the code lenses go

    @property
    def declared(self) -> bool:
        return self.resolution is not None and self.resolution.declaration.kind != "none"

    @property
    def undeclared_distributions(self) -> list[str]:
        out: list[str] = []
        for f in self.findings:
            if f.kind == "undeclared-import" and f.data["distribution"] not in out:
                out.append(str(f.data["distribution"]))
        return out


def _declared_names(res: Resolution) -> set[str]:
    names: set[str] = set()
    for r in res.declaration.requirements:
        with contextlib.suppress(InvalidRequirement):
            names.add(canonicalize_name(Requirement(r).name))
    for c in res.declaration.conda_packages:
        name = c.split("::")[-1]
        for sep in "=<>!~ [":
            name = name.split(sep)[0]
        names.add(canonicalize_name(name))
    return names


def _error_span(exc: EnvlensError, snap: Snapshot, anchor: Span) -> Span:
    """The exact place of a declaration error: its line, and the column or the requirement in it."""
    if exc.path is not None and snap.path != exc.path.absolute() and exc.path != snap.path:
        return anchor  # the error is in a project file: show it where the lenses are
    if exc.line is None:
        return anchor
    cell: int | None = None
    if snap.is_notebook:
        if exc.cell is None:
            return anchor  # notebook metadata: no text position in a cell
        cell = exc.cell - 1
        text = snap.cells[cell].text if snap.cells and 0 <= cell < len(snap.cells) else ""
    else:
        text = snap.text or ""
    line_no = exc.line - 1
    lines = text.split("\n")
    if not 0 <= line_no < len(lines):
        return anchor
    line = lines[line_no]
    if isinstance(exc, InvalidRequirementError):
        idx = line.find(exc.requirement)
        if idx >= 0:
            return Span(cell, line_no, idx, line_no, idx + len(exc.requirement))
    start = min(max((exc.column or 1) - 1, 0), len(line))
    if start >= len(line.rstrip()):
        start = len(line) - len(line.lstrip())  # an error at the end: mark the whole line
    return Span(cell, line_no, start, line_no, max(len(line.rstrip()), start + 1))


def _dependency_span(res: Resolution, snap: Snapshot, requirement: str, anchor: Span) -> Span:
    decl = res.declaration
    if decl.kind != "pep723" or decl.start_line is None or decl.end_line is None:
        return anchor
    if snap.is_notebook:
        if decl.cell is None or not snap.cells:
            return anchor
        text = snap.cells[decl.cell].text
    else:
        text = snap.text or ""
    lines = text.split("\n", decl.end_line + 1)[: decl.end_line + 1]
    for i in range(decl.start_line, min(decl.end_line + 1, len(lines))):
        for quote in ('"', "'"):
            idx = lines[i].find(f"{quote}{requirement}{quote}")
            if idx >= 0:
                return Span(decl.cell, i, idx, i, idx + len(requirement) + 2)
    return anchor


def _anchor(snap: Snapshot, res: Resolution | None) -> Span:
    if (
        res is not None
        and res.declaration.kind == "pep723"
        and res.declaration.start_line is not None
    ):
        line = res.declaration.start_line
        return Span(res.declaration.cell, line, 0, line, 0)
    if snap.is_notebook:
        first = next((i for i, c in enumerate(snap.cells or ()) if c.kind == "code"), 0)
        return Span(first, 0, 0, 0, 0)
    return Span(None, 0, 0, 0, 0)


def analyse(
    snap: Snapshot,
    *,
    settings: Settings | None = None,
    knowledge: Callable[[Resolution], EnvKnowledge | None] | None = None,
    last_good: Resolution | None = None,
) -> Analysis:
    """Everything the editor shows for one document. Never raises for bad user input."""
    res: Resolution | None = None
    error: EnvlensError | None = None
    try:
        if snap.is_notebook:
            res = resolve(snap.path, notebook=snap.notebook(), settings=settings)
        else:
            res = resolve(snap.path, text=snap.text or "", settings=settings)
    except EnvlensError as exc:
        error = exc
    anchor = _anchor(snap, res or last_good)
    basis = res or last_good
    known = knowledge(basis) if knowledge is not None and basis is not None else None
    installed: Mapping[str, Sequence[str]] | None = known.import_map if known else None
    stdlib = known.stdlib if known else None
    findings: list[Finding] = []
    if error is not None:
        local = error.path is None or error.path.absolute() == snap.path.absolute()
        findings.append(
            Finding(
                "declaration-error",
                "error",
                _short(error) if local else error.one_line(),
                _error_span(error, snap, anchor),
            )
        )

    # Imports and install lines, cell by cell.
    refs: list[tuple[int | None, ImportRef]] = []
    pips: list[tuple[int | None, PipInstall]] = []
    if snap.is_notebook:
        for i, cell in enumerate(snap.cells or ()):
            if cell.kind != "code" or cell.text.lstrip().startswith(_NON_PYTHON_CELL):
                continue
            refs.extend((i, r) for r in scan_chunk(cell.text))
            pips.extend((i, p) for p in find_pip_installs(cell.text))
    else:
        text = snap.text or ""
        refs.extend((None, r) for r in scan_imports(text))
        pips.extend((None, p) for p in find_pip_installs(text, commented=True))

    folder = snap.path.parent
    third = {id(r) for r in third_party((r for _, r in refs), stdlib=stdlib, folder=folder)}
    imports = [
        CellImport(c, r, distribution_for(r.module, installed)) for c, r in refs if id(r) in third
    ]

    runtime_python = basis is None or basis.runtime == "python"
    declared = _declared_names(basis) if basis is not None else set()
    if runtime_python and error is None:
        for imp in imports:
            if imp.ref.optional:
                continue
            dist = canonicalize_name(imp.distribution)
            if dist in declared or canonicalize_name(imp.ref.top) in declared:
                continue
            if (
                installed is not None
                and basis is not None
                and basis.declaration.kind != "none"
                and imp.ref.top in installed
            ):
                continue  # provided by the environment (a dependency of something declared)
            where = "the notebook's" if snap.is_notebook else "the script"
            findings.append(
                Finding(
                    "undeclared-import",
                    "warning",
                    f"'{imp.ref.top}' is not declared: it is provided by the distribution "
                    f"'{imp.distribution}'; add it to {where} dependencies",
                    Span(imp.cell, imp.ref.line, imp.ref.start, imp.ref.line, imp.ref.end),
                    {"module": imp.ref.top, "distribution": imp.distribution},
                )
            )
    for pcell, p in pips:
        reqs = p.requirements
        shown = ", ".join(reqs) if reqs else "these packages"
        findings.append(
            Finding(
                "pip-install",
                "information",
                f"Install lines do not travel with the file: declare {shown} instead, so the "
                f"{'notebook' if snap.is_notebook else 'script'} carries them",
                Span(pcell, p.line, p.start, p.end_line, p.end),
                {
                    "requirements": reqs,
                    "movable": p.movable,
                    "problems": [x.problem for x in p.problems],
                },
            )
        )
    if res is not None and error is None and res.declaration.inline and runtime_python:
        used = {canonicalize_name(i.distribution) for i in imports} | {
            canonicalize_name(i.ref.top) for i in imports
        }
        used |= {canonicalize_name(r.top) for _, r in refs}
        for req in res.declaration.requirements:
            try:
                name = canonicalize_name(Requirement(req).name)
            except InvalidRequirement:
                continue
            if name in used or name in NOT_IMPORTED:
                continue
            findings.append(
                Finding(
                    "unused-dependency",
                    "hint",
                    f"'{req}' is declared but nothing in this file imports it",
                    _dependency_span(res, snap, req, anchor),
                    {"requirement": req, "name": name},
                )
            )
    return Analysis(snap, res, error, imports, pips, findings, anchor)


def _short(exc: EnvlensError) -> str:
    text = exc.message.rstrip(".") + "."
    if exc.hint:
        text += " " + exc.hint.rstrip(".") + "."
    return text
