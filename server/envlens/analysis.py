"""One document's state, worked out from its (maybe unsaved) text: declaration, imports, findings.

Plain Python, no LSP: the server turns `Finding`s into diagnostics and code actions and `Analysis`
into code lenses. Positions are (cell, line, start, end) in code points; `cell` is the index among
the notebook's cells (markdown included, as the editor numbers them) or None for a script.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name

from envlens.envs.inventory import EnvKnowledge
from envlens.errors import EnvlensError, InvalidRequirementError
from envlens.imports import (
    NON_PYTHON_CELL,
    ImportRef,
    Provider,
    lookup,
    scan_chunk,
    scan_imports,
    third_party,
    undeclared,
)
from envlens.locking.drift import quick_drift
from envlens.pipinstall import PipInstall, find_pip_installs
from envlens.requirements import requirement_name
from envlens.resolve import Resolution, resolve
from envlens.settings import Settings
from envlens.sources import pep723
from envlens.sources.lockfile import script_lock_path
from envlens.sources.notebook import JsonStyle, Notebook

log = logging.getLogger("envlens.lsp")

Severity = Literal["error", "warning", "information", "hint"]
FindingKind = Literal[
    "undeclared-import", "declaration-error", "pip-install", "unused-dependency", "stale-lock"
]

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
        """What "Declare all imports" adds: as `envlens declare`, not the unknown or ambiguous."""
        out: list[str] = []
        for f in self.findings:
            if f.kind != "undeclared-import" or f.data.get("source") in ("unknown", "ambiguous"):
                continue
            if f.data["distribution"] not in out:
                out.append(str(f.data["distribution"]))
        return out


def _declared_names(res: Resolution) -> set[str]:
    names: set[str] = set()
    for r in res.declaration.requirements:
        with contextlib.suppress(EnvlensError):
            names.add(requirement_name(r))  # cached: this runs on every keystroke
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


_RES_CACHE: OrderedDict[tuple[Any, ...], Resolution] = OrderedDict()


def _declaration_key(snap: Snapshot, settings: Settings | None) -> tuple[Any, ...] | None:
    """What an inline declaration's resolution depends on; None when it may depend on other files."""
    if snap.is_notebook:
        md = snap.metadata or {}
        first = next((c.text for c in snap.cells or () if c.kind == "code"), "")
        if "# /// script" not in first and not any(k in md for k in ("uv", "runt", "conda")):
            return None
        return ("nb", snap.path, first, json.dumps(md, sort_keys=True, default=str), settings)
    text = snap.text or ""
    if "# /// script" not in text:
        return None
    block = pep723.find_script_block(text, snap.path)
    if block is None:
        return None
    try:
        st = script_lock_path(snap.path).stat()
        lock: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except OSError:
        lock = None
    return ("py", snap.path, block.toml, block.start_line, block.end_line, lock, settings)


def resolve_cached(snap: Snapshot, settings: Settings | None) -> Resolution:
    """`resolve` on the editor's text; an unchanged inline declaration is not parsed again."""
    key = _declaration_key(snap, settings)
    if key is not None:
        hit = _RES_CACHE.get(key)
        if hit is not None:
            _RES_CACHE.move_to_end(key)
            return hit
    if snap.is_notebook:
        res = resolve(snap.path, notebook=snap.notebook(), settings=settings)
    else:
        res = resolve(snap.path, text=snap.text or "", settings=settings)
    if key is not None and res.declaration.inline:
        _RES_CACHE[key] = res
        if len(_RES_CACHE) > 256:
            _RES_CACHE.popitem(last=False)
    return res


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
        res = resolve_cached(snap, settings)
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
            if cell.kind != "code" or cell.text.lstrip().startswith(NON_PYTHON_CELL):
                continue
            refs.extend((i, r) for r in scan_chunk(cell.text))
            pips.extend((i, p) for p in find_pip_installs(cell.text))
    else:
        text = snap.text or ""
        refs = [(None, r) for r in scan_imports(text)]
        pips.extend((None, p) for p in find_pip_installs(text, commented=True))

    # Work per module, not per import: a long file imports few modules many times. One pass finds
    # each module's first import (a 5,000-line script can hold thousands of imports).
    folder = snap.path.parent
    first_seen: dict[str, tuple[int | None, ImportRef]] = {}
    for c, r in refs:
        if r.module not in first_seen:
            first_seen[r.module] = (c, r)
    modules = list(first_seen)
    third_tops = {
        r.top
        for r in third_party(
            [ImportRef(m, 0, 0, 0) for m in dict.fromkeys(m.split(".", 1)[0] for m in modules)],
            stdlib=stdlib,
            folder=folder,
        )
    }
    providers = {m: lookup(m, installed) for m in modules if m.split(".", 1)[0] in third_tops}
    dist_of = {m: p.guess for m, p in providers.items()}
    imports = [CellImport(c, r, dist_of[m]) for m, (c, r) in first_seen.items() if m in dist_of]

    runtime_python = basis is None or basis.runtime == "python"
    declared = _declared_names(basis) if basis is not None else set()
    if runtime_python and error is None:
        provided = installed is not None and basis is not None and basis.declaration.kind != "none"
        missing = undeclared(list(providers), declared, installed, provided=provided)
        where = "the notebook's" if snap.is_notebook else "the script"
        if missing:
            for c, r in refs:
                found = missing.get(r.module)
                if found is None or r.optional:
                    continue
                findings.append(
                    Finding(
                        "undeclared-import",
                        "warning",
                        _undeclared_message(r.top, found, where),
                        Span(c, r.line, r.start, r.line, r.end),
                        {
                            "module": r.top,
                            "distribution": found.guess,
                            "source": found.source,
                            "candidates": list(found.candidates),
                        },
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
        used = {_canon(d) for d in set(dist_of.values())}
        used |= {_canon(m.split(".", 1)[0]) for m in modules}
        for req in res.declaration.requirements:
            try:
                name = requirement_name(req)
            except EnvlensError:
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
    if res is not None and error is None and res.lock_text is not None and runtime_python:
        stale = quick_drift(res)
        if stale.state == "stale":
            findings.append(
                Finding(
                    "stale-lock",
                    "warning",
                    "Lock is out of date: "
                    + "; ".join(stale.reasons)
                    + ". Re-lock with 'Lock Versions' so the lock matches the dependencies",
                    anchor,
                    {"reasons": list(stale.reasons)},
                )
            )
    return Analysis(snap, res, error, imports, pips, findings, anchor)


def _undeclared_message(top: str, p: Provider, where: str) -> str:
    if p.source == "unknown":
        return (
            f"'{top}' is not declared, and no distribution on PyPI is known to provide it: "
            f"if it is one, add it to {where} dependencies"
        )
    if p.source == "ambiguous":
        return (
            f"'{top}' is not declared: several distributions provide it "
            f"({', '.join(p.candidates)}); add the one you use to {where} dependencies"
        )
    return (
        f"'{top}' is not declared: it is provided by the distribution '{p.guess}'; "
        f"add it to {where} dependencies"
    )


@functools.lru_cache(maxsize=4096)
def _canon(name: str) -> str:
    return canonicalize_name(name)


def _short(exc: EnvlensError) -> str:
    text = exc.message.rstrip(".") + "."
    if exc.hint:
        text += " " + exc.hint.rstrip(".") + "."
    return text
